"""`qloom build MODEL.onnx --out DIR`: QONNX model -> IR -> folding -> RTL -> Yosys counts.

The build does not verify: run `qloom verify DIR` for that. DIR must be new, empty or an
earlier qloom build folder (else --force); a failing build leaves the previous build in DIR as
it was. --resume reuses the stages whose recorded options, input and artifact hashes are
unchanged (see build.json) and re-runs the others.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from qloom.errors import QloomError
from qloom.pipeline import STAGES, BuildConfig, build


def add_parser(sub) -> None:
    p = sub.add_parser("build", help="compile a QONNX model into dataflow hardware (IR, folding, Verilog, Yosys counts)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path, help="QONNX model file (.onnx)")
    p.add_argument("--out", required=True, metavar="DIR", help="build folder (new, empty, or an earlier qloom build)")
    p.add_argument("--stop-after", choices=STAGES, default="synth", help="last stage to run (default: synth)")
    fold = p.add_argument_group("folding (default: fully folded, PE = SIMD = 1)")
    fold.add_argument("--folding", type=Path, help="folding JSON file (per layer pe, simd, mem_style)")
    fold.add_argument("--target-fps", type=float, help="cheapest folding reaching this frame rate")
    fold.add_argument("--board", help="board or part (see `qloom boards`); alone: fastest folding that fits")
    fold.add_argument("--clock-mhz", type=float, help="clock (default: the board's, else 100 MHz)")
    p.add_argument("--resume", action="store_true",
                   help="reuse the stages of the previous build in DIR whose options and inputs are unchanged")
    p.add_argument("--force", action="store_true",
                   help="build into a non-empty folder that is not a qloom build folder (qloom's artifact names "
                        "in it are replaced, other files are left alone)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.out.strip():
        raise QloomError("--out is empty: give the build folder (--out . for the current folder)")
    cfg = BuildConfig(model=args.model, out=Path(args.out), stop_after=args.stop_after, folding=args.folding,
                      target_fps=args.target_fps, board=args.board, clock_mhz=args.clock_mhz, resume=args.resume,
                      force=args.force)
    state = build(cfg)
    print(f"build of {args.model} complete up to stage '{state['stopped_after']}' in {args.out}")
    return 0
