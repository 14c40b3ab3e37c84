"""`qloom deploy DIR --board/--part`: user errors (one line, exit 2), targets, DMA sizing, and a
deploy folder that is replaced atomically without losing what qloom did not write."""

from __future__ import annotations

import json

import pytest

from qloom.cli import main
from qloom.deploy.presets import MICROBLAZE, PS7, PSU, get_target
from qloom.deploy.vivado import DMA_LENGTH_MAX_BITS, dma_plan, mb_memory
from qloom.errors import QloomError

from deploy_helpers import make_build


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory):
    return make_build(tmp_path_factory.mktemp("deploy-cli") / "b")


def _one_line_error(capsys, text):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and text in err and "Traceback" not in err, err


@pytest.mark.parametrize("argv,text", [
    ([], "give the target board"),
    (["--board", "no-such-board"], "unknown board or part"),
    (["--part", "xc7z020"], "lacks its package and speed grade"),
    (["--part", "xcv300-4bg432"], "not a Xilinx 7-series, UltraScale or Zynq part"),
    (["--board", "zybo-z7-20", "--frames", "0"], "--frames 0"),
])
def test_user_errors_exit_2_on_one_line(argv, text, build_dir, capsys):
    assert main(["deploy", str(build_dir), *argv]) == 2
    _one_line_error(capsys, text)


def test_board_and_part_together_is_a_usage_error(build_dir, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["deploy", str(build_dir), "--board", "zybo-z7-20", "--part", "xc7z020clg400-1"])
    assert exc.value.code == 2 and "not allowed with argument" in capsys.readouterr().err


def test_a_folder_without_rtl_is_a_one_line_error(tmp_path, capsys):
    assert main(["deploy", str(tmp_path), "--board", "pynq-z2"]) == 2
    _one_line_error(capsys, "has no rtl/design.json: run `qloom build MODEL --out")


def test_targets_by_family():
    assert get_target("Zybo Z7-20").processor == PS7 and get_target("zybo").ps7_config
    assert get_target("kv260").board_part == "xilinx.com:kv260_som:*" and get_target("kv260").processor == PSU
    assert get_target("arty-a7-100").processor == MICROBLAZE and get_target("arty100").pins["sys_clock"] == "E3"
    for part, proc in (("xc7z045ffg900-2", PS7), ("xczu9eg-ffvb1156-2-e", PSU), ("xck26-sfvc784-2LV-c", PSU),
                       ("xc7a200tsbg484-1", MICROBLAZE), ("xcku040-ffva1156-2-e", MICROBLAZE)):
        t = get_target(part=part)
        assert (t.processor, t.part) == (proc, part)
    assert not get_target(part="xc7z045ffg900-2").in_database and get_target(part="xc7z020clg400-1").in_database
    with pytest.raises(QloomError):
        get_target()
    from qloom.fold.boards import list_boards

    for b in list_boards():  # every board of the database has a PS preset or MicroBlaze pins, or says why not
        t = get_target(b.name)
        if b.name.startswith("x"):
            continue  # a bare device: Vivado defaults (README)
        assert t.board_part or t.ps7_config or t.pins or b.name == "Basys 3", b.name


def test_dma_length_register_holds_a_batch_and_is_capped():
    def design(bytes_in, bytes_out):
        return {"dma": {"in": {"width": 64, "bytes_per_frame": bytes_in}, "out": {"width": 8, "bytes_per_frame": bytes_out}}}

    p = dma_plan(design(784, 1))  # MNIST bytes: 1024 frames = 802,816 bytes -> 20 bits
    assert p.length_bits == 20 and p.max_frames * 784 <= 2**20 - 1 and p.max_frames >= 1024
    big = dma_plan(design(3072 * 32, 16))  # 96 KiB frames: 1024 of them would need 27 bits
    assert big.length_bits == DMA_LENGTH_MAX_BITS and big.max_frames == (2**26 - 1) // (3072 * 32) < 1024
    assert dma_plan(design(1, 1)).length_bits == 11 and dma_plan(design(1, 1), batch=1).length_bits == 8
    mnist = {"dma": {"in": {"width": 64, "bytes_per_frame": 784, "elem_bits": 8, "elems_per_frame": 784},
                     "out": {"width": 8, "bytes_per_frame": 1, "elem_bits": 4, "elems_per_frame": 1}}}
    mem = mb_memory(mnist, dma_plan(mnist), frames=100)  # 64 KiB + 100 x (784 + 4 + 2) -> 256 KiB
    assert mem.local_bytes == 256 * 1024 and mem.dma_bytes == 128 * 1024  # pool: 78,400 + 128 bytes


