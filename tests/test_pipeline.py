"""`qloom build` / `qloom verify` through the CLI: stages, resume, verify.json, user errors."""

import json

import pytest

from qloom import artifacts as A
from qloom.cli import main

from qnn_factory import LayerSpec, NetSpec, calibrate_and_export


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    spec = NetSpec(in_shape=(1, 6, 6), in_bits=4, in_signed=False, seed=11, layers=[
        LayerSpec(kind="conv", out=4, wbits=2, abits=2, asigned=False, narrow=False, per_channel=True,
                  bn=True, bias=False, kernel=3, pool=True),
        LayerSpec(kind="dense", out=8, wbits=1, abits=1, asigned=True, narrow=False, per_channel=False,
                  bn=True, bias=True)])
    path = tmp_path_factory.mktemp("model") / "small.onnx"
    calibrate_and_export(spec, path)
    return path


def test_build_until_fold_then_verify_ir(small_model, tmp_path, capsys):
    out = tmp_path / "b"
    assert main(["build", str(small_model), "--out", str(out), "--stop-after", "fold"]) == 0
    for name in (A.FRONTEND_ONNX, A.IR_JSON, A.IR_ONNX, A.FOLDED_JSON, A.FOLDING_JSON, A.REPORT_JSON):
        assert (out / name).exists(), name
    assert not (out / A.RTL_DIR).exists()
    import onnx

    from qloom.ir import serialize

    netron = onnx.load(str(out / A.IR_ONNX))  # the IR for Netron: one node per layer, constants attached
    layers = serialize.load(out / A.IR_JSON).layers
    assert [n.name for n in netron.graph.node] == [l.name for l in layers]
    assert any(i.name.endswith(".weights") for i in netron.graph.initializer)
    state = json.loads((out / A.BUILD_JSON).read_text())
    assert state["complete"] and state["stopped_after"] == "fold"
    assert main(["verify", str(out), "--level", "ir", "--dataset", "random", "--frames", "300"]) == 0
    v = json.loads((out / A.VERIFY_JSON).read_text())
    assert v["levels"]["ir"]["frames"] == 300 and v["levels"]["ir"]["mismatches"] == 0
    report = json.loads((out / A.REPORT_JSON).read_text())
    assert report["cycles_per_frame"] > 0 and report["layers"]
    # the folded IR says which memory style is built (the folding resolved "auto"), as the report does
    folded = {l.name: l for l in serialize.load(out / A.FOLDED_JSON).layers}
    styled = [r for r in report["layers"] if r["mem_style"]]
    assert styled and all(folded[r["name"]].mem_style.value == r["mem_style"] != "auto" for r in styled)


def test_resume_reuses_finished_stages(small_model, tmp_path, capsys):
    out = tmp_path / "b"
    assert main(["build", str(small_model), "--out", str(out), "--stop-after", "streamline"]) == 0
    capsys.readouterr()
    assert main(["build", str(small_model), "--out", str(out), "--stop-after", "fold", "--resume"]) == 0
    log = capsys.readouterr().out
    assert "[frontend] reused" in log and "[streamline] reused" in log and "[fold] done" in log


def test_verify_detects_a_corrupted_ir(small_model, tmp_path, capsys):
    out = tmp_path / "b"
    assert main(["build", str(small_model), "--out", str(out), "--stop-after", "streamline"]) == 0
    from qloom.ir import MatVec, serialize

    g = serialize.load(out / A.IR_JSON)
    mv = next(l for l in g.layers if isinstance(l, MatVec) and l.thresholds is not None)
    serialize.save(g.replace_layer(mv.name, weights=-mv.weights, w_dtype=type(mv.w_dtype).for_range(-2, 2)),
                   out / A.IR_JSON)
    assert main(["verify", str(out), "--dataset", "random", "--frames", "200"]) == 1
    assert json.loads((out / A.VERIFY_JSON).read_text())["levels"]["ir"]["mismatches"] > 0


