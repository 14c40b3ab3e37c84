"""One conv layer at MMV 1, 2 and 4 (FINN's MMV: output pixels per cycle): cycles, the cost
model's and (--yosys) Yosys synth_xilinx's LUT/FF/BRAM18 per core, and (--rtl) random frames
through the Verilator RTL with random backpressure (mismatches, measured II against the model).

The layer: a 3x3 "same" convolution over 28x28x4 (2-bit unsigned activations, 2-bit signed
weights, 8 output channels with 3 thresholds), the window at SIMD = C and KPAR = KH*KW (a whole
window per word: where MMV starts to matter) and the MatVec fully unfolded (PE = MH, SIMD = MW),
both at the same MMV.

    python bench/bench_mmv_layer.py --rtl --yosys --json mmv_layer.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from qloom import fold, sim  # noqa: E402
from qloom.backends.rtl import generate  # noqa: E402
from qloom.ir import IntType, SlidingWindow  # noqa: E402

MMVS = (1, 2, 4)


def layer_graph(mmv: int):
    from dataclasses import replace

    from rtl_helpers import _graph, _mv

    u2, s2 = IntType(2, False), IntType(2, True)
    s = SlidingWindow(name="swg", in_shape=(28, 28, 4), in_dtype=u2, kernel=(3, 3), pad=(1, 1, 1, 1), simd=4, kpar=9)
    m = _mv(np.random.default_rng(0), "conv", s.out_shape, u2, s2, 8, 3, pe=8, simd=36)
    return _graph("mmv_layer", [replace(s, mmv=mmv), replace(m, mmv=mmv)])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rtl", action="store_true", help="Verilator: 8 random frames with random backpressure")
    ap.add_argument("--yosys", action="store_true", help="Yosys synth_xilinx per design (a minute or two each)")
    ap.add_argument("--work", type=Path, help="build folder (default: a temporary one; Yosys needs it off /tmp)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    work = Path(args.work or tempfile.mkdtemp(prefix="bench_mmv_layer_"))
    rows = []
    for mmv in MMVS:
        g = layer_graph(mmv)
        rep = fold.report(g, 100.0)
        d = work / f"mmv{mmv}"
        design = generate(g, d)
        est = {l["name"]: l["resources"] for l in rep["layers"] if l["hardware"]}
        row = {"mmv": mmv, "cycles": rep["cycles_per_frame"], "est_total": rep["totals"], "est": est}
        if args.rtl:
            from qloom.verify import rtl
            from rtl_helpers import random_values

            x = random_values(np.random.default_rng(1), IntType(2, False), (8, *design["dma"]["in"]["shape"]))
            expect = sim.execute(g, x, start=1)
            r = rtl.run_rtl(d, x, seed=2, stall_prob=0.3, steady_frames=8)
            row["rtl"] = {"frames": 8, "mismatches": int((r["outputs"].reshape(expect.shape) != expect)
                                                         .reshape(8, -1).any(axis=1).sum()),
                          "ii": r["cycles_per_frame"], "protocol_errors": r["protocol_errors"]}
        if args.yosys:
            from qloom.synth import synthesize

            t0 = time.time()
            syn = synthesize(d)
            row["yosys"] = {"total_LUT": syn["total"]["slice_LUT"], "total_BRAM18": syn["total"]["BRAM18"],
                            "seconds": round(time.time() - t0),
                            **{e["layer"]: {"LUT": e["slice_LUT"], "BRAM18": e["BRAM18"]}
                               for e in syn["layers"].values() if e.get("layer") and e.get("part", "core") == "core"}}
        rows.append(row)
        print(json.dumps(row), flush=True)
        if args.json:
            args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
