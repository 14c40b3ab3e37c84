"""`qloom demo` end to end on a smoke-sized training run (slow: trains, builds, simulates, synthesizes)."""

import json

import pytest

from qloom.cli import main


@pytest.mark.slow
@pytest.mark.hw
def test_demo_smoke(tmp_path, capsys):
    out = tmp_path / "demo"
    rc = main(["demo", "--out", str(out), "--epochs", "1", "--limit-train", "3000", "--ir-frames", "1000",
               "--rtl-frames", "200", "--driver-frames", "50"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "verify rtl: 200 frames, 0 mismatches" in text
    v = json.loads((out / "build" / "verify.json").read_text())["levels"]
    assert v["ir"]["mismatches"] == 0 and v["rtl"]["mismatches"] == 0
    assert v["driver"]["frames"] == 50 and v["driver"]["mismatches"] == 0
    assert (out / "build" / "deploy" / "create_project.tcl").is_file()
    assert "deploy/README.md" in text
    assert json.loads((out / "build" / "build.json").read_text())["complete"]
    report = json.loads((out / "build" / "report.json").read_text())
    board, y = report["board"], report["yosys"]
    assert board["name"] and set(y["utilization"]) == {"LUT", "FF", "BRAM18", "DSP"}
    assert y["utilization"]["LUT"] == y["total"]["slice_LUT"] / board["capacity"]["LUT"] > 0
    assert "Yosys synth_xilinx (not Vivado)" in text
    from qloom.report.page import SECTIONS

    page = (out / "build" / "report.html").read_text()  # the demo's report has every section
    assert all(f"<section id={s}>" in page for s in SECTIONS) and "report.html" in text
    assert "alt='confusion matrix'" in page and "Yosys has not run" not in page
