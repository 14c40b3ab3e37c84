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
    python bench/bench_cnv_zybo.py --board zcu104 --foldings board --frames 200   # a bigger board (MMV)
    python bench/bench_cnv_zybo.py --board zcu104 --foldings board --no-mmv       # ... searched without MMV
    python bench/bench_cnv_zybo.py --foldings finn --shards 10 --jobs 1 --json finn.json   # 10 checkpoints
    python bench/bench_cnv_zybo.py --foldings finn --frame-start 5000 --frames 5000 --json b.json
    python bench/bench_cnv_zybo.py --combine a.json b.json --json all.json   # frame ranges of separate runs

Shards: the RTL frames run as contiguous frame ranges, one simulator process each (a fresh
reset, the same compiled simulator), --jobs at a time; a range's backpressure seed is 1 + its
first frame, so a range gives the same run whether it is a shard of one invocation or a
--frame-start run of its own, and `--shards 1` from frame 0 is the unsharded bench (seed 1).
Combined results are honest sums: frames, mismatching frames, protocol/TLAST errors and extra
words are added over the ranges, accuracies counted over all frames, and the stall-free II is
measured in every range (its 16 steady frames from that range) and reported per range; the
combined II is the range whose II is furthest from the model, and the 2% bar holds for every
range. --json is rewritten after every finished range, so a stopped run keeps its ranges.

--model-dir is a `qloom train` folder (model.onnx, metrics.json); the default is the shared
checkpoint of this session's default recipe. Make one with
`qloom train --model cnv-w2a2 --dataset fashion-mnist --out DIR`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from itertools import pairwise
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


def fold_board(g, kpar1: bool, no_mmv: bool = False):
    """`--board` alone; with kpar1 the search space before window parallelism, with no_mmv the
    one before MMV (one output pixel per cycle)."""
    if not (kpar1 or no_mmv):
        return fold.auto_fold(g, board=BOARD, clock_mhz=CLOCK)
    from qloom.fold import auto as auto_mod

    orig = auto_mod.legal_folding
    auto_mod.legal_folding = lambda layer, ch: (orig(layer, ch) and ch.get("mmv", 1) == 1
                                                and (not kpar1 or ch.get("kpar", 1) == 1))
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
    return " ".join(f"{k}={getattr(layer, k)}" for k in ("pe", "simd", "kpar", "mmv")
                    if hasattr(layer, k) and not (k == "mmv" and layer.mmv == 1))


def yosys_counts(syn: dict) -> dict:
    """synthesize()'s result -> totals and per-layer counts split as the cost model splits them:
    `per_layer` the layer's core alone (fold.report's layers), `per_stream` the FIFO and width
    converter in front of it (fold.report's streams), `glue` the rest: the cells of the top module
    itself and the instances of no layer (the TLAST generator u_tlast), named in glue["parts"].
    LUT is slice_LUT (logic + LUTRAM/SRL), as the cost model counts."""
    tot = syn["total"]
    per: dict[str, dict] = {}
    streams: dict[str, dict] = {}
    top = syn.get("top_glue") or {}
    glue = {"LUT": top.get("slice_LUT", 0), "BRAM18": top.get("BRAM18", 0), "parts": ["top module cells"]}
    for inst, e in syn["layers"].items():
        if e.get("layer"):
            have = (per if e.get("part", "core") == "core" else streams).setdefault(e["layer"], {"LUT": 0, "BRAM18": 0})
        else:
            have = glue
            glue["parts"].append(f"{inst} ({e['module']})")
        have["LUT"] += e["slice_LUT"]
        have["BRAM18"] += e["BRAM18"]
    return {"LUT": tot["slice_LUT"], "FF": tot["FF"], "BRAM18": tot["BRAM18"], "DSP": tot["DSP"],
            "per_layer": per, "per_stream": streams, "glue": glue}


def yosys(rtl: Path) -> dict:
    from qloom.synth import synthesize

    t0 = time.time()
    out = yosys_counts(synthesize(rtl))
    out["seconds"] = round(time.time() - t0)
    return out


def test_frames(g, args):
    """(float model inputs, labels) of test images --frame-start .. --frame-start + --frames, or
    random inputs with --random (the same frames whatever the range: one seeded draw)."""
    from qloom.verify.inputs import dataset_inputs, random_inputs

    end = args.frame_start + args.frames
    if args.random:
        return random_inputs(g, end, seed=0)[args.frame_start:], None
    x, labels = dataset_inputs(g, args.dataset, end)
    return x[args.frame_start:], labels[args.frame_start:]


