"""`qloom analyze`: quantization analysis of a model -> DIR/analysis.html + DIR/analysis.json."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "analyze",
        help="quantization analysis: histograms with grids, per-layer SQNR, symmetric vs asymmetric, bit sweeps",
        description="Analyze the quantizers of a trained zoo model (a `qloom train` folder or its "
        "checkpoint.pt), a `qloom quantize` folder or a QONNX file on real test images: per-quantizer "
        "histograms with the grid drawn on them, SQNR of the model's quantizer and of symmetric / "
        "asymmetric grids of the same bit width. --sweep FAMILY adds accuracy against bit width "
        "(short QAT runs). Writes DIR/analysis.html (self-contained) and DIR/analysis.json.",
    )
    p.add_argument("source", nargs="?", metavar="MODEL_OR_CHECKPOINT",
                   help="model.onnx, a `qloom train`/`qloom quantize` folder, or checkpoint.pt")
    p.add_argument("--dataset", help="images to analyze on (default: the training folder's dataset, else mnist)")
    p.add_argument("--frames", type=int, default=500, help="test images to run (default 500)")
    p.add_argument("--out", help="output folder (default: SOURCE's folder/analysis)")
    p.add_argument("--sweep", metavar="FAMILY", help="also train FAMILY (tfc, sfc, lfc, cnv) at each bit width")
    p.add_argument("--sweep-bits", default="1,2,4,8", help="bit widths of the sweep (default 1,2,4,8; w = a)")
    p.add_argument("--sweep-grid", action="store_true", help="every (w, a) combination instead of w = a")
    p.add_argument("--sweep-epochs", type=int, default=3, help="epochs per sweep run (default 3)")
    p.add_argument("--sweep-limit-train", type=int, help="train the sweep on the first N training images")
    p.add_argument("--sweep-limit-eval", type=int, help="score the sweep on the first N val/test images")
    p.add_argument("--no-sweep-float", action="store_true", help="leave the float reference out of the sweep")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=run)


def _bits(text: str) -> tuple[int, ...]:
    from qloom.errors import QloomError

    try:
        return tuple(int(b) for b in text.split(","))
    except ValueError:
        raise QloomError(f"--sweep-bits {text!r}: expected comma-separated integers, e.g. 1,2,4,8") from None


def _db(v) -> str:
    return "exact" if v is None else f"{v:.1f} dB"


def run(args) -> int:
    from qloom.analyze import analyze
    from qloom.analyze.sweep import bit_width_sweep
    from qloom.errors import QloomError

    if args.source is None and args.sweep is None:
        raise QloomError("nothing to analyze: give MODEL_OR_CHECKPOINT and/or --sweep FAMILY")
    if args.out is None:
        if args.source is None:
            raise QloomError("--sweep without a model needs --out DIR")
        src = Path(args.source)
        args.out = str((src if src.is_dir() else src.parent) / "analysis")
    for flag in ("frames", "sweep_epochs", "sweep_limit_train", "sweep_limit_eval"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise QloomError(f"--{flag.replace('_', '-')} must be >= 1, got {value}")
    sweep = None
    if args.sweep:
        sweep = bit_width_sweep(args.sweep, args.dataset or "mnist", args.out, bits=_bits(args.sweep_bits),
                                grid=args.sweep_grid, with_float=not args.no_sweep_float, epochs=args.sweep_epochs,
                                limit_train=args.sweep_limit_train, limit_eval=args.sweep_limit_eval,
                                progress=not args.quiet)
    result = analyze(args.source, args.out, dataset=args.dataset, frames=args.frames, sweep=sweep,
                     command=shlex.join(["qloom", *sys.argv[1:]]) if sys.argv[1:2] == ["analyze"] else None)
    for l in result["layers"]:
        print(f"{l['name']:>10} {l['role']:<10} {l['bits']}b  SQNR {_db(l['sqnr_db'])} (symmetric "
              f"{_db(l['symmetric']['sqnr_db'])}, asymmetric {_db(l['asymmetric']['sqnr_db'])})  {l['where']}")
    for r in (sweep or {}).get("rows", []):
        print(f"{r['model']:>12}: test accuracy {r['test_accuracy']:.4f}")
    print(f"-> {args.out}/analysis.html, {args.out}/analysis.json")
    return 0
