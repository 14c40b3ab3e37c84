"""A build folder is never destroyed and never looks complete when it is not (issue 9, part 2).

Each test reproduces a defect of the earlier `qloom build`: deleting artifacts in any folder,
a failing build clearing the previous complete one, `--resume` ignoring changed options and
models, two builds in one folder, damaged artifacts giving tracebacks. Builds stop at `fold`
(or `rtl` once) so the file runs in seconds.
"""

import fcntl
import hashlib
import json
import shutil

import pytest

from qloom import artifacts as A
from qloom import pipeline
from qloom.cli import main
from qloom.errors import QloomError

from qnn_factory import LayerSpec, NetSpec, calibrate_and_export

# the build folder's bookkeeping names, spelled out so these tests also run (and fail) on older code
LOCK, STAGING, VERIFY_STALE_JSON = ".qloom.lock", ".qloom-staging", "verify.stale.json"


def _spec(seed: int, out: int = 8) -> NetSpec:
    return NetSpec(in_shape=(1, 6, 6), in_bits=4, in_signed=False, seed=seed, layers=[
        LayerSpec(kind="conv", out=4, wbits=2, abits=2, asigned=False, narrow=False, per_channel=True,
                  bn=True, bias=False, kernel=3, pool=True),
        LayerSpec(kind="dense", out=out, wbits=1, abits=1, asigned=True, narrow=False, per_channel=False,
                  bn=True, bias=True)])


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Two different small QONNX models: 'a' and 'b'."""
    d = tmp_path_factory.mktemp("models")
    calibrate_and_export(_spec(11), d / "a.onnx")
    calibrate_and_export(_spec(12, out=6), d / "b.onnx")
    return d


@pytest.fixture(scope="module")
def good_build(models, tmp_path_factory):
    """A complete build of model 'a' through fold, verified at the IR level (has verify.json)."""
    out = tmp_path_factory.mktemp("good") / "build"
    assert main(["build", str(models / "a.onnx"), "--out", str(out), "--stop-after", "fold"]) == 0
    assert main(["verify", str(out), "--dataset", "random", "--frames", "20"]) == 0
    return out


@pytest.fixture
def good(good_build, tmp_path):
    """A private copy of the complete build."""
    out = tmp_path / "good"
    shutil.copytree(good_build, out)
    return out


def snapshot(folder):
    """relative path -> sha256 of every file."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def one_line_error(capsys, *needles):
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err
    return err


def state(out):
    return json.loads((out / A.BUILD_JSON).read_text())


# --- 1. only qloom build folders are built into -------------------------------------------


def test_a_foreign_folder_is_refused_and_untouched(models, tmp_path, capsys):
    mine = tmp_path / "mine"
    (mine / "rtl").mkdir(parents=True)
    (mine / "rtl" / "my_design.v").write_text("module m; endmodule\n")
    (mine / "report.json").write_text('{"mine": true}\n')
    (mine / "notes.txt").write_text("keep me\n")
    before = snapshot(mine)
    assert main(["build", str(models / "a.onnx"), "--out", str(mine), "--stop-after", "fold"]) == 2
    one_line_error(capsys, "not a qloom build folder", "--force")
    assert snapshot(mine) == before and not (mine / LOCK).exists()


def test_force_builds_into_a_foreign_folder_and_keeps_other_files(models, tmp_path, capsys):
    mine = tmp_path / "mine"
    (mine / "rtl").mkdir(parents=True)
    (mine / "rtl" / "my_design.v").write_text("module m; endmodule\n")
    (mine / "notes.txt").write_text("keep me\n")
    assert main(["build", str(models / "a.onnx"), "--out", str(mine), "--stop-after", "fold", "--force"]) == 0
    assert (mine / "notes.txt").read_text() == "keep me\n" and (mine / "rtl" / "my_design.v").exists()
    assert state(mine)["complete"]


def test_empty_out_is_refused(models, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "report.json").write_text("{}\n")
    before = snapshot(tmp_path)
    assert main(["build", str(models / "a.onnx"), "--out", "", "--stop-after", "fold"]) == 2
    one_line_error(capsys, "--out is empty")
    assert snapshot(tmp_path) == before


# --- 2. a failing build leaves the previous build as it was --------------------------------