def shard_bounds(n: int, shards: int) -> list[tuple[int, int]]:
    """n frames as `shards` contiguous (start, stop) ranges of near-equal size (none empty)."""
    shards = max(1, min(int(shards), n))
    edges = [n * i // shards for i in range(shards + 1)]
    return list(pairwise(edges))


class RtlFolding:
    """One folding's RTL frames: the IR's answers computed once, the simulator built once (under
    a lock: shards of one folding share it), then each range run by `shard`."""

    def __init__(self, g, rtl: Path, x: np.ndarray, labels, design: dict, first: int, cache: Path | None):
        self.g, self.rtl, self.design, self.first, self.cache = g, rtl, design, first, cache
        self.hw_in = sim.execute(g, x, stop=0)  # the host-side InputQuant: integer frames of the first hardware layer
        self.want = sim.execute(g, self.hw_in, start=1)
        self.labels = labels
        self._lock = threading.Lock()
        self._built = False

    def shard(self, a: int, b: int) -> dict:
        """Frames a..b (offsets in this run) through the RTL with random backpressure, against the IR."""
        from qloom.verify.rtl import build_simulator, run_rtl

        with self._lock:
            if not self._built:
                build_simulator(self.rtl, cache_dir=self.cache)
                self._built = True
        start = self.first + a  # the frame's index in the test set
        t0 = time.time()
        r = run_rtl(self.rtl, self.hw_in[a:b], seed=1 + start, stall_prob=0.3, steady_frames=16, cache_dir=self.cache)
        n, want = b - a, self.want[a:b]
        bad = int(np.any(r["outputs"].reshape(n, -1) != want.reshape(n, -1), axis=1).sum())
        steady_bad = int(np.any(r["steady_outputs"].reshape(16, -1) != want[np.arange(16) % n].reshape(16, -1),
                                axis=1).sum())
        model = self.design["cycles_per_frame_model"]
        out = {"range": [start, start + n], "frames": n, "seed": 1 + start, "mismatches": bad,
               "steady_mismatches": steady_bad, "protocol_errors": r["protocol_errors"],
               "tlast_errors": r["tlast_errors"], "extra_words": r["extra_words"],
               "ii": r["cycles_per_frame"], "ii_model": model, "ii_error": (r["cycles_per_frame"] - model) / model,
               "sim_cycles": r["sim_cycles"], "sim_seconds": r["sim_seconds"], "seconds": round(time.time() - t0)}
        if self.labels is not None:
            out["rtl_correct"] = int(np.sum(np.argmax(sim.logits(self.g, r["outputs"]), axis=1) == self.labels[a:b]))
            out["ir_correct"] = int(np.sum(np.argmax(sim.logits(self.g, want), axis=1) == self.labels[a:b]))
        return out


SUMMED = ("frames", "mismatches", "steady_mismatches", "protocol_errors", "tlast_errors", "extra_words", "sim_cycles")


def combine_shards(shards: list[dict]) -> dict:
    """Range results -> one record: counts summed, accuracies over all frames, per-range IIs kept
    and the range furthest from the model as the II. Overlapping ranges are an error."""
    shards = sorted(shards, key=lambda r: r["range"][0])
    for p, q in pairwise(shards):
        if q["range"][0] < p["range"][1]:
            raise QloomError(f"frame ranges {p['range']} and {q['range']} overlap: they cannot be combined")
    if len({r["ii_model"] for r in shards}) != 1:
        raise QloomError("the ranges are of designs with different model IIs: not one folding")
    worst = max(shards, key=lambda r: abs(r["ii_error"]))
    sim_seconds = sum(r["sim_seconds"] for r in shards)
    out = {k: sum(r.get(k, 0) for r in shards) for k in SUMMED}
    covered = [r["range"] for r in shards]
    merged = [list(covered[0])]
    for a, b in covered[1:]:
        if a == merged[-1][1]:
            merged[-1][1] = b
        else:
            merged.append([a, b])
    out.update({"ranges": merged, "ii": worst["ii"], "ii_model": worst["ii_model"], "ii_error": worst["ii_error"],
                "ii_per_shard": [r["ii"] for r in shards], "ii_worst_range": worst["range"],
                "ii_within_tolerance_every_shard": all(abs(r["ii_error"]) <= II_TOLERANCE for r in shards),
                "sim_seconds": sim_seconds, "seconds": sum(r["seconds"] for r in shards),
                "sim_cycles_per_s": out["sim_cycles"] / sim_seconds if sim_seconds > 0 else None,
                "sim_frames_per_s": out["frames"] / sim_seconds if sim_seconds > 0 else None,
                "shards": shards})
    if all("rtl_correct" in r for r in shards):
        out["rtl_accuracy"] = sum(r["rtl_correct"] for r in shards) / out["frames"]
        out["ir_accuracy"] = sum(r["ir_correct"] for r in shards) / out["frames"]
    return out


def rtl_ok(r: dict) -> bool:
    return (r["mismatches"] == 0 and r["steady_mismatches"] == 0 and r["protocol_errors"] == 0
            and r.get("tlast_errors", 0) == 0 and r["extra_words"] == 0
            and all(abs(s["ii_error"]) <= II_TOLERANCE for s in r.get("shards", [r])))


def layer_rows(g, rep: dict, syn: dict | None) -> list[dict]:
    """Per layer, like with like: the core's estimate against Yosys' count of the core, and the
    stream in front of it (FIFO + width converter) estimated against Yosys' count of it."""
    cap = fold.get_board(BOARD).capacity
    per = (syn or {}).get("per_layer", {})
    per_stream = (syn or {}).get("per_stream", {})
    streams = rep.get("streams", {})
    blank = {"Yosys LUT": "", "Yosys BRAM18": "", "stream LUT": "", "stream Yosys LUT": ""}
    rows = []
    for l in rep["layers"]:
        if not l["hardware"]:
            continue
        y, st, ys = per.get(l["name"], {}), streams.get(l["name"], {}), per_stream.get(l["name"], {})
        rows.append({"layer": f"{l['name']} ({l['kind']} {fold_text(g.layer(l['name']))})", "cycles": l["cycles"],
                     **{k: l["resources"][k] for k in KEYS}, "Yosys LUT": y.get("LUT", ""),
                     "Yosys BRAM18": y.get("BRAM18", ""), "stream LUT": st.get("LUT", ""),
                     "stream Yosys LUT": ys.get("LUT", "")})
    est_st = {k: sum(v[k] for v in streams.values()) for k in KEYS}
    rows.append({"layer": "streams (FIFOs + width converters)", "cycles": "", **est_st, **blank,
                 "Yosys LUT": sum(v["LUT"] for v in per_stream.values()) if syn else "",
                 "Yosys BRAM18": sum(v["BRAM18"] for v in per_stream.values()) if syn else ""})
    if syn:
        rows.append({"layer": "glue: top cells, TLAST (Yosys only)", "cycles": "", **dict.fromkeys(KEYS, ""), **blank,
                     "Yosys LUT": syn["glue"]["LUT"], "Yosys BRAM18": syn["glue"]["BRAM18"]})
    rows.append({"layer": "total, model (cores + streams)", "cycles": rep["cycles_per_frame"],
                 **{k: rep["totals"][k] for k in KEYS}, **blank, "Yosys LUT": syn["LUT"] if syn else "",
                 "Yosys BRAM18": syn["BRAM18"] if syn else ""})
    rows.append({"layer": f"{BOARD} capacity", "cycles": "", **{k: cap[k] for k in KEYS}, **blank})
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
        ranges = rtl.get("ranges", [])
        if ranges != [[0, rtl["frames"]]]:
            row["frame ranges"] = ", ".join(f"{a}-{b - 1}" for a, b in ranges)
        row["mismatches"] = (rtl["mismatches"] + rtl["steady_mismatches"] + rtl["protocol_errors"]
                             + rtl.get("tlast_errors", 0) + rtl["extra_words"])
        row["measured II"] = f"{rtl['ii']:,.1f} ({100 * rtl['ii_error']:+.2f}%)"
        if len(rtl.get("shards", [])) > 1:
            row["measured II"] += f", worst of {len(rtl['shards'])} ranges"
        if "rtl_accuracy" in rtl:
            row["RTL accuracy"] = f"{100 * rtl['rtl_accuracy']:.2f}%"
    return row


def combine_files(paths: list[Path], out_json: Path | None) -> int:
    """--combine: the frame ranges of several runs' --json files (the same model and foldings) as one result."""
    runs = [json.loads(p.read_text()) for p in paths]
    first = runs[0]
    for p, r in zip(paths, runs):
        for key in ("model", "board", "clock_mhz"):
            if r.get(key) != first.get(key):
                raise QloomError(f"{p}: {key} {r.get(key)!r} is not {paths[0]}'s {first.get(key)!r}: not one bench")
    results = {k: first[k] for k in ("model", "board", "clock_mhz", "finn_folding")}
    results.update({"combined_from": [str(p) for p in paths], "foldings": {}})
    for p, r in zip(paths, runs):
        for name, f in r["foldings"].items():
            have = results["foldings"].setdefault(name, {**f, "yosys": None, "rtl": None, "_shards": []})
            if f["folding"] != have["folding"]:
                raise QloomError(f"{p}: folding {name} is not the one of the other files")
            if f.get("yosys") and not have["yosys"]:
                have["yosys"] = f["yosys"]
            if f.get("rtl"):
                have["_shards"] += f["rtl"].get("shards") or []
    for name, f in results["foldings"].items():
        shards = f.pop("_shards")
        f["rtl"] = combine_shards(shards) if shards else None
    rows = [summary_row(n, {"cycles_per_frame": f["cycles_per_frame"], "fps": f["fps"], "totals": f["estimate"]},
                        f["yosys"], f["rtl"]) for n, f in results["foldings"].items()]
    print_table(f"cnv-w2a2 ({results['model']}) on {results['board']}: combined from {len(paths)} runs", rows)
    if out_json:
        out_json.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return 0 if all(rtl_ok(f["rtl"]) for f in results["foldings"].values() if f["rtl"]) else 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR, help="a `qloom train` folder (model.onnx)")
    ap.add_argument("--random", action="store_true", help="untrained zoo weights and random inputs (no model folder)")
    ap.add_argument("--dataset", default="fashion-mnist", help="test images to run (default fashion-mnist)")
    ap.add_argument("--frames", type=int, default=10_000, help="test frames through the RTL (default 10000; 0: none)")
    ap.add_argument("--frame-start", type=int, default=0, metavar="S", help="start at test frame S (default 0)")
    ap.add_argument("--finn-frames", type=int, metavar="N", help="frames for the finn folding (default --frames; its "
                    "II is 27x longer, so its frames take ~27x the simulated cycles)")
    ap.add_argument("--shards", type=int, default=1, metavar="K", help="run each folding's frames as K contiguous "
                    "ranges, one simulator process each, --jobs at a time (default 1)")
    ap.add_argument("--combine", type=Path, nargs="+", metavar="JSON", help="combine the frame ranges of these "
                    "--json files (runs of the same model) into one result; nothing is built or run")
    ap.add_argument("--yosys", action="store_true", help="synthesize each folding with Yosys (minutes each)")
    ap.add_argument("--foldings", default=",".join(FOLDINGS), help="comma list of board, finn (default both)")
    ap.add_argument("--kpar1", action="store_true", help="the board folding with windows at kpar=1 (the design before)")
    ap.add_argument("--no-mmv", action="store_true", help="the board folding without MMV (one output pixel per cycle)")
    ap.add_argument("--board", default=BOARD, help=f"the board of the `board` folding (default {BOARD})")
    ap.add_argument("--jobs", type=int, default=2, help="Yosys and RTL runs (shards) in parallel (default 2)")
    ap.add_argument("--sim-cache", type=Path, help="keep Verilator builds here (default: beside each design)")
    ap.add_argument("--work", type=Path, help="build the designs here (default: a new temporary folder); Yosys "
                    "runs with relative paths inside it")
    ap.add_argument("--json", type=Path, help="also write the results to this JSON file (after every finished job)")
    args = ap.parse_args(argv)
    globals()["BOARD"] = args.board  # the board every table and report of this run names
    if args.combine:
        return combine_files(args.combine, args.json)
    names = [f for f in args.foldings.split(",") if f]
    if any(f not in FOLDINGS for f in names):
        raise SystemExit(f"--foldings {args.foldings!r}: choose from {', '.join(FOLDINGS)}")
    if args.frame_start < 0 or args.frames < 0 or args.shards < 1:
        raise SystemExit("--frame-start and --frames must be >= 0, --shards >= 1")
    if args.sim_cache:
        args.sim_cache = args.sim_cache.resolve()  # the simulator runs with cwd = the design folder
    if args.work:
        args.work = args.work.resolve()
        args.work.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="bench_cnv_zybo_", dir=args.work))
    else:
        work = Path(tempfile.mkdtemp(prefix="bench_cnv_zybo_"))
    g0, meta = load_graph(args, work)
    source = "random weights" if args.random else f"trained, {args.model_dir}"
    if meta:
        source += f", test accuracy {100 * meta.get('test_accuracy', float('nan')):.2f}%"
    print(f"cnv-w2a2 ({source}); work folder {work}")

    from qloom.backends.rtl import generate

    built = {}
    results = {"model": source, "board": BOARD, "clock_mhz": CLOCK, "finn_folding": FINN_FOLDING, "foldings": {},
               "complete": False}
    for name in names:
        t0 = time.time()
        g = fold_board(g0, args.kpar1, args.no_mmv) if name == "board" else fold_finn(g0, work)
        fold.save_folding(g, work / f"folding_{name}.json")
        g = fold.resolve_mem_styles(g)
        rep = fold.report(g, CLOCK, board=BOARD)
        rtl = work / name / "rtl"
        rtl.parent.mkdir()
        design = generate(g, rtl) if (args.yosys or args.frames) else None
        built[name] = (g, rep, rtl, design)
        results["foldings"][name] = {"folding": fold.folding_dict(g)["layers"], "cycles_per_frame": rep["cycles_per_frame"],
                                     "fps": rep["fps"], "estimate": rep["totals"],
                                     "estimate_layers": {l["name"]: l["resources"] for l in rep["layers"] if l["hardware"]},
                                     "estimate_streams": rep.get("streams", {}), "yosys": None, "rtl": None}
        print(f"{name}: {rep['cycles_per_frame']:,} cycles/frame, {rep['fps']:,.0f} frames/s at {CLOCK:g} MHz, "
              f"bottleneck {rep.get('bottleneck')} (fold + RTL {time.time() - t0:.1f} s); folding file "
              f"{work / f'folding_{name}.json'}")

    syn, shards_done, jobs = {}, {}, {}
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:  # Yosys and Verilator run as subprocesses
        if args.yosys:  # the longest jobs first
            jobs.update({pool.submit(yosys, b[2]): ("yosys", n, None) for n, b in built.items()})
        if args.frames:
            x, labels = test_frames(g0, args)
            for name, (g, rep, rtl, design) in built.items():
                n = args.frames if name == "board" or args.finn_frames is None else min(args.finn_frames, args.frames)
                runner = RtlFolding(g, rtl, x[:n], None if labels is None else labels[:n], design,
                                    args.frame_start, args.sim_cache)
                shards_done[name] = []
                results["foldings"][name]["rtl_frames_requested"] = [args.frame_start, args.frame_start + n]
                for a, b in shard_bounds(n, args.shards):
                    jobs[pool.submit(runner.shard, a, b)] = ("rtl", name, (a, b))
        for job in as_completed(jobs):
            kind, name, _ = jobs[job]
            if kind == "yosys":
                try:
                    syn[name] = s = job.result()
                except QloomError as exc:  # a failed or stopped synthesis: the other jobs' figures still count
                    print(f"Yosys {name}: failed ({exc})", flush=True)
                    continue
                results["foldings"][name]["yosys"] = s
                print(f"Yosys {name} ({s['seconds']} s): " + ", ".join(f"{s[k]:,} {k}" for k in KEYS), flush=True)
            else:
                r = job.result()
                shards_done[name].append(r)
                results["foldings"][name]["rtl"] = combine_shards(shards_done[name])
                a, b = r["range"]
                print(f"RTL {name} frames {a}-{b - 1} ({r['seconds']} s, {r['sim_cycles'] / r['sim_seconds']:,.0f} "
                      f"cycles/s): {r['frames']:,} frames with random backpressure, {r['mismatches']} mismatching; "
                      f"steady II {r['ii']:.1f} vs model {r['ii_model']} ({100 * r['ii_error']:+.2f}%)", flush=True)
            if args.json:  # after every job: a run stopped early keeps what it measured
                args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")

    results["complete"] = True
    rtl_res = {n: f["rtl"] for n, f in results["foldings"].items() if f["rtl"]}
    for name, (g, rep, rtl, design) in built.items():
        s = syn.get(name)
        title = f"cnv-w2a2 ({source}), {name} folding, {BOARD}, {CLOCK:g} MHz"
        if s:
            title += f" (Yosys {s['seconds']} s)"
        print_table(title, layer_rows(g, rep, s))
    print_table(f"cnv-w2a2 ({source}) on {BOARD}: qloom --board against FINN's folding",
                [summary_row(n, built[n][1], syn.get(n), rtl_res.get(n)) for n in built])
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return 0 if all(rtl_ok(r) for r in rtl_res.values()) else 1


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except QloomError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
