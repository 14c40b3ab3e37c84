"""Trained zoo models through every stage: build (RTL + Yosys) and verify IR and RTL on MNIST."""

import json

import pytest

from qloom import artifacts as A
from qloom.cli import main

FOLDINGS = {
    # FINN's TFC test folding (PE, SIMD) = (16,49),(8,8),(8,8),(10,8): II 64 cycles
    "tfc-w1a1": {"mvu0": (16, 49), "mvu1": (8, 8), "mvu2": (8, 8), "mvu3": (10, 8)},
    "tfc-w2a2": {"mvu0": (16, 49), "mvu1": (8, 8), "mvu2": (8, 8), "mvu3": (10, 8)},
}


def _build(name, model, tmp_path, stop_after):
    folding = tmp_path / "folding.json"
    folding.write_text(json.dumps({"layers": {k: {"pe": pe, "simd": simd} for k, (pe, simd) in FOLDINGS[name].items()}}))
    out = tmp_path / "build"
    assert main(["build", str(model), "--out", str(out), "--folding", str(folding), "--stop-after", stop_after]) == 0
    assert json.loads((out / A.RTL_DIR / "lint.json").read_text())["warnings"] == []
    return out


@pytest.mark.hw
@pytest.mark.slow
def test_trained_tfc_synthesis_in_report(trained_qonnx, tmp_path, capsys):
    out = _build("tfc-w1a1", trained_qonnx("tfc-w1a1"), tmp_path, "synth")
    report = json.loads((out / A.REPORT_JSON).read_text())
    assert report["yosys"]["total"]["LUT"] > 0 and "not Vivado" in report["yosys"]["note"]
    assert all("yosys" in row for row in report["layers"] if row["kind"] == "MatVec")
    y = report["yosys"]["total"]
    assert y["slice_LUT"] >= y["LUT"] and y["DSP"] == 0 and report["yosys"]["family"] == "xc7"
    # per layer + glue adds up to the design (the top itself holds no cells but wires)
    rows = [row["yosys"]["LUT"] for row in report["layers"] if "yosys" in row]
    glue = [r["LUT"] for r in report["streams_yosys"].values()]
    assert report["dma_yosys"]["LUT"] > 0  # the DMA side: input converter, its FIFO, TLAST queue
    assert sum(rows) + sum(glue) + report["dma_yosys"]["LUT"] == y["slice_LUT"]
    assert set(report["streams_yosys"]) == set(report["streams"])


@pytest.mark.hw
@pytest.mark.parametrize("name", ["tfc-w1a1", "tfc-w2a2"])
def test_trained_tfc_build_and_verify_rtl(name, trained_qonnx, tmp_path, capsys):
    out = _build(name, trained_qonnx(name), tmp_path, "rtl")
    report = json.loads((out / A.REPORT_JSON).read_text())
    assert report["cycles_per_frame"] == 64
    assert main(["verify", str(out), "--level", "ir", "--level", "rtl", "--dataset", "mnist", "--frames", "400"]) == 0
    v = json.loads((out / A.VERIFY_JSON).read_text())["levels"]
    assert v["ir"]["mismatches"] == 0 and v["rtl"]["mismatches"] == 0
    assert abs(v["rtl"]["cycles_per_frame"] - 64) <= 0.02 * 64
    assert v["rtl"]["latency_cycles"] > 0