def _bad_inputs(models, tmp):
    utf16 = tmp / "utf16.json"
    utf16.write_text('{"layers": {}}', encoding="utf-16")
    binary = tmp / "binary.json"
    binary.write_bytes(bytes(range(256)))
    bad_pe = tmp / "bad_pe.json"
    bad_pe.write_text(json.dumps({"layers": {"mvu0": {"pe": 3}}}))  # only found once the IR exists
    broken = tmp / "broken.onnx"
    broken.write_bytes(b"not an onnx file")  # only found by the frontend stage
    a = str(models / "a.onnx")
    return {
        "missing model": (["missing.onnx"], "does not exist"),
        "broken model": ([str(broken)], "broken.onnx"),
        "folder as model": ([str(models)], "is a folder"),
        "bad pe": ([a, "--folding", str(bad_pe)], "mvu0"),
        "utf-16 folding": ([a, "--folding", str(utf16)], "UTF-8"),
        "binary folding": ([a, "--folding", str(binary)], "UTF-8"),
        "missing folding": ([a, "--folding", str(tmp / "nope.json")], "cannot read folding file"),
        "fps -1": ([a, "--target-fps", "-1"], "--target-fps"),
        "fps 0": ([a, "--target-fps", "0"], "--target-fps"),
        "fps nan": ([a, "--target-fps", "nan"], "--target-fps"),
        "fps inf": ([a, "--target-fps", "inf"], "--target-fps"),
        "clock 0": ([a, "--clock-mhz", "0"], "--clock-mhz"),
        "clock -5": ([a, "--clock-mhz", "-5"], "--clock-mhz"),
        "clock nan": ([a, "--clock-mhz", "nan"], "--clock-mhz"),
        "garbage part": ([a, "--board", "xc7z020-GARBAGE"], "xc7z020-GARBAGE"),
        "unknown board": ([a, "--board", "pynq-z9"], "pynq-z9"),
    }


BAD_CASES = ["missing model", "broken model", "folder as model", "bad pe", "utf-16 folding", "binary folding", "missing folding",
             "fps -1", "fps 0", "fps nan", "fps inf", "clock 0", "clock -5", "clock nan", "garbage part",
             "unknown board"]


@pytest.mark.parametrize("case", BAD_CASES)
def test_a_failing_build_leaves_the_previous_build_unchanged(case, models, good, tmp_path, capsys):
    cases = _bad_inputs(models, tmp_path)
    assert set(cases) == set(BAD_CASES)
    args, needle = cases[case]
    before = snapshot(good)
    for resume in ([], ["--resume"]):
        assert main(["build", *args, "--out", str(good), "--stop-after", "fold", *resume]) == 2
        one_line_error(capsys, needle)
        assert snapshot(good) == before, case
    assert state(good)["complete"] and (good / A.VERIFY_JSON).exists()


def test_a_folding_file_with_a_utf8_bom_is_read(models, tmp_path):
    f = tmp_path / "bom.json"
    f.write_text(json.dumps({"layers": {"mvu0": {"pe": 2}}}), encoding="utf-8-sig")
    out = tmp_path / "b"
    assert main(["build", str(models / "a.onnx"), "--out", str(out), "--stop-after", "fold", "--folding", str(f)]) == 0
    assert _folding(out)["mvu0"]["pe"] == 2


def test_a_failing_stage_in_a_new_folder_keeps_the_finished_stages_for_resume(models, tmp_path, capsys):
    bad = tmp_path / "fold.json"
    bad.write_text(json.dumps({"layers": {"mvu0": {"pe": 3}}}))
    out = tmp_path / "b"
    assert main(["build", str(models / "a.onnx"), "--out", str(out), "--folding", str(bad)]) == 2
    s = state(out)
    assert not s["complete"] and list(s["stages"]) == ["frontend", "streamline"]
    assert not (out / A.FOLDED_JSON).exists() and not (out / STAGING).exists()
    bad.write_text(json.dumps({"layers": {"mvu0": {"pe": 2}}}))
    capsys.readouterr()
    assert main(["build", str(models / "a.onnx"), "--out", str(out), "--folding", str(bad),
                 "--stop-after", "fold", "--resume"]) == 0
    log = capsys.readouterr().out
    assert "[frontend] reused" in log and "[streamline] reused" in log and "[fold] done" in log


def test_a_crash_while_installing_never_says_complete(models, good, monkeypatch, capsys):
    moved = []

    def failing_move(src, dst):
        if moved:
            raise OSError(28, "No space left on device", str(dst))
        moved.append(dst)
        src.replace(dst)

    monkeypatch.setattr(pipeline.A, "move", failing_move)
    assert main(["build", str(models / "a.onnx"), "--out", str(good), "--stop-after", "fold",
                 "--target-fps", "400000"]) == 2
    one_line_error(capsys, "No space left on device")
    assert not state(good)["complete"] and not (good / STAGING).exists()


