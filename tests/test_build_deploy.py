"""The build's deploy stage (issue 10): `qloom build --board B` writes DIR/deploy/ after rtl, and
the folder where the user runs Vivado is merged and retired, never replaced wholesale."""

import pytest

from qloom import artifacts as A
from qloom.cli import main

from qnn_factory import LayerSpec, NetSpec, calibrate_and_export


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("deploy_model")
    spec = NetSpec(in_shape=(1, 4, 4), in_bits=4, in_signed=False, seed=3, layers=[
        LayerSpec(kind="dense", out=8, wbits=2, abits=2, asigned=False, narrow=False, per_channel=True,
                  bn=True, bias=False),
        LayerSpec(kind="dense", out=4, wbits=2, abits=2, asigned=True, narrow=False, per_channel=False,
                  bn=False, bias=True)])
    calibrate_and_export(spec, d / "m.onnx")
    return d / "m.onnx"


def _build(model, out, *flags):
    return main(["build", str(model), "--out", str(out), *flags])


def test_deploy_stage_with_a_board_and_not_without(model, tmp_path):
    out = tmp_path / "b"
    assert _build(model, out, "--board", "zybo-z7-20", "--stop-after", "deploy") == 0
    state = A.read_json(out / A.BUILD_JSON)
    assert state["complete"] and "deploy" in state["stages"] and "synth" not in state["stages"]
    assert state["stages"]["deploy"]["files"] > 5
    for f in ("create_project.tcl", "package_ip.tcl", "build.sh", "sw/qloom_driver.c", "pynq/qloom_pynq.py"):
        assert (out / "deploy" / f).is_file(), f
    plain = tmp_path / "plain"
    assert _build(model, plain, "--stop-after", "rtl") == 0
    assert not (plain / "deploy").exists()
    assert "deploy" not in A.read_json(plain / A.BUILD_JSON)["stages"]


def test_deploy_stage_needs_a_board(model, tmp_path, capsys):
    assert _build(model, tmp_path / "b", "--stop-after", "deploy") == 2
    assert "--board" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_rebuild_keeps_the_users_vivado_project_and_retires_only_qloom_files(model, tmp_path):
    out = tmp_path / "b"
    assert _build(model, out, "--board", "zybo-z7-20", "--stop-after", "deploy") == 0
    user = out / "deploy" / "qloom_vivado" / "qloom.xpr"  # what Vivado writes inside deploy/
    user.parent.mkdir()
    user.write_text("a Vivado project")
    # a new folding: rtl and deploy run again; the user's project survives
    assert _build(model, out, "--board", "zybo-z7-20", "--stop-after", "deploy", "--resume",
                  "--clock-mhz", "50") == 0
    assert user.read_text() == "a Vivado project"
    assert "50" in (out / "deploy" / "create_project.tcl").read_text()
    # resume with the same options reuses everything
    before = A.read_json(out / A.BUILD_JSON)["stages"]["deploy"]
    assert _build(model, out, "--board", "zybo-z7-20", "--stop-after", "deploy", "--resume",
                  "--clock-mhz", "50") == 0
    assert A.read_json(out / A.BUILD_JSON)["stages"]["deploy"].get("reused")
    assert before["files"] == A.read_json(out / A.BUILD_JSON)["stages"]["deploy"]["files"]
    # a build without a board: the deploy files qloom wrote go, the user's project stays
    assert _build(model, out, "--stop-after", "rtl", "--resume") == 0
    assert user.read_text() == "a Vivado project"
    assert not (out / "deploy" / "create_project.tcl").exists()
    assert "deploy" not in A.read_json(out / A.BUILD_JSON)["stages"]


def test_out_kind_logits_through_rtl_and_driver_from_a_relative_path(model, tmp_path, monkeypatch):
    out = tmp_path / "b"
    assert _build(model, out, "--stop-after", "rtl", "--out-kind", "logits") == 0
    design = A.read_json(out / A.RTL_DIR / "design.json")
    assert design["dma"]["out"]["kind"] == "logits"
    monkeypatch.chdir(tmp_path)  # a relative build folder (the co-simulated app once ran from elsewhere)
    assert main(["verify", "b", "--level", "rtl", "--level", "driver", "--dataset", "random", "--frames", "30"]) == 0
    driver = A.read_json(out / A.VERIFY_JSON)["levels"]["driver"]
    assert driver["frames"] == 30 and driver["mismatches"] == 0
