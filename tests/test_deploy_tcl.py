"""`qloom deploy`: every generated Vivado/xsct script runs under tclsh with the stubbed commands,
and the recorded block design is complete (and the checker catches broken ones)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from qloom.deploy import write_deploy
from qloom.deploy.presets import MICROBLAZE, PS7, PSU, get_target
from qloom.deploy.tclcheck import (Recorded, TclStubError, check_design, check_package, check_vitis, run_tcl,
                                   run_vitis_py)
from qloom.deploy.vivado import dma_plan

from deploy_helpers import CONTRACT_FILES, VIVADO_BOARDS, make_build

BOARDS = {"Zybo Z7-20": PS7, "PYNQ-Z2": PS7, "ZCU104": PSU, "KV260": PSU, "Arty A7-100": MICROBLAZE}
PS_VLNV = {PS7: "xilinx.com:ip:processing_system7", PSU: "xilinx.com:ip:zynq_ultra_ps_e",
           MICROBLAZE: "xilinx.com:ip:microblaze"}


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory):
    return make_build(tmp_path_factory.mktemp("deploy") / "b")


@pytest.fixture
def deploy(build_dir, tmp_path):
    """(board or part) -> (deploy folder in tmp_path, design.json, deploy.json)."""

    def make(board=None, part=None, **kw):
        out = tmp_path / "deploy"
        facts = write_deploy(build_dir, board=board, part=part, out_dir=out, dataset="random", **kw)
        return out, json.loads((build_dir / "rtl" / "design.json").read_text()), facts

    return make


def _stub(out, boards=VIVADO_BOARDS, name="create_project.tcl") -> Recorded:
    return Recorded(run_tcl(out / name, boards=boards))


@pytest.mark.parametrize("board", list(BOARDS))
def test_deploy_folder_complete_and_every_script_passes_the_stub(board, deploy):
    out, design, facts = deploy(board=board)
    proc = BOARDS[board]
    for rel in ("package_ip.tcl", "create_project.tcl", "build.sh", "README.md", "deploy.json",
                "vitis/create_app.py", "vitis/create_app.tcl", *CONTRACT_FILES,
                *(f"ip/src/{f}" for f in design["files"] + design["mem_files"])):
        assert (out / rel).is_file(), rel
    assert (out / "constraints.xdc").exists() == (proc == MICROBLAZE)
    assert "vivado -mode batch" in (out / "build.sh").read_text() and (out / "build.sh").stat().st_mode & 0o100
    rec = _stub(out)
    for rel in ("out/qloom.xsa", "out/qloom.bit", "out/qloom.hwh", "pynq/qloom.bit", "pynq/qloom.hwh"):
        assert (out / rel).is_file(), rel  # the stub's runs leave the files where Vivado would
    plan = dma_plan(design)
    assert check_design(rec, design, plan, proc) == []
    top_sv = out / "ip" / "src" / f"{design['top']}.sv"
    assert check_package(rec, design, top_sv) == []
    assert check_package(_stub(out, name="package_ip.tcl"), design, top_sv) == []  # also runs on its own
    vlnvs = {c["vlnv"] for c in rec.cells.values()}
    assert PS_VLNV[proc] in vlnvs and not (set(PS_VLNV.values()) - {PS_VLNV[proc]}) & vlnvs
    if proc == MICROBLAZE:
        assert {"xilinx.com:ip:axi_uartlite", "xilinx.com:ip:axi_timer", "xilinx.com:ip:lmb_bram_if_cntlr",
                "xilinx.com:ip:clk_wiz"} <= vlnvs
    dma = rec.cells["axi_dma_0"]["config"]
    assert (dma["c_include_sg"], dma["c_m_axis_mm2s_tdata_width"], dma["c_s_axis_s2mm_tdata_width"]) == \
        ("0", str(design["dma"]["in"]["width"]), str(design["dma"]["out"]["width"]))
    assert [c["ret"] for c in rec.calls if c["cmd"] == "create_project"] == ["qloom_ip", "qloom"]
    assert {a[a.index("-part") + 1] for a in rec.of("create_project")} == {get_target(board).part}
    # the Vitis scripts: the platform from the XSA Vivado wrote, the app from sw/
    py, tcl = run_vitis_py(out / "vitis" / "create_app.py"), run_tcl(out / "vitis" / "create_app.tcl")
    assert check_vitis(py, tcl, out, get_target(board).cpu, facts["compile_defines"]) == []
    assert bool(facts["compile_defines"]) == (proc == MICROBLAZE)


def test_zybo_uses_the_board_file_when_installed_else_digilents_ps7_values(deploy):
    out, _, _ = deploy(board="zybo-z7-20")
    without = _stub(out)
    assert without.cells["processing_system7_0"]["config"]["PCW_UIPARAM_DDR_PARTNO"] == "MT41K256M16 RE-125"
    assert without.cells["processing_system7_0"]["config"]["PCW_UART1_UART1_IO"] == "MIO 48 .. 49"
    assert not [a for a in without.of("set_property") if a[0] == "board_part"]
    shutil.rmtree(out / "vivado")
    with_board = _stub(out, boards=("digilentinc.com:zybo-z7-20:part0:1.2",))
    assert [a[1] for a in with_board.of("set_property") if a[0] == "board_part"] == ["digilentinc.com:zybo-z7-20:part0:1.2"]
    assert "PCW_UIPARAM_DDR_PARTNO" not in with_board.cells["processing_system7_0"]["config"]
    assert any("apply_board_preset 1" in (a[a.index("-config") + 1]) for a in with_board.of("apply_bd_automation"))


def test_pynq_z2_without_its_board_files_stops_with_the_install_hint(deploy):
    out, _, _ = deploy(board="pynq-z2")
    with pytest.raises(TclStubError, match="no board files for PYNQ-Z2.*xhub::install"):
        _stub(out, boards=())


def test_any_zynq_part_and_a_psless_part_need_no_database_entry(deploy, tmp_path):
    out, design, _ = deploy(part="xc7z045ffg900-2")
    assert check_design(_stub(out, boards=()), design, dma_plan(design), PS7) == []
    assert "PS keeps Vivado's defaults" in (out / "README.md").read_text()
    out, design, _ = deploy(part="xczu9eg-ffvb1156-2-e")
    assert check_design(_stub(out, boards=()), design, dma_plan(design), PSU) == []
    out, design, _ = deploy(part="xc7k325tffg900-2")
    with pytest.raises(TclStubError, match="no package pin for port sys_clock"):
        _stub(out)
    xdc = out / "constraints.xdc"
    pins = {"sys_clock": "AD12", "reset": "R19", "usb_uart_rxd": "M19", "usb_uart_txd": "K24"}
    text = xdc.read_text()
    for port, pin in pins.items():
        text = text.replace(f"# set_property -dict {{PACKAGE_PIN <pin> IOSTANDARD <standard>}} [get_ports {{{port}}}]",
                            f"set_property -dict {{PACKAGE_PIN {pin} IOSTANDARD LVCMOS33}} [get_ports {{{port}}}]")
    xdc.write_text(text)
    assert check_design(_stub(out), design, dma_plan(design), MICROBLAZE) == []


# (what to break in create_project.tcl, regex, replacement, expected problem)
FAULTS = [
    ("DMA control left open", r"connect_bd_intf_net \[get_bd_intf_pins smartconnect_ctrl/M00_AXI\] "
     r"\[get_bd_intf_pins axi_dma_0/S_AXI_LITE\]\n", "", "axi_dma_0/S_AXI_LITE is in 0 connections"),
    ("scatter-gather mode", r"CONFIG.c_include_sg \{0\}", "CONFIG.c_include_sg {1}", "c_include_sg"),
    ("wrong stream width", r"CONFIG.c_m_axis_mm2s_tdata_width \{\d+\}", "CONFIG.c_m_axis_mm2s_tdata_width {64}",
     "c_m_axis_mm2s_tdata_width"),
    ("IP clock unconnected", r" \[get_bd_pins qloom_0/ap_clk\]", "", "clock qloom_0/ap_clk is not on a PL clock"),
    ("active-high reset on ap_rst_n", r"(connect_bd_net \[get_bd_pins proc_sys_reset_0/peripheral_aresetn\][^\n]*) "
     r"\[get_bd_pins qloom_0/ap_rst_n\]", r"\1\nconnect_bd_net [get_bd_pins proc_sys_reset_0/peripheral_reset] "
     "[get_bd_pins qloom_0/ap_rst_n]", "reset qloom_0/ap_rst_n is not driven by a active-low reset"),
    ("misspelt pin", r"axi_dma_0/m_axi_s2mm_aclk", "axi_dma_0/m_axi_s2mm_clk", "has no pin m_axi_s2mm_clk"),
    ("no address assignment", r"\nassign_bd_address\n", "\n", "assign_bd_address does not follow"),
    ("no XSA", r"write_hw_platform [^\n]*\n", "", "write_hw_platform"),
    ("no timing report", r"report_timing_summary [^\n]*\n", "", "timing_summary.rpt not written"),
    ("PL clock off", r"PCW_FPGA0_PERIPHERAL_FREQMHZ \{[\d.]+\}", "PCW_FPGA0_PERIPHERAL_FREQMHZ {50}", "PL clock"),
]


@pytest.mark.parametrize("what,pattern,repl,problem", FAULTS, ids=[f[0] for f in FAULTS])
def test_the_checker_catches_a_broken_design(what, pattern, repl, problem, deploy):
    out, design, _ = deploy(board="zybo-z7-20")
    script = out / "create_project.tcl"
    text, n = re.subn(pattern, repl, script.read_text(), count=1)
    assert n == 1, f"mutation '{what}' did not apply"
    script.write_text(text)
    problems = check_design(_stub(out), design, dma_plan(design), PS7)
    assert any(problem in p for p in problems), problems


@pytest.mark.parametrize("pattern,repl,problem", [
    (r"s_axis_tready s_axis_tlast", "s_axis_tready s_axis_tuser", "does not have"),
    (r"qloom_busparam \$clk FREQ_HZ \d+\n", "", "FREQ_HZ"),
    (r"qloom_busparam \$rst POLARITY ACTIVE_LOW", "qloom_busparam $rst POLARITY ACTIVE_HIGH", "POLARITY"),
    (r"ipx::associate_bus_interfaces -busif m_axis -clock ap_clk \$core\n", "", "-busif m_axis -clock ap_clk"),
    (r"set_property type mem \[ipx::get_files \$f -of_objects \$fg\]", "list", "not packaged as a mem file"),
])
def test_the_checker_catches_a_broken_ip_package(pattern, repl, problem, deploy):
    out, design, _ = deploy(board="kv260")
    script = out / "package_ip.tcl"
    text, n = re.subn(pattern, repl, script.read_text(), count=1)
    assert n == 1
    script.write_text(text)
    top_sv = out / "ip" / "src" / f"{design['top']}.sv"
    assert any(problem in p for p in check_package(_stub(out), design, top_sv))


def test_unknown_commands_and_missing_files_are_errors_not_no_ops(deploy):
    out, _, _ = deploy(board="zcu104")
    script = out / "create_project.tcl"
    original = script.read_text()
    script.write_text(original.replace("validate_bd_design", "validate_bd_desing"))
    with pytest.raises(TclStubError, match="unknown command 'validate_bd_desing'"):
        _stub(out)
    (out / "ip" / "src" / "qloom_top.sv").unlink()
    script.write_text(original)
    with pytest.raises(TclStubError, match="add_files: no file"):
        _stub(out)


def test_tclint_finds_nothing_in_any_generated_script(deploy, tmp_path):
    """tclint parses branches a stub run does not take (e.g. the other board-file branch)."""
    tclint = shutil.which("tclint")
    assert tclint, "tclint (test extra) is not installed"
    broken = tmp_path / "broken.tcl"
    broken.write_text("set a 1\nif {$a == 0} {\n  puts [string length \"x\"\n}\n")
    assert subprocess.run(["tclsh", str(broken)], capture_output=True).returncode == 0  # the stub run cannot see it
    assert subprocess.run([tclint, str(broken)], capture_output=True).returncode != 0
    for board in ("zybo-z7-20", "kv260", "arty-a7-100"):
        out, _, _ = deploy(board=board)
        scripts = [out / "package_ip.tcl", out / "create_project.tcl", out / "vitis" / "create_app.tcl"]
        res = subprocess.run([tclint, "--ignore", "line-length", *map(str, scripts)], capture_output=True, text=True)
        assert res.returncode == 0, res.stdout + res.stderr


def test_deploy_writes_the_drivers_the_scripts_build(deploy):
    out, design, facts = deploy(board="arty-a7-100")
    for rel in CONTRACT_FILES:
        assert (out / rel).is_file() and rel in facts["drivers"]
    header = (out / "sw" / "qloom_driver.h").read_text()
    assert re.search(rf"#define QLOOM_DMA_LENGTH_BITS {facts['dma']['length_bits']} ", header), \
        "the driver and the DMA's length register disagree"
    pool = int(re.search(r"#define QLOOM_DMA_POOL_BYTES (\d+)u", header).group(1))
    assert pool <= facts["microblaze"]["dma_bytes"], "the driver's buffer pool does not fit the DMA memory"
    _stub(out)  # Vivado's XSA first
    py = run_vitis_py(out / "vitis" / "create_app.py")
    assert {"qloom_board_xil.c", "qloom_board.h", "main.c"} <= set(
        next(c for c in py if c["cmd"] == "app.import_files")["kwargs"]["files"])


def test_every_other_database_board_passes_the_stub_with_its_board_files(deploy):
    from qloom.fold.boards import list_boards

    for b in list_boards():
        if b.name in BOARDS or b.name.startswith("x") or b.name == "Basys 3":
            continue  # the five above; bare devices; Basys 3 has no active-low reset button (pins left to the user)
        t = get_target(b.name)
        out, design, _ = deploy(board=b.name)
        installed = (t.board_part.replace("*", "part0:1.0"),) if t.board_part else ()
        assert check_design(_stub(out, boards=installed), design, dma_plan(design), t.processor) == [], b.name
        shutil.rmtree(out / "vivado")
