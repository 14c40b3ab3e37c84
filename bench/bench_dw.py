"""Bench: the depthwise zoo model (mobilenet) with its depthwise convs as DepthwiseMatVec units
(FINN's VVAU) against the same model lowered the old way, block-diagonal MatVecs (zeros off the
diagonal, exact too; QLOOM_DEPTHWISE_LOWERING=block-diagonal).

One run, one row per lowering, both folded the same way (`--board zybo-z7-20`: as `qloom build
--board` folds, the default; `--board none`: qloom's default folding, every unit at PE = SIMD = 1):
cycles per frame and frames/s at 100 MHz, the cost model's LUT/BRAM18, Yosys synth_xilinx's
LUT/FF/BRAM18/DSP (`--yosys`), the IR against qonnx's executor on the first `--frames` test
images (mismatches, accuracy), and (`--rtl`) the same frames through the Verilator RTL with
random backpressure via `qloom.verify.rtl.verify_rtl` (mismatches, measured II against the
model; `--rtl-both` also for the block-diagonal design).

    python bench/bench_dw.py --model-dir /work/ckpt/mobilenet-w4a4@fashion-mnist --yosys --rtl
    python bench/bench_dw.py --board none --target-fps 2000 --yosys   # same throughput: resources
    python bench/bench_dw.py --model mobilenet-w2a2          # random weights, calibrated BN (no files)

Without `--model-dir` the zoo model has random weights with BN statistics from 512 training
images (seconds): the hardware shape, and so speed and resources, are those of the trained model.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from table import print_table  # noqa: E402

from qloom import fold, sim, streamline  # noqa: E402
from qloom.ir import DepthwiseMatVec, MatVec  # noqa: E402
from qloom.streamline.handlers import DEPTHWISE_ENV  # noqa: E402
from qloom.verify.inputs import dataset_inputs  # noqa: E402
from qloom.verify.ir import compare  # noqa: E402
from qloom.verify.reference import Reference  # noqa: E402

CLOCK = 100.0
LOWERINGS = ("vvau", "block-diagonal")


def random_model(name: str, dataset: str, work: Path) -> Path:
    """The zoo model with random weights, BN statistics from 512 training images (as bench_ir)."""
    import torch

    from qloom.data import load_dataset, to_model_input
    from qloom.export import export_qonnx_model
    from qloom.models import build_model

    torch.manual_seed(0)
    model = build_model(name)
    x = to_model_input(load_dataset(dataset, "train")[0][:512])
    model.train()
    with torch.no_grad():
        for i in range(0, len(x), 128):
            model(x[i:i + 128])
    return export_qonnx_model(model.eval(), work / f"{name}.onnx", (1, 28, 28))


def lower(path: Path, lowering: str, board: str | None, target_fps: float | None = None):
    old = os.environ.get(DEPTHWISE_ENV)
    os.environ[DEPTHWISE_ENV] = lowering
    try:
        graph = streamline.run(path)
    finally:
        if old is None:
            os.environ.pop(DEPTHWISE_ENV)
        else:
            os.environ[DEPTHWISE_ENV] = old
    if board or target_fps:
        graph = fold.auto_fold(graph, board=board, target_fps=target_fps, clock_mhz=CLOCK)
    return fold.resolve_mem_styles(graph)


def weight_count(graph) -> tuple[int, int]:
    """(weights of the depthwise convs, of all weight layers): block-diagonal stores the zeros."""
    dw = sum(l.weights.size for l in graph.layers if isinstance(l, DepthwiseMatVec)
             or (isinstance(l, MatVec) and l.mh > 1 and l.mw == 9 * l.mh))
    total = sum(l.weights.size for l in graph.layers if isinstance(l, (MatVec, DepthwiseMatVec)))
    return dw, total


def synth_counts(rtl: Path) -> dict:
    from qloom.synth import synthesize

    t0 = time.time()
    tot = synthesize(rtl)["total"]
    return {"Yosys LUT": tot["slice_LUT"], "Yosys FF": tot["FF"], "Yosys BRAM18": tot["BRAM18"],
            "Yosys DSP": tot["DSP"], "yosys_s": f"{time.time() - t0:.0f}"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="mobilenet-w4a4", help="zoo model with random weights (without --model-dir)")
    ap.add_argument("--model-dir", type=Path, help="a `qloom train` folder (its model.onnx), e.g. /work/ckpt/...")
    ap.add_argument("--dataset", default="fashion-mnist", help="test images for the IR and RTL checks")
    ap.add_argument("--frames", type=int, default=1000, help="test frames through the IR and the RTL")
    ap.add_argument("--board", default="zybo-z7-20", help="auto-fold for this board; 'none': default folding")
    ap.add_argument("--target-fps", type=float, help="auto-fold both for this frame rate (cheapest; within --board)")
    ap.add_argument("--yosys", action="store_true", help="synthesize both designs with Yosys (minutes each)")
    ap.add_argument("--rtl", action="store_true", help="run the frames through the VVAU design's RTL (Verilator)")
    ap.add_argument("--lowerings", nargs="+", choices=LOWERINGS, default=list(LOWERINGS),
                    help="which lowerings to build (default both)")
    ap.add_argument("--rtl-both", action="store_true", help="also through the block-diagonal design's RTL")
    ap.add_argument("--work", type=Path, help="build the designs here (default: a new temporary folder); Yosys "
                    "runs with relative paths inside it")
    ap.add_argument("--json", type=Path, help="also write the rows to this JSON file (after every lowering)")
    args = ap.parse_args(argv)
    board = None if args.board.lower() == "none" else args.board
    if args.work:
        args.work = args.work.resolve()
        args.work.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench_dw_", dir=args.work))
    print(f"work folder {work}", flush=True)
    if args.model_dir:
        path, source = args.model_dir / "model.onnx", str(args.model_dir)
    else:
        path, source = random_model(args.model, args.dataset, work), f"{args.model} (random weights)"
    ref = Reference(path)
    rows, outputs = [], {}
    for lowering in args.lowerings:
        t0 = time.time()
        g = lower(path, lowering, board, args.target_fps)
        t_fold = time.time() - t0
        rep = fold.report(g, CLOCK, board=board)
        x, labels = dataset_inputs(g, args.dataset, args.frames)
        t0 = time.time()
        ir = compare(g, ref, x, labels)
        t_ir = time.time() - t0
        outputs[lowering] = sim.execute(g, x)
        dw_w, all_w = weight_count(g)
        row = {"lowering": lowering, "depthwise units": " ".join(
            f"{l.name}({l.kind} pe={l.pe} simd={l.simd})" for l in g.layers
            if isinstance(l, DepthwiseMatVec) or (isinstance(l, MatVec) and l.mh > 1 and l.mw == 9 * l.mh)),
            "cycles/frame": f"{rep['cycles_per_frame']:,}", "fps@100MHz": f"{rep['fps']:,.0f}",
            "dw weights": f"{dw_w:,}", "all weights": f"{all_w:,}",
            "est LUT": f"{rep['totals']['LUT']:,.0f}", "est BRAM18": rep["totals"]["BRAM18"],
            f"IR mism@{args.frames}": ir["mismatches"], "IR acc": f"{100 * ir['ir_accuracy']:.2f}%",
            "fold_s": f"{t_fold:.0f}", "ir_s": f"{t_ir:.0f}"}
        if args.yosys or args.rtl or args.rtl_both:
            from qloom.backends.rtl import generate

            rtl = work / f"rtl-{lowering}"
            generate(g, rtl, clock_mhz=CLOCK)
            if args.rtl and (lowering == "vvau" or args.rtl_both):
                from qloom.verify.rtl import verify_rtl

                t0 = time.time()
                r = verify_rtl(g, rtl, x, seed=1, stall_prob=0.3)
                row.update({f"RTL mism@{r['frames']}": r["mismatches"],
                            "II meas/model": f"{r['cycles_per_frame']:.1f}/{r['cycles_per_frame_model']}",
                            "rtl_s": f"{time.time() - t0:.0f}"})
            if args.yosys:
                row.update(synth_counts(rtl))
        rows.append(row)
        print(row, flush=True)
        if args.json:  # after every lowering: a run stopped early keeps its rows
            args.json.write_text(json.dumps({"model": source, "board": board, "target_fps": args.target_fps,
                                             "clock_mhz": CLOCK, "frames": args.frames, "rows": rows},
                                            indent=2, default=str) + "\n")
    outs = list(outputs.values())
    same = all(np.array_equal(outs[0], o) for o in outs[1:])
    how = " ".join(([f"--board {board}"] if board else []) + ([f"--target-fps {args.target_fps:g}"] if args.target_fps
                                                             else [])) or "default (PE = SIMD = 1)"
    print_table(f"{source}: DepthwiseMatVec vs block-diagonal MatVec, folding {how}, {CLOCK:g} MHz, "
                f"{args.frames} {args.dataset} test frames (python bench/bench_dw.py)", rows)
    print(f"the lowerings give the same outputs on the {args.frames} frames: {same}")
    exact = all(v == 0 for r in rows for k, v in r.items() if "mism@" in k)
    return 0 if same and exact else 1


if __name__ == "__main__":
    raise SystemExit(main())