def test_a_successful_rebuild_marks_the_old_verify_json_stale(models, good):
    old_verify = (good / A.VERIFY_JSON).read_text()
    assert main(["build", str(models / "a.onnx"), "--out", str(good), "--stop-after", "fold",
                 "--target-fps", "400000"]) == 0
    assert not (good / A.VERIFY_JSON).exists() and (good / VERIFY_STALE_JSON).read_text() == old_verify
    assert state(good)["complete"] and state(good)["config"]["target_fps"] == 400000


# --- 3. --resume re-runs what changed ------------------------------------------------------


def _folding(out):
    return json.loads((out / A.FOLDING_JSON).read_text())["layers"]


def test_resume_with_nothing_changed_reuses_every_stage_and_keeps_verify_json(models, good, capsys):
    before = snapshot(good)
    assert main(["build", str(models / "a.onnx"), "--out", str(good), "--stop-after", "fold", "--resume"]) == 0
    log = capsys.readouterr().out
    assert all(f"[{s}] reused" in log for s in ("frontend", "streamline", "fold"))
    before.pop(A.BUILD_JSON)
    after = snapshot(good)
    after.pop(A.BUILD_JSON)
    assert after == before


def test_resume_with_another_target_fps_refolds(models, good, capsys):
    fps = json.loads((good / A.REPORT_JSON).read_text())["fps"]
    assert main(["build", str(models / "a.onnx"), "--out", str(good), "--stop-after", "fold", "--resume",
                 "--target-fps", str(2 * fps)]) == 0
    log = capsys.readouterr().out
    assert "[streamline] reused" in log and "[fold] re-run: changed target_fps" in log
    assert json.loads((good / A.REPORT_JSON).read_text())["fps"] >= 2 * fps
    assert state(good)["complete"]


def test_resume_with_a_folding_file_reads_it(models, good, tmp_path, capsys):
    f = tmp_path / "f.json"
    f.write_text(json.dumps({"layers": {"mvu0": {"pe": 2}}}))
    assert main(["build", str(models / "a.onnx"), "--out", str(good), "--stop-after", "fold", "--resume",
                 "--folding", str(f)]) == 0
    assert _folding(good)["mvu0"]["pe"] == 2
    f.write_text(json.dumps({"layers": {"mvu0": {"pe": 4}}}))  # same path, new content: folds again
    assert main(["build", str(models / "a.onnx"), "--out", str(good), "--stop-after", "fold", "--resume",
                 "--folding", str(f)]) == 0
    assert _folding(good)["mvu0"]["pe"] == 4 and "[fold] re-run: changed folding" in capsys.readouterr().out


def test_resume_after_the_model_was_overwritten_reruns_frontend(models, tmp_path, capsys):
    model, fresh = tmp_path / "model.onnx", tmp_path / "fresh"
    shutil.copy(models / "a.onnx", model)
    out = tmp_path / "b"
    assert main(["build", str(model), "--out", str(out), "--stop-after", "fold"]) == 0
    shutil.copy(models / "b.onnx", model)
    capsys.readouterr()
    assert main(["build", str(model), "--out", str(out), "--stop-after", "fold", "--resume"]) == 0
    assert "[frontend] re-run: changed model" in capsys.readouterr().out
    other = tmp_path / "other" / "model.onnx"  # the same name: the graph is named after the file
    other.parent.mkdir()
    shutil.copy(models / "b.onnx", other)
    assert main(["build", str(other), "--out", str(fresh), "--stop-after", "fold"]) == 0
    for name in (A.FRONTEND_ONNX, A.FOLDING_JSON):
        assert (out / name).read_bytes() == (fresh / name).read_bytes(), name


@pytest.mark.parametrize("name, stage", [(A.FRONTEND_ONNX, "frontend"), (A.IR_JSON, "streamline"),
                                         (A.FOLDED_JSON, "fold"), (A.ESTIMATE_JSON, "fold")])
def test_resume_repairs_a_damaged_artifact(name, stage, models, good, capsys):
    (good / name).write_text('{"qloom_ir": 1, "graph": ')
    assert main(["build", str(models / "a.onnx"), "--out", str(good), "--stop-after", "fold", "--resume"]) == 0
    log = capsys.readouterr().out
    assert f"[{stage}] re-run: its artifacts" in log and state(good)["complete"]
    assert json.loads((good / A.REPORT_JSON).read_text())["layers"]


