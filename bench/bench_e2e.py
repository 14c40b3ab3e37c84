"""End-to-end bench on trained models: QONNX -> linted RTL -> 10k MNIST frames through Verilator.

    python bench/bench_e2e.py --models DIR/tfc-w1a1/model.onnx DIR/tfc-w2a2/model.onnx ...
    python bench/bench_e2e.py --train          # trains tfc-w1a1, tfc-w2a2, sfc-w2a2 first (recipes)

Per model, one run measures: compile time MODEL.onnx -> stitched, linted RTL (`qloom build
--stop-after rtl`), the Verilator build, RTL simulation of the full test set with random
backpressure (mismatches against the IR, accuracy of the hardware's own outputs against the
QONNX reference's), steady-state cycles per frame and latency, and Yosys time and resources (LUT = slice LUTs, LUTRAM included, as FINN and Vivado count).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from table import print_table  # noqa: E402

# FINN's TFC test folding (PE, SIMD): 64 cycles per frame
FINN_TFC = {"mvu0": (16, 49), "mvu1": (8, 8), "mvu2": (8, 8), "mvu3": (10, 8)}


def _qloom(*args) -> float:
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "qloom.cli", *map(str, args)], capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"qloom {' '.join(map(str, args))} failed:\n{res.stdout}\n{res.stderr}")
    return time.perf_counter() - t0


def bench(model: Path, work: Path, frames: int, synth: bool) -> dict:
    name = model.parent.name or model.stem
    out = work / name
    fold_args = []
    if name.startswith("tfc"):
        folding = work / f"{name}-folding.json"
        folding.write_text(json.dumps({"layers": {k: {"pe": p, "simd": s} for k, (p, s) in FINN_TFC.items()}}))
        fold_args = ["--folding", folding]
    else:
        fold_args = ["--board", "pynq-z2"]
    t_compile = _qloom("build", model, "--out", out, "--stop-after", "rtl", *fold_args)
    t_verify = _qloom("verify", out, "--level", "ir", "--level", "rtl", "--dataset", "mnist", "--frames", frames)
    v = json.loads((out / "verify.json").read_text())["levels"]
    row = {
        "model": name,
        "compile_to_rtl_s": f"{t_compile:.1f}",
        "verilator_build_s": f"{v['rtl']['build_seconds']:.1f}",
        "rtl_verify_s": f"{t_verify:.1f}",
        "frames": v["rtl"]["frames"],
        "rtl_mismatches": v["rtl"]["mismatches"],
        "rtl_acc": f"{v['rtl'].get('rtl_accuracy', float('nan')):.4f}",
        "qonnx_acc": f"{v['ir']['reference_accuracy']:.4f}",
        "II_meas/model": f"{v['rtl']['cycles_per_frame']:.1f}/{v['rtl']['cycles_per_frame_model']}",
        "latency": v["rtl"]["latency_cycles"],
        "sim_fps": f"{v['rtl']['sim_frames_per_second']:,.0f}",
    }
    if synth:
        t_synth = _qloom("build", model, "--out", out, "--resume", *fold_args)
        rep = json.loads((out / "report.json").read_text())
        y = rep["yosys"]["total"]
        row.update({"synth_stage_s": f"{t_synth:.0f}", "yosys_s": f"{rep['yosys']['seconds']:.0f}",
                    "LUT(yosys)": y["slice_LUT"], "FF": y["FF"], "BRAM18": y["BRAM18"], "DSP": y["DSP"],
                    "LUT(est)": rep["totals"]["LUT"], "BRAM18(est)": rep["totals"]["BRAM18"]})
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--models", nargs="*", type=Path, default=[])
    p.add_argument("--train", action="store_true", help="train tfc-w1a1, tfc-w2a2, sfc-w2a2 with their recipes first")
    p.add_argument("--frames", type=int, default=10000)
    p.add_argument("--no-synth", action="store_true")
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "qloom-bench-e2e")
    args = p.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    models = list(args.models)
    if args.train:
        for name in ("tfc-w1a1", "tfc-w2a2", "sfc-w2a2"):
            _qloom("train", "--model", name, "--dataset", "mnist", "--out", args.work / "train" / name, "--quiet")
            models.append(args.work / "train" / name / "model.onnx")
    rows = [bench(m, args.work, args.frames, not args.no_synth) for m in models]
    print_table("end to end: trained model -> RTL -> 10k MNIST frames (python bench/bench_e2e.py)", rows)
    if rows:
        print("FINN reference (TFC-w1a1, same folding): 64 cycles, 9,678 LUT, 26 BRAM18 (FINN's estimate);"
              " 958k frames/s measured on a Pynq-Z1 = 61% of the ideal II")


if __name__ == "__main__":
    main()
