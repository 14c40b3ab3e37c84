"""Trained cnv-w2a2 (Fashion-MNIST) on the Zybo Z7-20: qloom's `--board` folding against FINN's.

One run, two foldings of the same trained model:

- `board`: `qloom build --board zybo-z7-20` alone (the fastest folding the cost model fits);
- `finn`:  FINN's own CNV-w2a2 folding (FINN_FOLDING below), applied as a qloom folding file.

For each: cycles per frame and frames/s at 100 MHz (the cycle model), the cost model's and
(--yosys) Yosys synth_xilinx's LUT/FF/BRAM18/DSP against the board, and the first --frames
Fashion-MNIST test images (default all 10,000) through the Verilator RTL with random
backpressure: mismatching frames against the IR, the RTL's own accuracy, and the measured
stall-free steady-state II against the model.

    python bench/bench_cnv_zybo.py --yosys                  # the whole bench (Yosys: minutes per folding)
    python bench/bench_cnv_zybo.py --frames 200             # quick: no Yosys, 200 frames
    python bench/bench_cnv_zybo.py --random --frames 64     # untrained zoo weights, no model folder needed
    python bench/bench_cnv_zybo.py --kpar1                  # the `board` folding with every window at kpar=1

--model-dir is a `qloom train` folder (model.onnx, metrics.json); the default is the shared
checkpoint of this session's default recipe. Make one with
`qloom train --model cnv-w2a2 --dataset fashion-mnist --out DIR`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_resources import _export  # noqa: E402
from table import print_table  # noqa: E402

from qloom import fold, sim, streamline  # noqa: E402
from qloom.errors import QloomError  # noqa: E402
from qloom.fold.resources import KEYS  # noqa: E402

BOARD = "zybo-z7-20"
CLOCK = 100.0
DEFAULT_MODEL_DIR = Path("/work/ckpt/cnv-w2a2@fashion-mnist")
II_TOLERANCE = 0.02  # the bar: measured steady-state II within 2% of the cycle model

# FINN's CNV-w2a2 folding: finn-examples build/bnn-pynq/folding_config/cnv-w2a2_folding_config.json
# (its Pynq-Z1 build; the same (PE, SIMD) as `fold_cnv_small` in finn's end-to-end bnn_pynq
# tests), for FINN's CNV on CIFAR-10: six 3x3 convs 3-64-64 | 64-128-128 | 128-256-256 and FCs
# 256-512-512-10. Ours for 28x28 has four convs 1-32-32 | 32-64-64 and FCs 1024-128-10; layers
# map by position: conv i -> FINN's conv i (i = 0..3), our first FC -> FINN's first FC (the same
# 131,072 weights: 256x512 there, 1024x128 here), our classifier -> FINN's classifier. FINN's
# conv4, conv5 and middle FC have no counterpart. Each window takes its conv's SIMD, as FINN
# sets it (swg0: FINN's SIMD 3 is the whole 3-channel input pixel; ours has one channel), at
# kpar 1 (FINN's window emits one SIMD group per cycle); FINN's 2D max-pool takes a whole
# pixel per cycle (pe = C). Memory styles stay auto (qloom places them, as with --board).
FINN_FOLDING = {
    "swg0": {"simd": 1},
    "mvu0": {"pe": 8, "simd": 3},    # FINN conv0 (MVAU 0):  PE 8,  SIMD 3
    "swg1": {"simd": 16},
    "mvu1": {"pe": 16, "simd": 16},  # FINN conv1 (MVAU 1):  PE 16, SIMD 16
    "pool0": {"pe": 32},
    "swg2": {"simd": 16},
    "mvu2": {"pe": 8, "simd": 16},   # FINN conv2 (MVAU 2):  PE 8,  SIMD 16
    "swg3": {"simd": 16},
    "mvu3": {"pe": 8, "simd": 16},   # FINN conv3 (MVAU 3):  PE 8,  SIMD 16
    "pool1": {"pe": 64},
    "mvu4": {"pe": 1, "simd": 2},    # FINN fc0   (MVAU 6):  PE 1,  SIMD 2
    "mvu5": {"pe": 5, "simd": 1},    # FINN fc2   (MVAU 8):  PE 5,  SIMD 1
}
FOLDINGS = ("board", "finn")


def load_graph(args, work: Path):
    """The streamlined IR of the trained model (or of the untrained zoo export with --random)."""
    if args.random:
        return streamline.run(_export("cnv-w2a2", work)), None
    onnx = args.model_dir / "model.onnx"
    if not onnx.is_file():
        raise QloomError(f"{onnx} not found: pass --model-dir DIR of a `qloom train --model cnv-w2a2 "
                         f"--dataset fashion-mnist --out DIR` run, or --random for untrained weights")
    metrics = args.model_dir / "metrics.json"
    meta = json.loads(metrics.read_text()) if metrics.is_file() else {}
    return streamline.run(onnx, name="cnv-w2a2"), meta


def fold_board(g, kpar1: bool):
    """`--board` alone; with kpar1 the search space before window parallelism."""
    if not kpar1:
        return fold.auto_fold(g, board=BOARD, clock_mhz=CLOCK)
    from qloom.fold import auto as auto_mod

    orig = auto_mod.legal_folding
    auto_mod.legal_folding = lambda layer, ch: orig(layer, ch) and ch.get("kpar", 1) == 1
    try:
        return fold.auto_fold(g, board=BOARD, clock_mhz=CLOCK)
    finally:
        auto_mod.legal_folding = orig


def fold_finn(g, work: Path):
    """FINN's folding written as a qloom folding file and applied as `qloom build --folding` does."""
    path = work / "cnv-w2a2_finn_folding.json"
    path.write_text(json.dumps({"version": 1, "graph": "cnv-w2a2", "layers": FINN_FOLDING}, indent=2) + "\n")
    return fold.apply_folding_file(g, path)