def test_resume_recomposes_a_damaged_report_json_and_keeps_imported_keys(models, good, capsys):
    """report.json is composed from the stages' artifacts: a resume rewrites it, no stage re-runs;
    a key imported later (Vivado's figures) stays while fold and rtl are reused."""
    before = json.loads((good / A.REPORT_JSON).read_text())
    (good / A.REPORT_JSON).write_text('{"layers": ')
    assert main(["build", str(models / "a.onnx"), "--out", str(good), "--stop-after", "fold", "--resume"]) == 0
    assert "re-run" not in capsys.readouterr().out
    assert json.loads((good / A.REPORT_JSON).read_text()) == before
    A.write_json(good / A.REPORT_JSON, {**before, "vivado": {"LUT": 7}})
    assert main(["build", str(models / "a.onnx"), "--out", str(good), "--stop-after", "fold", "--resume"]) == 0
    assert json.loads((good / A.REPORT_JSON).read_text()) == {**before, "vivado": {"LUT": 7}}
    assert main(["build", str(models / "a.onnx"), "--out", str(good), "--stop-after", "fold", "--resume",
                 "--target-fps", "1000"]) == 0  # a new folding: the imported figures describe another design
    assert "vivado" not in json.loads((good / A.REPORT_JSON).read_text())


@pytest.mark.parametrize("record", [{"options": []}, {"options": {}, "inputs": 3}, {"options": {"model": 1}}])
def test_resume_with_a_damaged_stage_record_reruns_the_stage(record, models, good, capsys):
    s = state(good)
    s["stages"]["streamline"] = record
    (good / A.BUILD_JSON).write_text(json.dumps(s))
    assert main(["build", str(models / "a.onnx"), "--out", str(good), "--stop-after", "fold", "--resume"]) == 0
    assert "[streamline] re-run" in capsys.readouterr().out and state(good)["complete"]


def test_rtl_survives_a_verify_and_a_resume_and_goes_when_fold_changes(models, tmp_path, capsys):
    out = tmp_path / "b"
    a = str(models / "a.onnx")
    assert main(["build", a, "--out", str(out), "--stop-after", "rtl"]) == 0
    (out / A.RTL_DIR / "sim_build").mkdir()  # what `qloom verify --level rtl` adds: not a change of rtl/
    (out / A.RTL_DIR / "sim_build" / "x").write_text("cache")
    capsys.readouterr()
    assert main(["build", a, "--out", str(out), "--stop-after", "fold", "--resume"]) == 0
    assert "rtl" in state(out)["stages"] and (out / A.RTL_DIR).is_dir()  # still valid: stays recorded
    assert main(["build", a, "--out", str(out), "--stop-after", "rtl", "--resume"]) == 0
    assert "[rtl] reused" in capsys.readouterr().out
    assert main(["build", a, "--out", str(out), "--stop-after", "fold", "--target-fps", "400000"]) == 0
    assert not (out / A.RTL_DIR).exists() and "rtl" not in state(out)["stages"]


# --- 4. one build per folder ---------------------------------------------------------------


def test_a_second_build_into_a_locked_folder_fails_and_changes_nothing(models, good, capsys):
    before = snapshot(good)
    with (good / LOCK).open("a+") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # another build holds the folder
        assert main(["build", str(models / "a.onnx"), "--out", str(good), "--stop-after", "fold"]) == 2
        one_line_error(capsys, "being built by another qloom build")
    assert snapshot(good) == before
    assert main(["build", str(models / "a.onnx"), "--out", str(good), "--stop-after", "fold"]) == 0