@pytest.mark.parametrize("argv, message", [
    (["build", "missing.onnx", "--out", "OUT"], "does not exist"),
    (["verify", "OUT"], "not a qloom build folder"),
])
def test_user_errors_exit_2_without_traceback(argv, message, tmp_path, capsys):
    argv = [a.replace("OUT", str(tmp_path / "o")).replace("missing.onnx", str(tmp_path / "missing.onnx")) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_unwritable_output_folder(small_model, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["build", str(small_model), "--out", str(blocker / "sub")]) == 2
    assert "cannot write to output folder" in capsys.readouterr().err


def test_bad_folding_file_is_a_user_error(small_model, tmp_path, capsys):
    bad = tmp_path / "fold.json"
    bad.write_text(json.dumps({"layers": {"mvu0": {"pe": 3}}}))
    assert main(["build", str(small_model), "--out", str(tmp_path / "b"), "--folding", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "mvu0" in err and "3" in err
    state = json.loads((tmp_path / "b" / A.BUILD_JSON).read_text())
    assert not state["complete"]  # a failed build never looks complete


def test_synth_writes_its_own_artifact_and_report_json_shows_it(small_model, tmp_path, monkeypatch):
    """synth leaves fold's estimate.json as it was; report.json = the estimate + Yosys' counts, per layer,
    per stream and for the DMA side (Yosys stood in for: per-instance counts from design.json)."""
    from qloom import synth

    def fake_synthesize(rtl_dir, family="xc7"):
        design = json.loads((rtl_dir / "design.json").read_text())
        layers = {}
        for i, row in enumerate(design["layers"]):
            layers[row["instance"]] = {"layer": row["name"], "part": "core", "slice_LUT": 10 + i, "FF": 5, "BRAM18": 0,
                                       "DSP": 0}
            if row["fifo_depth"]:
                layers[row["instance"] + "_fifo"] = {"layer": row["name"], "part": "fifo", "slice_LUT": 3, "FF": 2,
                                                     "BRAM18": 0, "DSP": 0}
        layers["u_tlast"] = {"layer": None, "part": None, "slice_LUT": 7, "FF": 1, "BRAM18": 0, "DSP": 0}
        total = {k: sum(c[k] for c in layers.values()) for k in ("slice_LUT", "FF", "BRAM18", "DSP")}
        return {"tool": "yosys (stand-in)", "note": "not Vivado", "seconds": 0.0, "layers": layers,
                "total": {**total, "LUT": total["slice_LUT"]}}

    monkeypatch.setattr(synth, "synthesize", fake_synthesize)
    out = tmp_path / "b"
    assert main(["build", str(small_model), "--out", str(out), "--stop-after", "fold"]) == 0
    estimate = (out / A.ESTIMATE_JSON).read_bytes()
    assert json.loads((out / A.REPORT_JSON).read_text()) == json.loads(estimate)  # nothing synthesized yet
    assert main(["build", str(small_model), "--out", str(out), "--resume"]) == 0
    assert (out / A.ESTIMATE_JSON).read_bytes() == estimate  # fold's artifact: reused, not rewritten
    report = json.loads((out / A.REPORT_JSON).read_text())
    bare = [{k: v for k, v in r.items() if k != "yosys"} for r in report["layers"]]
    assert {**{k: v for k, v in report.items() if not k.endswith("yosys")}, "layers": bare} == json.loads(estimate)
    assert report["yosys"]["total"]["slice_LUT"] == json.loads((out / A.SYNTH_JSON).read_text())["total"]["slice_LUT"]
    hw = [r for r in report["layers"] if r["hardware"] and r["kind"] != "InputQuant"]
    assert hw and all("yosys" in r for r in hw) and set(report["streams_yosys"]) == set(report["streams"])
    parts = sum(r["yosys"]["LUT"] for r in hw) + sum(s["LUT"] for s in report["streams_yosys"].values())
    assert parts + report["dma_yosys"]["LUT"] == report["yosys"]["total"]["slice_LUT"]
    assert main(["build", str(small_model), "--out", str(out), "--resume", "--stop-after", "fold"]) == 0
    assert "yosys" in json.loads((out / A.REPORT_JSON).read_text())  # the recorded synth stage still shows
