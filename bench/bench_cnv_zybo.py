"""cnv-w2a2 (the qloom zoo CNN for 28x28) folded for the Zybo Z7-20 by `--board` alone, as
`qloom build --board zybo-z7-20` folds it: cycles per frame, frames/s at 100 MHz, the cost
model's and (with --yosys) Yosys synth_xilinx's LUT/FF/BRAM18/DSP against the board, and
(with --rtl N) N random frames through the Verilator RTL with random backpressure
(mismatches, measured steady-state II against the model).

    python bench/bench_cnv_zybo.py                  # folding and estimate (seconds)
    python bench/bench_cnv_zybo.py --yosys --rtl 64 # + Yosys (minutes) + RTL simulation

Random weights of the zoo model (an untrained export, streamlined): the hardware shape, and
so speed and resources, are those of the trained model. `--kpar1` folds with every sliding
window at kpar=1 (one window word per cycle: the design before window parallelism).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_resources import _export  # noqa: E402
from table import print_table  # noqa: E402

from qloom import fold, streamline  # noqa: E402
from qloom.fold.resources import KEYS  # noqa: E402

BOARD = "zybo-z7-20"
CLOCK = 100.0


def folded(work: Path, kpar1: bool):
    g = streamline.run(_export("cnv-w2a2", work))
    if kpar1:  # the search space before window parallelism: every window at kpar=1
        from qloom.fold import auto as auto_mod

        orig = auto_mod.legal_folding
        auto_mod.legal_folding = lambda layer, ch: orig(layer, ch) and ch.get("kpar", 1) == 1
        try:
            return fold.auto_fold(g, board=BOARD, clock_mhz=CLOCK)
        finally:
            auto_mod.legal_folding = orig
    return fold.auto_fold(g, board=BOARD, clock_mhz=CLOCK)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--yosys", action="store_true", help="synthesize with Yosys (minutes)")
    ap.add_argument("--rtl", type=int, default=0, metavar="N", help="run N random frames through the RTL")
    ap.add_argument("--kpar1", action="store_true", help="windows at kpar=1 (the design before this change)")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench_cnv_zybo_"))
    t0 = time.time()
    g = folded(work, args.kpar1)
    rep = fold.report(g, CLOCK)
    cap = fold.get_board(BOARD).capacity
    print(f"cnv-w2a2 on {BOARD} (auto fold {time.time() - t0:.1f} s): {rep['cycles_per_frame']:,} cycles/frame, "
          f"{rep['fps']:,.0f} frames/s at {CLOCK:g} MHz, bottleneck {rep.get('bottleneck')}")
    rows = []
    for l in rep["layers"]:
        if not l["hardware"]:
            continue
        layer = g.layer(l["name"])
        fold_s = " ".join(f"{k}={getattr(layer, k)}" for k in ("pe", "simd", "kpar") if hasattr(layer, k))
        rows.append({"layer": f"{l['name']} ({l['kind']} {fold_s})", "cycles": l["cycles"],
                     **{k: l["resources"][k] for k in KEYS}, "Yosys LUT": ""})
    rows.append({"layer": "total, model (glue included)", "cycles": rep["cycles_per_frame"],
                 **{k: rep["totals"][k] for k in KEYS}, "Yosys LUT": ""})
    rows.append({"layer": f"{BOARD} capacity", "cycles": "", **{k: cap[k] for k in KEYS}, "Yosys LUT": ""})
    if args.yosys or args.rtl:
        from qloom.backends.rtl import generate

        rtl = work / "rtl"
        design = generate(g, rtl)
    if args.yosys:
        from qloom.synth import synthesize

        t1 = time.time()
        syn = synthesize(rtl)
        tot = syn["total"]
        lut = tot["slice_LUT"]  # logic + LUTRAM, as the model counts
        per = {}
        for e in syn["layers"].values():
            if e.get("layer"):
                per[e["layer"]] = per.get(e["layer"], 0) + e["slice_LUT"]
        for row in rows:
            name = row["layer"].split(" ")[0]
            if name in per:
                row["Yosys LUT"] = per[name]
        rows.append({"layer": f"total, Yosys synth_xilinx ({time.time() - t1:.0f} s)", "cycles": "",
                     "LUT": lut, "FF": tot["FF"], "BRAM18": tot["BRAM18"], "DSP": tot["DSP"], "Yosys LUT": lut})
        fits = all(v <= cap[k] for k, v in zip(KEYS, (lut, tot["FF"], tot["BRAM18"], tot["DSP"])))
        print(f"Yosys: fits {BOARD}: {fits}")
    print_table(f"cnv-w2a2 (random weights) folded for {BOARD} by --board alone, {CLOCK:g} MHz", rows)
    if args.rtl:
        from qloom import sim
        from qloom.testing.layers import random_values
        from qloom.verify.rtl import run_rtl

        first = g.layers.index(g.hardware_layers[0])
        x = random_values(np.random.default_rng(0), g.hardware_layers[0].in_dtype,
                          (args.rtl, *design["dma"]["in"]["shape"]))
        t1 = time.time()
        r = run_rtl(rtl, x, seed=1, stall_prob=0.3, steady_frames=min(args.rtl, 16))
        expect = sim.execute(g, x, start=first)
        bad = int(np.sum(np.any(r["outputs"].reshape(len(x), -1) != expect.reshape(len(x), -1), axis=1)))
        model = design["cycles_per_frame_model"]
        print(f"RTL ({time.time() - t1:.0f} s): {args.rtl} frames with random backpressure, {bad} mismatching; "
              f"steady II {r['cycles_per_frame']:.1f} cycles vs model {model} "
              f"({100 * (r['cycles_per_frame'] - model) / model:+.2f}%)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