def fold_text(layer) -> str:
    return " ".join(f"{k}={getattr(layer, k)}" for k in ("pe", "simd", "kpar") if hasattr(layer, k))


def yosys(rtl: Path) -> dict:
    from qloom.synth import synthesize

    t0 = time.time()
    syn = synthesize(rtl)
    tot = syn["total"]
    per: dict[str, int] = {}
    for e in syn["layers"].values():
        if e.get("layer"):
            per[e["layer"]] = per.get(e["layer"], 0) + e["slice_LUT"]
    # slice_LUT: logic + LUTRAM, as the cost model counts
    return {"LUT": tot["slice_LUT"], "FF": tot["FF"], "BRAM18": tot["BRAM18"], "DSP": tot["DSP"],
            "per_layer_LUT": per, "seconds": round(time.time() - t0)}


def test_frames(g, args):
    """(float model inputs, labels) of the first --frames test images, or random inputs with --random."""
    from qloom.verify.inputs import dataset_inputs, random_inputs

    if args.random:
        return random_inputs(g, args.frames, seed=0), None
    return dataset_inputs(g, args.dataset, args.frames)


def rtl_run(g, rtl: Path, x: np.ndarray, labels, design: dict, cache: Path | None = None) -> dict:
    """All frames through the RTL with random backpressure, compared with the IR frame by frame."""
    from qloom.verify.rtl import run_rtl

    hw_in = sim.execute(g, x, stop=0)  # the host-side InputQuant: integer frames of the first hardware layer
    want = sim.execute(g, hw_in, start=1)
    t0 = time.time()
    r = run_rtl(rtl, hw_in, seed=1, stall_prob=0.3, steady_frames=16, cache_dir=cache)
    n = len(x)
    bad = int(np.any(r["outputs"].reshape(n, -1) != want.reshape(n, -1), axis=1).sum())
    steady_bad = int(np.any(r["steady_outputs"].reshape(16, -1) != want[np.arange(16) % n].reshape(16, -1), axis=1).sum())
    model = design["cycles_per_frame_model"]
    out = {"frames": n, "mismatches": bad, "steady_mismatches": steady_bad,
           "protocol_errors": r["protocol_errors"], "extra_words": r["extra_words"],
           "ii": r["cycles_per_frame"], "ii_model": model, "ii_error": (r["cycles_per_frame"] - model) / model,
           "sim_frames_per_s": r["frames_per_second"], "sim_cycles_per_s": r["cycles_per_second"],
           "seconds": round(time.time() - t0)}
    if labels is not None:
        out["rtl_accuracy"] = float(np.mean(np.argmax(sim.logits(g, r["outputs"]), axis=1) == labels))
        out["ir_accuracy"] = float(np.mean(np.argmax(sim.logits(g, want), axis=1) == labels))
    return out


