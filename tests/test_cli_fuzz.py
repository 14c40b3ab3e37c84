"""Property: whatever flags and whatever damaged artifact, the CLI answers with an exit code,
never a traceback, and a failing command leaves a complete build folder as it was.

Documented exit codes (README, `qloom verify --help`): 0 success; 1 `verify` found a mismatch
or a hang; 2 a user or tool error (one line on stderr). The commands run in-process through
`qloom.cli.main`; any exception other than argparse's SystemExit(2) fails the test.

One complete build folder (a tiny conv+dense model built to 'rtl' and verified at both levels,
so its simulator is compiled once) and one tiny training folder are made per module; every
example works on a fresh copy, optionally damaged (truncated, garbage, UTF-16, deleted, a
folder in its place, empty), and checks:
- exit 2: the folder is byte-for-byte what it was before the command;
- `verify` exit 0/1: only verify.json, report.html (and the simulator cache) changed;
- `build` exit 0: build.json says complete and every artifact it records is there.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from qloom import artifacts as A  # noqa: E402

from cli_helpers import run_cli, small_model, snapshot  # noqa: E402

CORRUPTIBLE = [A.BUILD_JSON, A.IR_JSON, A.FOLDED_JSON, A.REPORT_JSON, A.VERIFY_JSON, "rtl/design.json", "MEM",
               A.FRONTEND_ONNX]
DAMAGE = ["truncate", "garbage", "utf16", "delete", "folder", "empty"]
TRAIN_CORRUPTIBLE = ["checkpoint.pt", "metrics.json"]
TINY_TRAIN = ["--epochs", "1", "--limit-train", "64", "--limit-eval", "32", "--batch-size", "32", "--quiet"]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    model = small_model(root / "small.onnx")
    build = root / "build"
    rc, _, err = run_cli(["build", model, "--out", build, "--stop-after", "rtl"])
    assert rc == 0, err
    rc, _, err = run_cli(["verify", build, "--level", "ir", "--level", "rtl", "--dataset", "random", "--frames", "6"])
    assert rc == 0, err
    trained = root / "train"
    rc, _, err = run_cli(["train", "--model", "tfc-w1a1", "--dataset", "digits", "--out", trained, *TINY_TRAIN])
    assert rc == 0, err
    files = root / "inputs"
    files.mkdir()
    (files / "garbage.bin").write_bytes(bytes(range(256)) * 4)
    (files / "folding16.json").write_bytes('{"layers": {}}'.encode("utf-16"))
    (files / "afolder").mkdir()
    return {"model": model, "build": build, "train": trained, "files": files}


def _damage(path: Path, how: str, data: st.DataObject) -> None:
    if not path.exists():
        return
    if path.is_dir():
        shutil.rmtree(path)
        path.write_bytes(b"")
        return
    raw = path.read_bytes()
    path.unlink()
    if how == "truncate":
        path.write_bytes(raw[: data.draw(st.integers(0, max(0, len(raw) - 1)), label="keep bytes")])
    elif how == "garbage":
        path.write_bytes(data.draw(st.binary(min_size=1, max_size=64), label="garbage"))
    elif how == "utf16":
        path.write_bytes(raw.decode("latin-1").encode("utf-16"))
    elif how == "folder":
        path.mkdir()
    elif how == "empty":
        path.write_bytes(b"")
    # "delete": already gone


def _target(folder: Path, name: str) -> Path:
    if name == "MEM":
        return sorted((folder / A.RTL_DIR).glob("*.mem"))[0]
    return folder / name


def _maybe(data, label, values):
    return data.draw(st.sampled_from([None, *values]), label=label)


def _verify_argv(data, d: Path, files: Path) -> list:
    argv = ["verify", d, "--quiet"]  # (progress lines of a slow step would precede the one-line error)
    levels = st.sampled_from(["ir", "ir", "rtl", "rtl", "rtl", "gates"])
    for level in data.draw(st.lists(levels, max_size=2), label="levels"):
        argv += ["--level", level]
    for flag, values in (("--dataset", ["digits", "bogus", f"idx:{files}", f"idx:{files / 'nope'}"]),
                         ("--frames", ["1", "5", "12", "0", "-3", "10000000000", "x"]),
                         ("--seed", ["0", "7", "-1", str(2**40)])):
        v = _maybe(data, flag, values)
        if v is not None:
            argv += [flag, v]
    if "--dataset" not in argv:
        argv += ["--dataset", "random"]  # mnist's default 1000 frames would not fit the 6x6 model anyway
    if "--frames" not in argv:
        argv += ["--frames", "4"]
    return argv


# the folding choice: one family of flags at a time mostly, sometimes two that conflict
FOLD_FLAGS = [(), (), ("--target-fps",), ("--board",), ("--folding",), ("--clock-mhz",),
              ("--target-fps", "--board"), ("--board", "--clock-mhz"), ("--folding", "--target-fps")]
FOLD_VALUES = {"--target-fps": ["1000", "1e5", "1e12", "0", "-1", "nan", "inf"],
               "--clock-mhz": ["100", "250", "0", "-5", "nan"],
               "--board": ["pynq-z2", "zybo-z7-20", "xc7z020-GARBAGE", "nope"]}


def _build_argv(data, d: Path, model: Path, files: Path) -> list:
    src = data.draw(st.sampled_from([model] * 6 + [files / "garbage.bin", files / "afolder", files / "none.onnx"]),
                    label="model")
    out = data.draw(st.sampled_from([d] * 8 + [d / A.RTL_DIR, ""]), label="out")
    argv = ["build", src, "--out", out, "--quiet",
            "--stop-after", data.draw(st.sampled_from(["frontend", "streamline", "fold", "rtl"]), label="stop")]
    folding = [files / "garbage.bin", files / "folding16.json", files / "afolder", files / "none.json"]
    for flag in data.draw(st.sampled_from(FOLD_FLAGS), label="fold flags"):
        argv += [flag, data.draw(st.sampled_from(folding if flag == "--folding" else FOLD_VALUES[flag]), label=flag)]
    for flag in ("--resume", "--force"):
        if data.draw(st.booleans(), label=flag):
            argv.append(flag)
    return argv


def _train_argv(data, t: Path) -> list:
    argv = ["train", "--model", data.draw(st.sampled_from(["tfc-w1a1", "tfc-w1a1", "tfc-w3a1", "nope"]), label="zoo"),
            "--dataset", data.draw(st.sampled_from(["digits", "digits", "bogus", "idx:/nonexistent"]), label="data"),
            "--out", t, "--quiet", "--limit-eval", "32", "--limit-train", "64", "--batch-size", "32"]
    for flag, values in (("--epochs", ["1", "0", "-1"]), ("--lr", ["0.01", "inf", "nan", "-1", "0"]),
                         ("--seed", ["0", "-1", str(2**70)]), ("--batch-size", ["0", "16"]),
                         ("--limit-train", ["0", "-5"])):
        v = _maybe(data, flag, values)
        if v is not None:
            argv += [flag, v]
    if "--epochs" not in argv:
        argv += ["--epochs", "1"]
    if data.draw(st.booleans(), label="--resume"):
        argv.append("--resume")
    return argv


def _check_exit(rc: int, out: str, err: str, argv: list) -> None:
    assert "Traceback" not in err and "Traceback" not in out, (argv, err)
    assert rc in (0, 1, 2), (argv, rc, err)
    if rc == 1:
        assert argv[0] == "verify", (argv, out, err)  # only verify exits 1 (a mismatch or a hang)
    if rc == 2:
        assert err.strip(), (argv, out)  # an error always says what went wrong
        if not err.startswith("usage:"):  # (argparse prints its usage line first)
            assert len(err.strip().splitlines()) == 1, (argv, err)  # in one line


def _complete(d: Path) -> None:
    state = json.loads((d / A.BUILD_JSON).read_text())
    assert state["complete"] is True
    from qloom.pipeline import OUTPUTS

    for stage in state["stages"]:
        for name in OUTPUTS[stage]:
            assert (d / name).exists(), (stage, name)


def _changed(before: dict, after: dict) -> set:
    return {k for k in set(before) | set(after) if before.get(k) != after.get(k)}


def _example(pristine, data) -> None:
    work = Path(tempfile.mkdtemp(prefix="qloom-fuzz "))  # a space in every path, on purpose
    cwd = os.getcwd()
    os.chdir(work)  # a command that wrongly writes to "." writes here, not into the repository
    try:
        d, t = work / "build", work / "train"
        shutil.copytree(pristine["build"], d, symlinks=True)
        command = data.draw(st.sampled_from(["verify"] * 3 + ["build"] * 3 + ["train"]), label="command")
        if command == "train":
            shutil.copytree(pristine["train"], t)
            victim = _maybe(data, "damage train", TRAIN_CORRUPTIBLE)
            if victim:
                _damage(t / victim, data.draw(st.sampled_from(DAMAGE), label="how"), data)
        else:
            victim = data.draw(st.sampled_from([None, None, None, *CORRUPTIBLE]), label="damage")
            if victim:
                _damage(_target(d, victim), data.draw(st.sampled_from(DAMAGE), label="how"), data)
        before, before_train = snapshot(d), snapshot(t) if t.exists() else {}
        if command == "verify":
            argv = _verify_argv(data, d, pristine["files"])
        elif command == "build":
            argv = _build_argv(data, d, pristine["model"], pristine["files"])
        else:
            argv = _train_argv(data, t)
        rc, out, err = run_cli(argv)
        _check_exit(rc, out, err, argv)
        hypothesis.event(f"{command} exit {rc}" + (f" ({err.split('error: ', 1)[-1][:50]})" if rc == 2 else ""))
        after = snapshot(d)
        if command == "train" and rc == 2:  # refused before the run started: the training folder as it was
            after_train = snapshot(t) if t.exists() else {}
            assert after_train == before_train, (argv, err, _changed(before_train, after_train))
        if command == "train" or rc == 2:
            assert after == before, (argv, err, _changed(before, after))
        elif command == "verify":
            changed = _changed(before, after)
            ok = (A.VERIFY_JSON, "report.html")  # and the page that shows it
            assert all(k in ok or k.startswith(f"{A.RTL_DIR}/sim_build") for k in changed), (argv, changed)
            if victim is None:  # an intact build verifies at every seed and frame count
                assert rc == 0, (argv, out, err)
                _complete(d)
        elif command == "build" and rc == 0:
            out_dir = Path(argv[3]) if argv[3] else Path(".")
            _complete(out_dir)
    finally:
        os.chdir(cwd)
        shutil.rmtree(work, ignore_errors=True)


COMMON = dict(deadline=None, database=None, print_blob=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                     HealthCheck.data_too_large])


@pytest.mark.hw
@settings(max_examples=100, **COMMON)
@given(data=st.data())
def test_cli_never_tracebacks_and_never_damages_a_build(pristine, data):
    _example(pristine, data)


@pytest.mark.hw
@pytest.mark.slow
@settings(max_examples=600, **COMMON)
@given(data=st.data())
def test_cli_never_tracebacks_and_never_damages_a_build_many(pristine, data):
    _example(pristine, data)


def test_failing_forced_build_leaves_a_foreign_folder_as_it_was(tmp_path):
    """Found by the fuzz: a broken model built with --force into a foreign folder left .qloom.lock."""
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me\n")
    model = tmp_path / "broken.onnx"
    model.write_bytes(bytes(range(256)))
    before = snapshot(mine)
    rc, _, err = run_cli(["build", model, "--out", mine, "--force", "--stop-after", "frontend"])
    assert rc == 2 and "Traceback" not in err
    assert snapshot(mine) == before
