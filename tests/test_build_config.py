"""`qloom build --config FILE.toml` and DIR/build.toml (issue 12: a build reproducible from one file).

Builds stop at rtl or earlier (about a second each on the small model), no Verilator or Yosys run.
"""

import hashlib
import tomllib

import pytest

from qloom import pipeline

from cli_helpers import run_cli, small_model, snapshot


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return small_model(tmp_path_factory.mktemp("model") / "m.onnx")


def _hashes(build):
    """sha256 of the artifacts a reproduction must give again: the IRs and every rtl/ file."""
    names = ["ir.json", "ir_folded.json", *(str(p.relative_to(build)) for p in sorted((build / "rtl").rglob("*"))
                                            if p.is_file())]
    assert "rtl/design.json" in names and any(n.endswith(".sv") or n.endswith(".v") for n in names)
    return {n: hashlib.sha256((build / n).read_bytes()).hexdigest() for n in names}


def _build(*argv):
    rc, out, err = run_cli(["build", *argv])
    assert rc == 0, err
    return out, err


def test_build_toml_reproduces_the_build(model, tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    _build(model, "--out", a, "--stop-after", "rtl", "--clock-mhz", "125", "--out-kind", "logits")
    opts = tomllib.loads((a / "build.toml").read_text())
    assert opts == {"model": str(model.resolve()), "stop_after": "rtl", "out_kind": "logits", "clock_mhz": 125.0,
                    "deploy_frames": 100}
    _build("--config", a / "build.toml", "--out", b)
    assert _hashes(b) == _hashes(a)
    assert (b / "build.toml").read_text() == (a / "build.toml").read_text()
    # the comparison can fail: a flag overrides the file, and a different clock is a different design.json
    _build("--config", a / "build.toml", "--out", c, "--clock-mhz", "150")
    assert tomllib.loads((c / "build.toml").read_text())["clock_mhz"] == 150.0
    differ = {n for n, h in _hashes(c).items() if _hashes(a).get(n) != h}
    assert "rtl/design.json" in differ


def test_config_file_paths_keys_and_overrides(model, tmp_path, monkeypatch):
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "models").mkdir()
    (conf / "models" / "m.onnx").write_bytes(model.read_bytes())
    (conf / "b.toml").write_text('model = "models/m.onnx"\nout = "../out"\nstop-after = "rtl"\n'
                                 'target_fps = 1000\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # relative paths in the file are relative to the file, not the cwd
    _build("--config", conf / "b.toml", "--stop-after", "fold")  # the flag wins over the file
    out = tmp_path / "out"
    state = (out / "build.json").read_text()
    assert str((conf / "models" / "m.onnx").resolve()) in state
    assert (out / "ir_folded.json").is_file() and not (out / "rtl").exists()
    opts = tomllib.loads((out / "build.toml").read_text())
    assert opts["stop_after"] == "fold" and opts["target_fps"] == 1000.0 and "out" not in opts
    assert isinstance(opts["target_fps"], float)
    assert not (elsewhere / "out").exists()
    (conf / "c.toml").write_text('model = "models/m.onnx"\ndataset = "idx:data"\n')  # an idx: folder, too
    from qloom import buildconfig

    assert buildconfig.read(conf / "c.toml")["dataset"] == f"idx:{conf.resolve() / 'data'}"
    cfg = pipeline.BuildConfig(model=conf / "models" / "m.onnx", out=out, dataset="idx:rel")  # from the cwd
    assert tomllib.loads(buildconfig.dumps(cfg))["dataset"] == f"idx:{elsewhere.resolve() / 'rel'}"


@pytest.mark.parametrize("text, words", [
    ('model = "m.onnx"\nboard_name = "pynq-z2"\n', ["board_name", "unknown key"]),
    ('model = "m.onnx"\ndeploy-frames = "ten"\n', ["deploy-frames", "an integer"]),
    ('model = "m.onnx"\ntarget_fps = true\n', ["target_fps", "a number"]),
    ('model = "m.onnx"\nresume = 1\n', ["resume", "true or false"]),
    ('model = "m.onnx"\nstop_after = "rtl"\nstop-after = "fold"\n', ["stop-after", "twice"]),
    ('model = "m.onnx"\nfolding = ""\n', ["folding", "empty"]),
    ('model = "m.onnx\n', ["not valid TOML", "line 1"]),
    ('model = "m.onnx"\nstop_after = "routing"\n', ["stop_after", "'routing'", "synth"]),
    ('model = "m.onnx"\nout_kind = "probabilities"\n', ["out_kind", "labels, logits"]),
])
def test_config_errors_are_one_line(tmp_path, text, words):
    path = tmp_path / "bad config.toml"
    path.write_text(text)
    rc, out, err = run_cli(["build", "--config", path, "--out", tmp_path / "out"])
    assert rc == 2
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for w in words:
        assert w in err, err
    assert str(path) in err
    assert not (tmp_path / "out").exists()


def test_config_file_missing_or_a_folder_or_no_model(tmp_path):
    for argv, words in (([tmp_path / "none.toml"], ["none.toml"]), ([tmp_path], ["is a folder"])):
        rc, _, err = run_cli(["build", "--config", *argv, "--out", tmp_path / "o"])
        assert rc == 2 and len(err.strip().splitlines()) == 1 and all(w in err for w in words), err
    (tmp_path / "c.toml").write_text('stop_after = "fold"\n')
    rc, _, err = run_cli(["build", "--config", tmp_path / "c.toml", "--out", tmp_path / "o"])
    assert rc == 2 and "no model" in err
    rc, _, err = run_cli(["build", tmp_path / "m.onnx"])
    assert rc == 2 and "--out" in err


def test_build_toml_only_when_the_build_succeeds(model, tmp_path, monkeypatch):
    def broken(cfg, work):
        raise RuntimeError("rtl generator crashed")

    new = tmp_path / "new"
    monkeypatch.setitem(pipeline.RUNNERS, "rtl", broken)
    with pytest.raises(RuntimeError):
        run_cli(["build", model, "--out", new, "--stop-after", "rtl"])
    assert (new / "ir_folded.json").is_file() and not (new / "build.toml").exists()  # stages kept for --resume
    monkeypatch.undo()
    old = tmp_path / "old"
    _build(model, "--out", old, "--stop-after", "fold")
    before = snapshot(old)
    monkeypatch.setitem(pipeline.RUNNERS, "rtl", broken)
    with pytest.raises(RuntimeError):
        run_cli(["build", model, "--out", old, "--stop-after", "rtl", "--clock-mhz", "150"])
    assert snapshot(old) == before  # the previous build.toml still describes the build in the folder


def test_a_users_build_toml_is_kept_and_not_foreign(model, tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    mine = f'# my build\nmodel = "{model}"\nstop_after = "fold"\n'
    (d / "build.toml").write_text(mine)
    _build("--config", d / "build.toml", "--out", d)  # the folder holds only a config: not foreign
    assert (d / "build.toml").read_text() == mine  # never replaced: qloom did not write it
    assert (d / "ir_folded.json").is_file()
    _build("--config", d / "build.toml", "--out", d, "--resume")  # and it builds again in place
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "notes.txt").write_text("mine")
    rc, _, err = run_cli(["build", model, "--out", tmp_path / "e", "--stop-after", "fold"])
    assert rc == 2 and "not empty" in err  # other files still make a folder foreign


def test_resume_from_build_toml_reuses_every_stage(model, tmp_path):
    a = tmp_path / "a"
    _build(model, "--out", a, "--stop-after", "rtl")
    out, _ = _build("--config", a / "build.toml", "--out", a, "--resume")
    assert out.count("reused from the previous build") == 4


def test_build_toml_quotes_any_path(tmp_path):
    from qloom import buildconfig

    odd = tmp_path / 'my "models"\\ é\x7f\tx.onnx'
    cfg = pipeline.BuildConfig(model=odd, out=tmp_path / "o", target_fps=1e6, clock_mhz=125.5, board="pynq-z2")
    (tmp_path / "build.toml").write_text(buildconfig.dumps(cfg))
    assert buildconfig.read(tmp_path / "build.toml") == {"model": odd, "stop_after": "synth", "target_fps": 1e6,
                                                          "board": "pynq-z2", "clock_mhz": 125.5,
                                                          "deploy_frames": 100}
