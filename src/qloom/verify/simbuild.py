"""Build (and cache) the Verilator simulator of a design with the stream bench; lint a design.

Two caches keep re-verification cheap on 2 cores:
- per design: `<cache>/<hash>/Vsim`, keyed by the sources, the bench and the flags (.mem
  files are read when the simulator starts, so new weights never force a rebuild);
- per machine: Verilator's runtime objects (verilated.o, verilated_threads.o), identical
  for every design built with the same flags, compiled once (~2/3 of a small design's
  build) under ~/.cache/qloom.
Builds run in a scratch directory without spaces (GNU make cannot build in one with
spaces) and only the finished executable is renamed into the cache, so concurrent runs
never see a half-built simulator and a failed build leaves nothing in the build folder.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from qloom import progress, tools
from qloom.errors import QloomError

TB_MAIN = Path(__file__).parent / "tb" / "tb_stream.cpp"
# unique X assignment + randomized initial state (the bench passes +verilator+rand+reset+2):
# state the reset does not clear shows up as mismatches instead of hiding behind zeros.
VERILATE_FLAGS = ("--cc", "--exe", "-O3", "--prefix", "Vtop", "-Wno-fatal", "--x-assign", "unique",
                  "--x-initial", "unique", "--no-timing")
# Verilator control file: the top's stream handshakes readable by name, so the bench's
# watchdog (tb/stream_watch.h) can say which stream stalled when a design hangs.
WATCH_VLT = ('`verilator_config\n'
             'public_flat_rd -module "{top}" -var "*_tvalid"\n'
             'public_flat_rd -module "{top}" -var "*_tready"\n')
_RUNTIME_SKIP = ("VM_PARALLEL_BUILDS",)  # Vtop_classes.mk settings that do not reach the runtime objects


def _headers(rtl_dir: Path) -> list[Path]:
    """Files a source may `include (found through -I rtl_dir); part of the cache key."""
    return sorted(p for ext in ("*.svh", "*.vh") for p in rtl_dir.glob(ext))


def design_key(v: tools.Verilator, rtl_dir: Path, top: str, sources: list[Path], bench: Path = TB_MAIN,
               flags: tuple[str, ...] = ()) -> str:
    h = hashlib.sha256()
    for part in (v.version, top, *VERILATE_FLAGS, *flags, *v.make_args(), WATCH_VLT):
        h.update(part.encode() + b"\0")
    bench_headers = sorted(Path(bench).resolve().parent.glob("*.h"))  # its #include "..." files
    for src in [*sources, *_headers(rtl_dir), bench, *bench_headers]:
        h.update(src.name.encode() + b"\0" + src.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def _run_logged(cmd: list[str], log: Path, what: str, **kw) -> None:
    with open(log, "ab") as fh:
        fh.write(("$ " + " ".join(cmd) + "\n").encode())
        fh.flush()
        try:
            res = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, **kw)
        except OSError as exc:  # the program itself cannot start
            fh.write(f"%Error: cannot run {cmd[0]}: {exc.strerror or exc}\n".encode())
            raise QloomError(f"{what} failed (cannot run {cmd[0]}: {exc.strerror or exc})") from None
    if res.returncode != 0:
        raise QloomError(f"{what} failed (exit {res.returncode})")


# ---------------------------------------------------------------- shared runtime objects


def _runtime_dir(v: tools.Verilator, work: Path, flags: tuple[str, ...] = ()) -> Path:
    """Cache slot for the runtime objects of this Verilator, these flags and this model config."""
    h = hashlib.sha256()
    for part in (v.version, str(v.root), *VERILATE_FLAGS, *flags, *v.make_args(), shutil.which("c++") or ""):
        h.update(part.encode() + b"\0")
    for line in (work / "Vtop_classes.mk").read_text().splitlines():
        if line.startswith("VM_") and not line.startswith(_RUNTIME_SKIP) or line.startswith("  verilated"):
            h.update(line.encode() + b"\n")
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "qloom" / "verilator-runtime"
    return base / h.hexdigest()[:16]


def _runtime_objects(work: Path) -> list[str]:
    return sorted(p.name for p in work.glob("verilated*.o"))


def _reuse_runtime(slot: Path, work: Path) -> bool:
    """Copy cached runtime objects in, newer than Vtop.mk (make rebuilds them otherwise)."""
    objs = sorted(slot.glob("verilated*.o")) if slot.is_dir() else []
    if not objs:
        return False
    now = time.time() + 1
    for obj in objs:
        for f in (obj, obj.with_suffix(".d")):
            if f.is_file():
                shutil.copy2(f, work / f.name)
                os.utime(work / f.name, (now, now))
    return True


def _store_runtime(slot: Path, work: Path) -> None:
    if slot.is_dir() or not _runtime_objects(work):
        return
    slot.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=slot.name + ".", dir=slot.parent))
    for name in _runtime_objects(work):
        for f in (work / name, (work / name).with_suffix(".d")):
            if f.is_file():
                shutil.copy2(f, tmp / f.name)
    try:
        os.replace(tmp, slot)
    except OSError:  # stored concurrently by another build
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------- build and lint


def _scratch_dir(key: str) -> Path:
    """A fresh build directory whose path has no whitespace: GNU make (verilated.mk) refuses to
    build in one that has, so a build folder like "my designs/b" is built here, not in place."""
    for base in (tempfile.gettempdir(), "/tmp"):
        if not any(c.isspace() for c in str(base)) and os.access(base, os.W_OK | os.X_OK):
            return Path(tempfile.mkdtemp(prefix=f"qloom-vsim-{key}.", dir=base))
    raise QloomError(f"no temporary folder without spaces to build the Verilator model in "
                     f"({tempfile.gettempdir()!r}): set TMPDIR to one")


_DESIGN_LINK = "design"  # names of the links to the design's and the bench's folders in the scratch directory
_BENCH_LINK = "bench"  # (the bench's own #include "..." files are found beside it through the link)


def _relative(src: Path, rtl_dir: Path) -> str:
    try:
        return str(Path(_DESIGN_LINK) / Path(src).relative_to(rtl_dir))
    except ValueError:  # a source outside the design folder keeps its own path
        return str(src)


def _first_error(log: Path) -> str:
    """The line of a tool log that says what went wrong (Verilator's %Error, make's ***)."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    for ln in lines:
        if ln.startswith("%Error") or "***" in ln or ": error:" in ln or ln.startswith("make: ***"):
            return ln.strip()
    return lines[-1].strip() if lines else ""


def build(rtl_dir: Path, top: str, sources: list[Path], *, cache_dir: Path | None = None,
          jobs: int = 2, bench: Path = TB_MAIN, flags: tuple[str, ...] = ()) -> tuple[Path, dict]:
    """Verilate `sources` with the stream bench (or another `bench` main file) and compile; reuse a cached build.

    `flags` are extra Verilator options (the driver co-simulation builds a shared library:
    -CFLAGS -fPIC -LDFLAGS -shared); they key both caches.

    The build runs in a scratch directory without spaces (`_scratch_dir`, with links to the
    design's and the bench's folders); only the finished executable and its log move into the
    cache. A failed build leaves the cache untouched and raises a QloomError naming the tool's
    first error line and the full log (kept in the scratch directory's `.failed` twin).
    Returns (executable, {"cached", "runtime_cached", "verilate_seconds", "compile_seconds",
    "build_seconds", "dir"}).
    """
    v = tools.verilator()
    cache = Path(cache_dir) if cache_dir else rtl_dir / "sim_build"
    key = design_key(v, rtl_dir, top, sources, bench, flags)
    final = cache / key
    info = {"cached": True, "runtime_cached": True, "verilate_seconds": 0.0, "compile_seconds": 0.0,
            "build_seconds": 0.0, "dir": str(final)}
    if (final / "Vsim").is_file():
        return final / "Vsim", info
    work = _scratch_dir(key)
    log = work / "build.log"
    # Verilator writes every path it read into Vtop.mk and *.d, which make reads: with cwd=work
    # and the design reached through a link, those paths are relative and free of spaces.
    (work / _DESIGN_LINK).symlink_to(rtl_dir, target_is_directory=True)
    (work / _BENCH_LINK).symlink_to(Path(bench).resolve().parent, target_is_directory=True)
    (work / "watch.vlt").write_text(WATCH_VLT.format(top=top))
    t0 = time.perf_counter()
    try:
        with progress.task("Verilator build of the simulator"):  # 10-20 s, no progress of its own
            _run_logged(v.command(*VERILATE_FLAGS, *flags, "--top-module", top, "-I" + _DESIGN_LINK, "--Mdir", ".",
                                  "-o", "Vsim", "watch.vlt", *(_relative(s, rtl_dir) for s in sources),
                                  f"{_BENCH_LINK}/{Path(bench).name}"),
                        log, "verilating", env=v.env(), cwd=work)
            t1 = time.perf_counter()
            slot = _runtime_dir(v, work, flags)
            info["runtime_cached"] = _reuse_runtime(slot, work)
            _run_logged(["make", "-f", "Vtop.mk", f"-j{jobs}", *v.make_args(), "Vsim"],
                        log, "compiling the C++ model", env=v.env(), cwd=work)
            _store_runtime(slot, work)
    except QloomError as exc:
        failed = work.with_name(f"qloom-vsim-{key}.failed")
        shutil.rmtree(failed, ignore_errors=True)
        os.replace(work, failed)  # keep the log where the message says (outside the build folder)
        raise QloomError(f"Verilator build of {rtl_dir}: {exc}: {_first_error(failed / 'build.log')} "
                         f"(full log: {failed / 'build.log'})") from None
    t2 = time.perf_counter()
    try:
        cache.mkdir(parents=True, exist_ok=True)
        staged = Path(tempfile.mkdtemp(prefix=f"{key}.", dir=cache))
        for name in ("Vsim", "build.log"):
            shutil.copy2(work / name, staged / name)
        try:
            os.replace(staged, final)
        except OSError:  # another process finished the same build first
            shutil.rmtree(staged, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    info.update(cached=False, verilate_seconds=t1 - t0, compile_seconds=t2 - t1, build_seconds=t2 - t0)
    return final / "Vsim", info


def lint(rtl_dir: Path, top: str, sources: list[Path]) -> list[str]:
    """`verilator --lint-only -Wall`; returns the warning lines (syntax errors raise)."""
    v = tools.verilator()
    cmd = v.command("--lint-only", "-Wall", "-Wno-fatal", "--top-module", top, "-I" + str(rtl_dir), *map(str, sources))
    res = subprocess.run(cmd, capture_output=True, text=True, env=v.env(), cwd=rtl_dir)
    if res.returncode != 0:
        raise QloomError(f"verilator lint of {rtl_dir} failed:\n{res.stderr[-3000:]}")
    return [ln for ln in res.stderr.splitlines() if ln.startswith("%Warning")]