def test_a_build_in_another_process_holds_the_folder(models, good, capsys):
    import subprocess
    import sys

    holder = subprocess.Popen(  # stands in for a running `qloom build`: it takes the folder's lock and waits
        [sys.executable, "-c", "import fcntl, sys; f = open(sys.argv[1], 'a+'); fcntl.flock(f, fcntl.LOCK_EX); "
         "print('locked', flush=True); sys.stdin.read()", str(good / LOCK)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = snapshot(good)
        assert main(["build", str(models / "a.onnx"), "--out", str(good), "--stop-after", "fold", "--resume"]) == 2
        one_line_error(capsys, "being built by another qloom build")
        assert snapshot(good) == before
    finally:
        holder.stdin.close()  # the holder exits, and the kernel drops its lock
        holder.wait(timeout=30)
    assert main(["build", str(models / "a.onnx"), "--out", str(good), "--stop-after", "fold", "--resume"]) == 0


# --- 5. damaged bookkeeping is a one-line error --------------------------------------------


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"complete": true}', "\xff\xfe"])
def test_a_damaged_build_json(content, models, good, capsys):
    (good / A.BUILD_JSON).write_text(content, encoding="latin-1")
    before = snapshot(good)
    for resume in ([], ["--resume"]):
        assert main(["build", str(models / "a.onnx"), "--out", str(good), "--stop-after", "fold", *resume]) == 2
        one_line_error(capsys, str(good / A.BUILD_JSON), "--force")
        assert snapshot(good) == before
    assert main(["build", str(models / "a.onnx"), "--out", str(good), "--stop-after", "fold", "--force"]) == 0
    assert state(good)["complete"]


@pytest.mark.parametrize("name", [A.IR_JSON, A.FOLDED_JSON])
@pytest.mark.parametrize("content", ["{", '{"qloom_ir": 1}', '{"qloom_ir": 1, "graph": {"__type__": "Graph"}}',
                                     '{"qloom_ir": 1, "graph": {"__type__": "Nope"}}', "[]"])
def test_a_damaged_ir_file_is_a_qloom_error_naming_it(name, content, good):
    from qloom.ir import serialize

    (good / name).write_text(content)
    with pytest.raises(QloomError, match="rebuild") as err:
        serialize.load(good / name)
    assert str(good / name) in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("content", ["{", "[]", "\x00\x01"])
def test_a_damaged_report_json_is_a_qloom_error_naming_it(content, good):
    (good / A.REPORT_JSON).write_text(content)
    with pytest.raises(QloomError, match="rebuild") as err:
        A.read_json(good / A.REPORT_JSON)
    assert str(good / A.REPORT_JSON) in str(err.value)


def test_a_stage_updating_an_earlier_artifact_does_not_make_resume_rerun_it(models, tmp_path, monkeypatch, capsys):
    """synth writes rtl/synth/ and its counts to synth.json, which report.json shows beside fold's
    estimate (fold's estimate.json is not rewritten): a resume still reuses fold and rtl."""

    def fake_synth(cfg, work):  # what _synth does to the folder, without Yosys
        (work / A.RTL_DIR / "synth").mkdir()
        (work / A.RTL_DIR / "synth" / "yosys.log").write_text("log\n")
        estimate = (work / A.ESTIMATE_JSON).read_bytes()
        A.write_json(work / A.SYNTH_JSON, {"total": {"LUT": 1}, "report": {"yosys": {"total": {"LUT": 1}}}})
        assert (work / A.ESTIMATE_JSON).read_bytes() == estimate
        return {"total": {"LUT": 1}}

    monkeypatch.setitem(pipeline.RUNNERS, "synth", fake_synth)
    out, a = tmp_path / "b", str(models / "a.onnx")
    assert main(["build", a, "--out", str(out)]) == 0
    assert "yosys" in json.loads((out / A.REPORT_JSON).read_text()) and (out / A.RTL_DIR / "synth").is_dir()
    capsys.readouterr()
    assert main(["build", a, "--out", str(out), "--resume"]) == 0
    log = capsys.readouterr().out
    assert all(f"[{s}] reused" in log for s in pipeline.STAGES if s != "deploy"), log  # deploy: only with --board
    assert main(["build", a, "--out", str(out), "--resume", "--board", "pynq-z2", "--target-fps", "400000"]) == 0
    log = capsys.readouterr().out
    assert "[fold] re-run: changed board, target_fps" in log and "[synth] done" in log


def test_resume_sees_new_weights_in_a_models_external_data_file(models, tmp_path, capsys):
    import numpy as np
    import onnx
    from onnx import numpy_helper

    def export(flip: bool):  # the same graph, weights in model.onnx.data; the .onnx bytes do not change
        proto = onnx.load(str(models / "a.onnx"))
        init = max(proto.graph.initializer, key=lambda t: np.prod(t.dims))
        w = numpy_helper.to_array(init)
        init.CopyFrom(numpy_helper.from_array(-w if flip else w, init.name))
        (tmp_path / "model.onnx.data").unlink(missing_ok=True)
        onnx.save_model(proto, str(model), save_as_external_data=True, all_tensors_to_one_file=True,
                        location="model.onnx.data", size_threshold=0)

    model, out = tmp_path / "model.onnx", tmp_path / "b"
    export(flip=False)
    first = model.read_bytes()
    assert main(["build", str(model), "--out", str(out), "--stop-after", "streamline"]) == 0
    ir = (out / A.IR_JSON).read_bytes()
    export(flip=True)
    assert model.read_bytes() == first
    capsys.readouterr()
    assert main(["build", str(model), "--out", str(out), "--stop-after", "streamline", "--resume"]) == 0
    assert "[frontend] re-run: changed model" in capsys.readouterr().out
    assert (out / A.IR_JSON).read_bytes() != ir


def test_build_help_does_not_claim_to_verify(capsys):
    with pytest.raises(SystemExit):
        main(["build", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "does not verify" in text and "qloom verify" in text and "--force" in text
    assert "verified" not in text
