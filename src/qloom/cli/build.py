"""`qloom build MODEL.onnx --out DIR`: QONNX model -> IR -> folding -> RTL -> Yosys counts."""

from __future__ import annotations

import argparse
from pathlib import Path

from qloom.pipeline import STAGES, BuildConfig, build


def add_parser(sub) -> None:
    p = sub.add_parser("build", help="compile a QONNX model into dataflow hardware (IR, folding, Verilog, Yosys counts)",
                       description=__doc__)
    p.add_argument("model", type=Path, help="QONNX model file (.onnx)")
    p.add_argument("--out", type=Path, required=True, help="build folder")
    p.add_argument("--stop-after", choices=STAGES, default="synth", help="last stage to run (default: synth)")
    fold = p.add_argument_group("folding (default: fully folded, PE = SIMD = 1)")
    fold.add_argument("--folding", type=Path, help="folding JSON file (per layer pe, simd, mem_style)")
    fold.add_argument("--target-fps", type=float, help="cheapest folding reaching this frame rate")
    fold.add_argument("--board", help="board or part (see `qloom boards`); alone: fastest folding that fits")
    fold.add_argument("--clock-mhz", type=float, help="clock (default: the board's, else 100 MHz)")
    p.add_argument("--resume", action="store_true", help="reuse finished stages of a previous build of the same model")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.folding and (args.target_fps or args.board):
        if args.target_fps:
            from qloom.errors import QloomError

            raise QloomError("--folding and --target-fps both choose the folding: give one of them")
    cfg = BuildConfig(model=args.model, out=args.out, stop_after=args.stop_after, folding=args.folding,
                      target_fps=args.target_fps, board=args.board, clock_mhz=args.clock_mhz, resume=args.resume)
    state = build(cfg)
    print(f"build of {args.model} complete up to stage '{state['stopped_after']}' in {args.out}")
    return 0