def test_deploy_command_and_a_redeploy_keeps_what_qloom_did_not_write(build_dir, capsys):
    assert main(["deploy", str(build_dir), "--board", "arty-a7-100", "--dataset", "random"]) == 0
    assert "Arty A7-100" in capsys.readouterr().out
    out = build_dir / "deploy"
    facts = json.loads((out / "deploy.json").read_text())
    assert facts["target"]["processor"] == MICROBLAZE and "create_project.tcl" in facts["files"]
    (out / "vivado").mkdir()
    (out / "vivado" / "qloom.xpr").write_text("a Vivado project")
    (out / "reports").mkdir()
    (out / "reports" / "utilization.rpt").write_text("a report")
    xdc = out / "constraints.xdc"
    xdc.write_text(xdc.read_text() + "# my edit\n")
    (out / "create_project.tcl").write_text("stale")  # ours, but edited: kept as the user's
    assert main(["deploy", str(build_dir), "--board", "arty-a7-100", "--frames", "50", "--dataset", "random"]) == 0
    said = capsys.readouterr().out
    assert "kept from the previous deploy folder" in said
    assert (out / "vivado" / "qloom.xpr").read_text() == "a Vivado project"
    assert (out / "reports" / "utilization.rpt").read_text() == "a report"
    assert xdc.read_text().endswith("# my edit\n")
    facts = json.loads((out / "deploy.json").read_text())
    assert facts["frames"] == 50 and set(facts["kept"]) >= {"vivado", "reports", "constraints.xdc"}
    assert "constraints.xdc" not in facts["files"]  # now the user's file
    (out / "create_project.tcl").unlink()
    assert main(["deploy", str(build_dir), "--board", "arty-a7-100", "--dataset", "random"]) == 0
    assert (out / "create_project.tcl").read_text().startswith("# qloom")
    assert not list(build_dir.glob(".deploy.*"))  # no temporary folders left


def test_a_foreign_folder_is_never_replaced(build_dir, tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    assert main(["deploy", str(build_dir), "--board", "zcu104", "--out", str(mine), "--dataset", "random"]) == 2
    _one_line_error(capsys, "was not written by `qloom deploy`")
    assert (mine / "notes.txt").read_text() == "mine" and len(list(mine.iterdir())) == 1


def test_a_failed_deploy_leaves_the_previous_folder(build_dir, tmp_path, capsys, monkeypatch):
    out = tmp_path / "d"
    assert main(["deploy", str(build_dir), "--board", "kv260", "--out", str(out), "--dataset", "random"]) == 0
    before = (out / "deploy.json").read_text()
    import qloom.deploy.drivers as drivers

    def broken(*a, **k):
        raise QloomError("drivers failed")

    monkeypatch.setattr(drivers, "write_drivers", broken)
    assert main(["deploy", str(build_dir), "--board", "zcu104", "--out", str(out), "--dataset", "random"]) == 2
    assert (out / "deploy.json").read_text() == before and not list(tmp_path.glob(".d.*"))


def test_microblaze_memories_that_do_not_fit_the_part_are_refused(build_dir, tmp_path, capsys):
    # Arty A7-35: 100 RAMB18 (200 KiB); 2000 embedded frames need 256 KiB of local memory alone
    out = tmp_path / "d"
    assert main(["deploy", str(build_dir), "--board", "arty-a7-35", "--frames", "2000", "--dataset", "random",
                 "--out", str(out)]) == 2
    _one_line_error(capsys, "exceed the part's 100 BRAM18; embed fewer test frames")
    assert not out.exists()


def test_the_pl_clock_is_the_foldings(build_dir, tmp_path):
    import shutil

    from qloom.deploy import load_design

    b = tmp_path / "b"
    shutil.copytree(build_dir, b)
    report = json.loads((b / "report.json").read_text())
    report["clock_mhz"] = 142.5
    (b / "report.json").write_text(json.dumps(report))
    assert load_design(b)["clock_mhz"] == 142.5
    (b / "report.json").unlink()
    assert load_design(b)["clock_mhz"] == json.loads((b / "rtl" / "design.json").read_text())["clock_mhz"]


def test_deploy_check_runs_the_scripts_under_the_stubs(build_dir, tmp_path, capsys):
    out = tmp_path / "d"
    assert main(["deploy", str(build_dir), "--board", "kv260", "--out", str(out), "--dataset", "random",
                 "--check"]) == 0
    assert "stub check: ok" in capsys.readouterr().out
    assert not (out / "vivado").exists()  # the stub ran on a scratch copy
    script = out / "create_project.tcl"
    script.write_text(script.read_text().replace("connect_bd_intf_net [get_bd_intf_pins axi_dma_0/M_AXIS_MM2S]",
                                                 "# connect_bd_intf_net [get_bd_intf_pins axi_dma_0/M_AXIS_MM2S]"))
    from qloom.deploy.tclcheck import check_deploy

    assert any("axi_dma_0/M_AXIS_MM2S is in 0 connections" in p for p in check_deploy(out))