def layer_rows(g, rep: dict, syn: dict | None) -> list[dict]:
    cap = fold.get_board(BOARD).capacity
    per = (syn or {}).get("per_layer_LUT", {})
    rows = [{"layer": f"{l['name']} ({l['kind']} {fold_text(g.layer(l['name']))})", "cycles": l["cycles"],
             **{k: l["resources"][k] for k in KEYS}, "Yosys LUT": per.get(l["name"], "")}
            for l in rep["layers"] if l["hardware"]]
    rows.append({"layer": "total, model (glue included)", "cycles": rep["cycles_per_frame"],
                 **{k: rep["totals"][k] for k in KEYS}, "Yosys LUT": syn["LUT"] if syn else ""})
    rows.append({"layer": f"{BOARD} capacity", "cycles": "", **{k: cap[k] for k in KEYS}, "Yosys LUT": ""})
    return rows


def summary_row(name: str, rep: dict, syn: dict | None, rtl: dict | None) -> dict:
    cap = fold.get_board(BOARD).capacity
    row = {"folding": name, "cycles/frame": f"{rep['cycles_per_frame']:,}",
           "frames/s @100MHz": f"{rep['fps']:,.0f}",
           "est LUT/BRAM18/DSP": "/".join(f"{rep['totals'][k]:,}" for k in ("LUT", "BRAM18", "DSP"))}
    if syn:
        row["Yosys LUT/FF/BRAM18/DSP"] = "/".join(f"{syn[k]:,}" for k in KEYS)
        row["fits"] = all(syn[k] <= cap[k] for k in KEYS)
    if rtl:
        row["RTL frames"] = f"{rtl['frames']:,}"
        row["mismatches"] = rtl["mismatches"] + rtl["steady_mismatches"] + rtl["protocol_errors"] + rtl["extra_words"]
        row["measured II"] = f"{rtl['ii']:,.1f} ({100 * rtl['ii_error']:+.2f}%)"
        if "rtl_accuracy" in rtl:
            row["RTL accuracy"] = f"{100 * rtl['rtl_accuracy']:.2f}%"
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR, help="a `qloom train` folder (model.onnx)")
    ap.add_argument("--random", action="store_true", help="untrained zoo weights and random inputs (no model folder)")
    ap.add_argument("--dataset", default="fashion-mnist", help="test images to run (default fashion-mnist)")
    ap.add_argument("--frames", type=int, default=10_000, help="test frames through the RTL (default 10000; 0: none)")
    ap.add_argument("--finn-frames", type=int, metavar="N", help="frames for the finn folding (default --frames; its "
                    "II is 28x longer, so 10k frames take ~28x the simulation time)")
    ap.add_argument("--yosys", action="store_true", help="synthesize each folding with Yosys (minutes each)")
    ap.add_argument("--foldings", default=",".join(FOLDINGS), help="comma list of board, finn (default both)")
    ap.add_argument("--kpar1", action="store_true", help="the board folding with windows at kpar=1 (the design before)")
    ap.add_argument("--jobs", type=int, default=2, help="Yosys and RTL runs in parallel (default 2)")
    ap.add_argument("--sim-cache", type=Path, help="keep Verilator builds here (default: beside each design)")
    ap.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = ap.parse_args(argv)
    names = [f for f in args.foldings.split(",") if f]
    if any(f not in FOLDINGS for f in names):
        raise SystemExit(f"--foldings {args.foldings!r}: choose from {', '.join(FOLDINGS)}")
    work = Path(tempfile.mkdtemp(prefix="bench_cnv_zybo_"))
    g0, meta = load_graph(args, work)
    source = "random weights" if args.random else f"trained, {args.model_dir}"
    if meta:
        source += f", test accuracy {100 * meta.get('test_accuracy', float('nan')):.2f}%"
    print(f"cnv-w2a2 ({source}); work folder {work}")

    from qloom.backends.rtl import generate

    built = {}
    for name in names:
        t0 = time.time()
        g = fold_board(g0, args.kpar1) if name == "board" else fold_finn(g0, work)
        fold.save_folding(g, work / f"folding_{name}.json")
        g = fold.resolve_mem_styles(g)
        rep = fold.report(g, CLOCK, board=BOARD)
        rtl = work / name / "rtl"
        rtl.parent.mkdir()
        design = generate(g, rtl) if (args.yosys or args.frames) else None
        built[name] = (g, rep, rtl, design)
        print(f"{name}: {rep['cycles_per_frame']:,} cycles/frame, {rep['fps']:,.0f} frames/s at {CLOCK:g} MHz, "
              f"bottleneck {rep.get('bottleneck')} (fold + RTL {time.time() - t0:.1f} s); folding file "
              f"{work / f'folding_{name}.json'}")

    syn, rtl_res, jobs = {}, {}, {}
    results = {"model": source, "board": BOARD, "clock_mhz": CLOCK, "finn_folding": FINN_FOLDING, "foldings": {}}
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:  # Yosys and Verilator run as subprocesses
        if args.yosys:  # the longest jobs first
            jobs.update({pool.submit(yosys, b[2]): ("yosys", n) for n, b in built.items()})
        if args.frames:
            x, labels = test_frames(g0, args)
            for name, (g, rep, rtl, design) in built.items():
                n = args.frames if name == "board" or args.finn_frames is None else min(args.finn_frames, args.frames)
                job = pool.submit(rtl_run, g, rtl, x[:n], None if labels is None else labels[:n], design, args.sim_cache)
                jobs[job] = ("rtl", name)
        for job in as_completed(jobs):
            kind, name = jobs[job]
            if kind == "yosys":
                try:
                    syn[name] = s = job.result()
                except QloomError as exc:  # a failed or stopped synthesis: the other jobs' figures still count
                    print(f"Yosys {name}: failed ({exc})", flush=True)
                    continue
                print(f"Yosys {name} ({s['seconds']} s): " + ", ".join(f"{s[k]:,} {k}" for k in KEYS), flush=True)
            else:
                rtl_res[name] = r = job.result()
                print(f"RTL {name} ({r['seconds']} s, {r['sim_cycles_per_s']:,.0f} cycles/s): {r['frames']:,} frames "
                      f"with random backpressure, {r['mismatches']} mismatching; steady II {r['ii']:.1f} vs model "
                      f"{r['ii_model']} ({100 * r['ii_error']:+.2f}%)", flush=True)
            if args.json:  # after every job: a run stopped early keeps what it measured
                results["partial"] = {"yosys": syn, "rtl": rtl_res}
                args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")

    results.pop("partial", None)
    for name, (g, rep, rtl, design) in built.items():
        s = syn.get(name)
        title = f"cnv-w2a2 ({source}), {name} folding, {BOARD}, {CLOCK:g} MHz"
        if s:
            title += f" (Yosys {s['seconds']} s)"
        print_table(title, layer_rows(g, rep, s))
        results["foldings"][name] = {"folding": fold.folding_dict(g)["layers"], "cycles_per_frame": rep["cycles_per_frame"],
                                     "fps": rep["fps"], "estimate": rep["totals"], "yosys": s, "rtl": rtl_res.get(name)}
    print_table(f"cnv-w2a2 ({source}) on {BOARD}: qloom --board against FINN's folding",
                [summary_row(n, built[n][1], syn.get(n), rtl_res.get(n)) for n in built])
    ok = True
    for name, r in rtl_res.items():
        ok &= r["mismatches"] == 0 and r["steady_mismatches"] == 0 and abs(r["ii_error"]) <= II_TOLERANCE
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except QloomError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
