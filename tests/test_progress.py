"""Progress on the long steps, and --quiet (issue 12). Timer-based: `progress.INTERVAL` is shrunk
and the long steps are stood in for by sleeps, so no Verilator, Yosys or training runs here."""

import io
import subprocess
import time

import pytest

from qloom import pipeline, progress, synth
from qloom.errors import QloomError
from qloom.verify import simbuild

from cli_helpers import run_cli, small_model


class _Tty(io.StringIO):
    def isatty(self):
        return True


def _until(condition, timeout=20.0):
    """Sleep until `condition()` holds: a loaded CI machine may starve the report thread for a
    while, so the tests wait for what they check instead of a fixed time."""
    end = time.monotonic() + timeout
    while not condition() and time.monotonic() < end:
        time.sleep(0.01)


@pytest.fixture
def fast(monkeypatch):
    monkeypatch.setattr(progress, "INTERVAL", 0.05)
    monkeypatch.setattr(progress, "TTY_INTERVAL", 0.05)


def test_off_a_terminal_a_few_plain_lines(fast):
    buf = io.StringIO()
    with progress.task("outer", stream=buf):
        _until(lambda: buf.getvalue().count("outer:") >= 2)
        with progress.task("inner", total=4, unit="frames", stream=buf) as t:
            for i in range(4):
                _until(lambda: buf.getvalue().count(f"inner: {i}/4") >= 1)
                t.advance()
    text = buf.getvalue()
    assert "\r" not in text and "\x1b" not in text
    lines = text.splitlines()
    assert lines[-1].startswith("outer: done in")
    end = next(i for i, ln in enumerate(lines) if ln.startswith("inner: done in"))
    inner = [ln for ln in lines if ln.startswith("inner:") and "done" not in ln]
    assert inner and all("/4 frames" in ln for ln in inner)
    # while the inner step runs, only it reports (after it ends, the outer step may report again
    # before it ends itself: on a loaded machine its timer can fire in between)
    first = lines.index(inner[0])
    assert not any(ln.startswith("outer:") for ln in lines[first:end])


def test_short_steps_print_nothing_off_a_terminal():
    buf = io.StringIO()
    with progress.task("quick", stream=buf):
        time.sleep(0.01)
    assert buf.getvalue() == ""  # INTERVAL is 10 s: no line, no closing line


def test_on_a_terminal_one_line_redrawn_and_erased(fast):
    buf = _Tty()
    with progress.task("yosys", stream=buf):
        _until(lambda: buf.getvalue().count("\ryosys: ") >= 2)
    text = buf.getvalue()
    assert "\n" not in text and text.count("\ryosys: ") >= 2 and text.endswith("\r\x1b[K")


def test_silenced_prints_nothing_and_errors_still_raise(fast):
    buf = io.StringIO()
    with pytest.raises(ValueError), progress.silenced(), progress.task("x", stream=buf) as t:
        time.sleep(0.2)
        t.advance()
        raise ValueError("the step failed")
    assert buf.getvalue() == ""
    with progress.silenced(False):
        assert progress.enabled()


def test_bar_off_a_terminal_has_no_carriage_returns(fast, capsys):
    for _ in progress.bar(range(3), desc="epoch 1/1", unit="steps"):
        time.sleep(0.08)
    err = capsys.readouterr().err
    assert "\r" not in err and "epoch 1/1:" in err and "/3 steps" in err
    for _ in progress.bar(range(3), desc="epoch 1/1", show=False):
        time.sleep(0.08)
    assert capsys.readouterr().err == ""


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return small_model(tmp_path_factory.mktemp("model") / "m.onnx")


def _slow_fold(monkeypatch):
    fold = pipeline.RUNNERS["fold"]

    def slow(cfg, work):
        time.sleep(0.3)
        return fold(cfg, work)

    monkeypatch.setitem(pipeline.RUNNERS, "fold", slow)


def test_build_shows_a_long_stage_and_quiet_is_silent(model, tmp_path, monkeypatch, fast):
    _slow_fold(monkeypatch)
    rc, out, err = run_cli(["build", model, "--out", tmp_path / "a", "--stop-after", "fold"])
    assert rc == 0
    assert "[fold] running: 0 s" in err and "[frontend] done in" in out
    rc, out, err = run_cli(["build", model, "--out", tmp_path / "b", "--stop-after", "fold", "--quiet"])
    assert rc == 0 and err == ""
    assert out.splitlines() == [f"build of {model} complete up to stage 'fold' in {tmp_path / 'b'}"]
    rc, out, err = run_cli(["build", model, "--out", tmp_path / "b", "--quiet", "--folding", tmp_path / "no.json"])
    assert rc == 2 and "no.json" in err  # --quiet never hides an error


def test_verify_quiet_is_silent(model, tmp_path, monkeypatch, fast):
    assert run_cli(["build", model, "--out", tmp_path / "a", "--stop-after", "fold", "--quiet"])[0] == 0
    from qloom.verify import ir

    compare = ir.compare

    def slow(*a, **kw):
        time.sleep(0.3)
        return compare(*a, **kw)

    monkeypatch.setattr(ir, "compare", slow)
    rc, out, err = run_cli(["verify", tmp_path / "a", "--dataset", "random", "--frames", "8"])
    assert rc == 0 and "verify ir (8 frames): 0 s" in err
    rc, out, err = run_cli(["verify", tmp_path / "a", "--dataset", "random", "--frames", "8", "--quiet"])
    assert rc == 0 and err == "" and out.startswith("[ir] 8 frames, 0 mismatches")


