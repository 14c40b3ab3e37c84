"""Progress of the long steps (stages, Verilator builds, simulations, Yosys, training), on stderr.

One helper for every caller, so every command behaves the same:
- on a terminal, one status line rewritten in place about twice a second
  (`Yosys synth_xilinx: 37 s`, `verify ir (1000 frames): 12 s`) and erased when the step ends;
- elsewhere (CI logs, pipes) no carriage returns: a plain line every `INTERVAL` seconds
  while a step runs, and a closing `...: done in N s` line only for a step that printed one
  and succeeded; steps shorter than `INTERVAL` print nothing;
- under `silenced()` (the commands' `--quiet`) nothing at all. Errors are not progress: they
  are raised as usual and printed by the command.

Steps nest (a build stage runs Yosys): only the innermost running step reports. A step whose
amount is unknown (a subprocess) reports its elapsed time; `advance()` adds a count
(`3/10 epochs`). Reports come from a daemon thread, so a blocking call needs no hooks.
A subprocess that knows its count (the Verilator benches) writes `qloom-progress N` lines to
stderr; `run()` reads them while it runs and keeps them out of the stderr it returns.
"""

from __future__ import annotations

import contextlib
import contextvars
import subprocess
import sys
import threading
import time

INTERVAL = 10.0  # seconds between lines when stderr is not a terminal
TTY_INTERVAL = 0.5  # seconds between redraws of the status line on a terminal

_quiet = contextvars.ContextVar("qloom_progress_quiet", default=False)
_lock = threading.Lock()
_stack: list["Task"] = []  # running steps, innermost last


@contextlib.contextmanager
def silenced(quiet: bool = True):
    """No progress inside this block (when `quiet`); the CLI's --quiet."""
    token = _quiet.set(bool(quiet) or _quiet.get())
    try:
        yield
    finally:
        _quiet.reset(token)


def enabled() -> bool:
    return not _quiet.get()


def is_tty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class Task:
    """A running step; use through `task()`."""

    def __init__(self, label: str, total: int | None, unit: str, stream):
        self.label, self.total, self.unit, self.stream = label, total, unit, stream
        self.done = 0
        self.lines = 0  # plain lines printed (non-terminal)
        self.tty = is_tty(stream)
        self.t0 = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"progress {label}", daemon=True)

    def advance(self, n: int = 1) -> None:
        self.done += n

    def status(self) -> str:
        seconds = time.monotonic() - self.t0
        count = ""
        if self.total:
            count = f" {self.done}/{self.total} {self.unit}".rstrip()
        elif self.done:
            count = f" {self.done} {self.unit}".rstrip()
        return f"{self.label}:{count} {_clock(seconds)}"

    def _run(self) -> None:
        wait = TTY_INTERVAL if self.tty else INTERVAL
        while not self._stop.wait(wait):
            with _lock:
                if _stack and _stack[-1] is self:
                    self._write(f"\r{self.status()}\x1b[K" if self.tty else self.status() + "\n")
                    self.lines += not self.tty

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a closed or broken stderr must not break the step
            pass

    def _finish(self, ok: bool) -> None:
        self._stop.set()
        self._thread.join()
        with _lock:
            if self.tty:
                self._write("\r\x1b[K")
            elif self.lines and ok:  # a failed step: its error follows, not "done"
                self._write(f"{self.label}: done in {_clock(time.monotonic() - self.t0)}\n")


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s} s" if s < 60 else f"{s // 60} min {s % 60:02d} s"


@contextlib.contextmanager
def task(label: str, total: int | None = None, unit: str = "", stream=None):
    """Report the step `label` while the block runs (see the module's docstring)."""
    if not enabled():
        yield Task(label, total, unit, None)  # counts still work; nothing is started or printed
        return
    t = Task(label, total, unit, stream if stream is not None else sys.stderr)
    with _lock:
        _stack.append(t)
    t._thread.start()
    ok = False
    try:
        yield t
        ok = True
    finally:
        with _lock:
            _stack.remove(t)
        t._finish(ok)


PROGRESS_PREFIX = "qloom-progress "  # a child's stderr line: "qloom-progress N", N done so far


def run(cmd: list[str], t: Task, *, timeout: float | None = None, **popen) -> subprocess.CompletedProcess:
    """`subprocess.run(cmd, capture_output=True, text=True, timeout=...)` whose child reports its
    count on stderr (`PROGRESS_PREFIX` lines): each sets `t.done`; the returned stderr holds
    every other line, so the caller parses the output as before."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)
    out: list[str] = []
    err: list[str] = []

    def pump_err() -> None:
        for line in proc.stderr:
            if line.startswith(PROGRESS_PREFIX) and line[len(PROGRESS_PREFIX):].strip().isdigit():
                t.done = int(line[len(PROGRESS_PREFIX):])
            else:
                err.append(line)

    readers = [threading.Thread(target=lambda: out.append(proc.stdout.read()), daemon=True),
               threading.Thread(target=pump_err, daemon=True)]
    for r in readers:
        r.start()
    try:
        proc.wait(timeout=timeout)
    except BaseException:  # a timeout or an interrupt: the child must not outlive the call
        proc.kill()
        proc.wait()
        raise
    finally:
        for r in readers:
            r.join()
        proc.stdout.close()
        proc.stderr.close()
    return subprocess.CompletedProcess(cmd, proc.returncode, "".join(out), "".join(err))


def bar(iterable, *, desc: str, total: int | None = None, unit: str = "it", show: bool = True, **kw):
    """An iterable with progress, by this module's rules: tqdm on a terminal; elsewhere a `task`
    (a line every `INTERVAL` seconds, no carriage returns); nothing under `silenced()` or with
    `show=False`. Has tqdm's `set_postfix` and `close`."""
    total = total if total is not None else (len(iterable) if hasattr(iterable, "__len__") else None)
    if show and enabled() and is_tty(sys.stderr):
        from tqdm import tqdm

        return tqdm(iterable, desc=desc, total=total, unit=unit, file=sys.stderr, **kw)
    return _PlainBar(iterable, desc, total, unit, show)


class _PlainBar:
    """`bar` off a terminal: counts the items into a `task`."""

    def __init__(self, iterable, desc: str, total: int | None, unit: str, on: bool):
        self.iterable, self.desc, self.total, self.unit, self.on = iterable, desc, total, unit, on

    def __iter__(self):
        with silenced(not self.on), task(self.desc, total=self.total, unit=self.unit) as t:
            for item in self.iterable:
                yield item
                t.advance()

    def set_postfix(self, **kw) -> None:
        pass  # a CI line every INTERVAL seconds carries the count; the caller's epoch line the loss

    def close(self) -> None:
        pass
