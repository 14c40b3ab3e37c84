"""A trained residual zoo model (resnet-w2a2 or resnet-w4a4, Fashion-MNIST) through the whole flow.

    python bench/bench_resnet.py --model-dir /work/ckpt/resnet-w2a2@fashion-mnist
    python bench/bench_resnet.py --model-dir DIR --configs zybo --rtl-frames 1000 --no-yosys

Per configuration (`default`: `qloom build` at its default folding; `zybo`: `--board
zybo-z7-20`): the build (through Yosys unless --no-yosys), the IR against QONNX on
--ir-frames test images, the RTL in Verilator with random backpressure on --rtl-frames test
images (the default folding runs 2.65 M cycles a frame: --rtl-frames-default, 3 steady frames),
the measured II against the cycle model, and per layer (core, and the FIFOs and converters in
front of it) Yosys beside the estimate. The bar (issue 11): 0 mismatches, the II within 2%,
LUT within 25% per layer, BRAM18 and DSP exact.

--model-dir holds `model.onnx` (and `metrics.json`, whose accuracy is printed): a folder of
`qloom train --model resnet-w2a2 --dataset fashion-mnist --out DIR`. Build folders go to
--work (kept: a second run with the same inputs resumes, `qloom build --resume`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from table import print_table  # noqa: E402

DEFAULT_MODEL_DIR = Path("/work/ckpt/resnet-w2a2@fashion-mnist")
CONFIGS = {"default": [], "zybo": ["--board", "zybo-z7-20"]}
KEYS = ("LUT", "FF", "BRAM18", "DSP")


def _build(model: Path, out: Path, extra: list[str], yosys: bool) -> float:
    cmd = [sys.executable, "-m", "qloom.cli", "build", str(model), "--out", str(out), "--quiet", *extra]
    if not yosys:
        cmd += ["--stop-after", "rtl"]
    if (out / "build.json").exists():
        cmd.append("--resume")
    t = time.time()
    subprocess.run(cmd, check=True)
    return time.time() - t


def _verify(d: Path, ir_frames: int, rtl_frames: int, steady: int, seed: int) -> dict:
    """IR against QONNX and RTL under random backpressure, on Fashion-MNIST test images."""
    from qloom import artifacts as A
    from qloom.ir import serialize
    from qloom.verify.inputs import verification_inputs
    from qloom.verify.ir import compare
    from qloom.verify.reference import Reference
    from qloom.verify.rtl import verify_rtl

    graph = serialize.load(d / A.IR_JSON)
    out = {}
    if ir_frames:
        x, labels = verification_inputs(graph, "fashion-mnist", ir_frames, seed)
        t = time.time()
        out["ir"] = compare(graph, Reference(d / A.FRONTEND_ONNX), x, labels)
        out["ir"]["seconds"] = time.time() - t
    if rtl_frames:
        folded = serialize.load(d / A.FOLDED_JSON)
        x, labels = verification_inputs(graph, "fashion-mnist", rtl_frames, seed)
        t = time.time()
        out["rtl"] = verify_rtl(folded, d / A.RTL_DIR, x, seed=seed, labels=labels, steady_frames=steady)
        out["rtl"]["seconds"] = time.time() - t
    return out


def _layer_rows(d: Path) -> list[dict]:
    """Per layer: the core and the stream glue in front of it, estimate / Yosys."""
    from qloom import artifacts as A
    from qloom.fold.calibration import compare
    from qloom.ir import serialize

    synth = json.loads((d / A.SYNTH_JSON).read_text())
    c = compare(serialize.load(d / A.FOLDED_JSON), synth)
    rows = []
    for part in ("layers", "streams"):
        for name, v in c[part].items():
            e, y = v["est"], v["yosys"]
            if not any(e.values()) and not any(y.values()):
                continue
            lut_err = (e["LUT"] - y["LUT"]) / y["LUT"] if y["LUT"] else (0.0 if not e["LUT"] else float("inf"))
            ok = abs(lut_err) <= 0.25 and e["BRAM18"] == y["BRAM18"] and e["DSP"] == y["DSP"]
            rows.append({"part": "core" if part == "layers" else "fifo+dwc", "layer": name,
                         "LUT est/yosys": f"{e['LUT']}/{y['LUT']}", "LUT err": f"{100 * lut_err:+.0f}%",
                         "FF est/yosys": f"{e['FF']}/{y['FF']}", "BRAM18 est/yosys": f"{e['BRAM18']}/{y['BRAM18']}",
                         "DSP est/yosys": f"{e['DSP']}/{y['DSP']}", "ok": "yes" if ok else "NO"})
    t = c["totals"]
    rows.append({"part": "total", "layer": "(whole top)", "LUT est/yosys": f"{t['est']['LUT']}/{t['yosys']['LUT']}",
                 "LUT err": f"{100 * (t['est']['LUT'] - t['yosys']['LUT']) / max(1, t['yosys']['LUT']):+.1f}%",
                 "FF est/yosys": f"{t['est']['FF']}/{t['yosys']['FF']}",
                 "BRAM18 est/yosys": f"{t['est']['BRAM18']}/{t['yosys']['BRAM18']}",
                 "DSP est/yosys": f"{t['est']['DSP']}/{t['yosys']['DSP']}", "ok": ""})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR,
                    help="folder with model.onnx (metrics.json) of a trained resnet-w2a2")
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench_resnet"), help="build folders (kept, resumed)")
    ap.add_argument("--configs", default="default,zybo", help="comma list of: " + ", ".join(CONFIGS))
    ap.add_argument("--ir-frames", type=int, default=1000)
    ap.add_argument("--rtl-frames", type=int, default=1000, help="RTL frames of the board-folded design")
    ap.add_argument("--rtl-frames-default", type=int, default=4,
                    help="RTL frames at the default folding (2.65 M cycles each)")
    ap.add_argument("--no-yosys", action="store_true", help="stop the builds after rtl (no resource table)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    model = args.model_dir / "model.onnx"
    if not model.is_file():
        print(f"bench_resnet: no {model}; pass --model-dir DIR of `qloom train --model resnet-w2a2 "
              f"--dataset fashion-mnist --out DIR`", file=sys.stderr)
        return 2
    metrics = json.loads((args.model_dir / "metrics.json").read_text()) if (args.model_dir / "metrics.json").is_file() \
        else {}
    label = metrics.get("model", "the model")  # resnet-w2a2 or resnet-w4a4: the folder's own name of it
    configs = [c for c in args.configs.split(",") if c]
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        print(f"bench_resnet: unknown config {unknown[0]!r}; configs: {', '.join(CONFIGS)}", file=sys.stderr)
        return 2
    summary, figures = [], {"model_dir": str(args.model_dir), "test_accuracy": metrics.get("test_accuracy")}
    for name in configs:
        d = args.work / name
        build_s = _build(model, d, CONFIGS[name], not args.no_yosys)
        rtl_frames = args.rtl_frames if name != "default" else args.rtl_frames_default
        v = _verify(d, args.ir_frames, rtl_frames, 16 if name != "default" else 3, args.seed)
        est = json.loads((d / "estimate.json").read_text())
        from qloom.fold.resources import resources
        from qloom.ir import serialize

        now = resources(serialize.load(d / "ir_folded.json"))["totals_with_dma"]  # this code's estimate
        ir, rtl = v.get("ir", {}), v.get("rtl", {})
        row = {"config": name, "II model": est["cycles_per_frame"],
               "II measured": f"{rtl['cycles_per_frame']:.1f}" if rtl else "-",
               "II err": f"{100 * rtl['ii_error']:+.2f}%" if rtl and rtl.get("ii_error") is not None else "-",
               "fps@100MHz": round(est["fps"]),
               "IR frames/mism": f"{ir.get('frames', 0)}/{ir.get('mismatches', '-')}",
               "IR acc": f"{ir['ir_accuracy']:.4f}" if ir.get("ir_accuracy") is not None else "-",
               "RTL frames/mism": f"{rtl.get('frames', 0)}/{rtl.get('mismatches', '-')}",
               "RTL acc": f"{rtl['rtl_accuracy']:.4f}" if rtl.get("rtl_accuracy") is not None else "-",
               "RTL passed": rtl.get("passed", "-"),
               "est LUT/BRAM18": f"{now['LUT']}/{now['BRAM18']}",
               "build s": round(build_s), "RTL s": round(rtl.get("seconds", 0))}
        summary.append(row)
        figures[name] = {"summary": row, "verify": {k: {kk: vv for kk, vv in e.items() if not isinstance(vv, (list, dict))}
                                                    for k, e in v.items()}}
        if not args.no_yosys:
            rows = _layer_rows(d)
            figures[name]["layers"] = rows
            print_table(f"{label} {name}: Yosys synth_xilinx per layer beside the estimate", rows)
    print_table(f"{label} (test accuracy {metrics.get('test_accuracy')}) through qloom", summary)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