def test_yosys_reports_elapsed_time(model, tmp_path, monkeypatch, fast, capsys):
    assert run_cli(["build", model, "--out", tmp_path / "a", "--stop-after", "rtl", "--quiet"])[0] == 0

    def slow_yosys(cmd, **kw):
        time.sleep(0.3)
        return subprocess.CompletedProcess(cmd, 1, "", "stand-in yosys failed")

    monkeypatch.setattr(synth.tools, "yosys_version", lambda: "Yosys (stand-in)")
    monkeypatch.setattr(synth.subprocess, "run", slow_yosys)
    with pytest.raises(QloomError, match="yosys failed"):
        synth.synthesize(tmp_path / "a" / "rtl")
    err = capsys.readouterr().err
    assert "Yosys synth_xilinx: 0 s" in err and "Yosys synth_xilinx: done in" in err  # (the run ended; then the check)


def test_verilator_build_reports_elapsed_time(model, tmp_path, monkeypatch, fast, capsys):
    assert run_cli(["build", model, "--out", tmp_path / "a", "--stop-after", "rtl", "--quiet"])[0] == 0

    def slow_make(cmd, log, what, **kw):
        time.sleep(0.3)
        raise QloomError(f"{what} failed (stand-in)")

    monkeypatch.setattr(simbuild, "_run_logged", slow_make)
    from qloom.verify.rtl import build_simulator

    with pytest.raises(QloomError, match="stand-in"):
        build_simulator(tmp_path / "a" / "rtl", cache_dir=tmp_path / "cache")
    err = capsys.readouterr().err
    assert "Verilator build of the simulator: 0 s" in err and "done in" not in err  # it failed: its error follows


def test_demo_quiet_passes_down(tmp_path, monkeypatch, fast):
    """The demo's steps (stood in for here) see --quiet: no progress, no step lines."""
    from qloom.cli import demo

    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "model.onnx").write_bytes(b"")

    def fake_build(cfg, log=print):
        with progress.task("[synth] running"):
            time.sleep(0.2)
        log("[synth] done in 0.20 s")

    def fake_verify(build_dir, levels, **options):
        print(f"[{levels[0]}] OK")
        return 0

    monkeypatch.setattr(demo, "build", fake_build)
    monkeypatch.setattr(demo, "verify", fake_verify)
    monkeypatch.setattr(demo, "_summary", lambda build_dir: print("== summary"))
    rc, out, err = run_cli(["demo", "--out", tmp_path, "--skip-train"])
    assert rc == 0 and "[synth] running: 0 s" in err and "== 2/3 build" in out and "[synth] done" in out
    rc, out, err = run_cli(["demo", "--out", tmp_path, "--skip-train", "--quiet"])
    assert rc == 0 and err == ""
    assert out.splitlines() == ["[ir] OK", "[rtl] OK", "[driver] OK", "== summary"]


def test_ir_reference_counts_frames(model, monkeypatch, fast, capsys):
    import numpy as np

    from qloom.verify import reference

    run = reference.execute_onnx

    def slow(*a, **kw):
        time.sleep(0.06)
        return run(*a, **kw)

    monkeypatch.setattr(reference, "execute_onnx", slow)
    out = reference.Reference(model).run(np.zeros((8, 1, 6, 6), dtype=np.float32), batch=2)
    assert len(next(iter(out.values()))) == 8
    err = capsys.readouterr().err
    assert "QONNX reference: " in err and "/8 frames" in err and err.endswith("QONNX reference: done in 0 s\n")


def test_quiet_commands_write_no_stderr_as_processes(model, tmp_path):
    """In a real process too (no library warning at import, no progress): stderr stays empty."""
    import sys

    def qloom(*argv):
        return subprocess.run([sys.executable, "-m", "qloom.cli", *map(str, argv)], capture_output=True, text=True,
                              cwd=tmp_path, timeout=300)

    res = qloom("build", model, "--out", tmp_path / "b", "--stop-after", "fold", "--quiet")
    assert res.returncode == 0 and res.stderr == "" and "complete" in res.stdout
    res = qloom("verify", tmp_path / "b", "--dataset", "random", "--frames", "8", "--quiet")
    assert res.returncode == 0 and res.stderr == "" and "[ir] 8 frames" in res.stdout


_CHILD = """
import pathlib, sys, time
print("result line")
sys.stderr.write("%Warning: kept\\n")
sys.stderr.write("qloom-progress 3\\n")
sys.stderr.flush()
go = pathlib.Path(sys.argv[1])
while not go.exists():  # the parent looks at the count while this child still runs
    time.sleep(0.01)
sys.stderr.write("qloom-progress 7\\nqloom-progress nonsense\\n")
sys.exit(4)
"""


def test_run_counts_a_child_s_progress_lines_and_keeps_the_rest(tmp_path):
    """A child's `qloom-progress N` lines set the count while it runs; every other line (and its
    exit code) comes back as from subprocess.run, so the callers' result parsing is unchanged."""
    import sys
    import threading

    go = tmp_path / "go"
    got = {}
    with progress.task("child", total=10, unit="frames", stream=io.StringIO()) as t:
        runner = threading.Thread(target=lambda: got.update(res=progress.run(
            [sys.executable, "-c", _CHILD, str(go)], t, timeout=120)))
        runner.start()
        _until(lambda: t.done == 3, timeout=60)
        assert t.done == 3 and runner.is_alive()
        go.touch()
        runner.join(120)
    res = got["res"]
    assert t.done == 7 and res.returncode == 4 and res.stdout == "result line\n"
    assert res.stderr == "%Warning: kept\nqloom-progress nonsense\n"  # a malformed line is not swallowed


def test_run_timeout_kills_the_child():
    import sys

    with progress.task("child", stream=io.StringIO()) as t, pytest.raises(subprocess.TimeoutExpired):
        progress.run([sys.executable, "-c", "import time\nwhile True: time.sleep(1)"], t, timeout=0.5)
