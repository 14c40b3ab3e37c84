"""`qloom build MODEL.onnx --out DIR`: QONNX model -> IR -> folding -> RTL -> Yosys counts
-> (with --board) DIR/deploy/: Vivado/Vitis scripts and the C and PYNQ drivers.

The build does not verify: run `qloom verify DIR` for that. DIR must be new, empty or an
earlier qloom build folder (else --force); a failing build leaves the previous build in DIR as
it was. --resume reuses the stages whose recorded options, input and artifact hashes are
unchanged (see build.json) and re-runs the others.

--config FILE.toml gives the options in one file (keys: the long flags, dashes or underscores,
and `model`; relative paths relative to the file's folder); flags given here override it.
Every successful build writes its resolved options to DIR/build.toml: `qloom build --config
DIR/build.toml --out OTHER` builds the same artifacts again. --quiet: no progress and no
per-stage lines (errors are still printed).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from qloom import buildconfig, progress
from qloom.errors import QloomError
from qloom.pipeline import STAGES, BuildConfig, build


def add_parser(sub) -> None:
    p = sub.add_parser("build", help="compile a QONNX model into dataflow hardware (IR, folding, Verilog, Yosys counts)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path, nargs="?", help="QONNX model file (.onnx); or `model` in --config")
    p.add_argument("--out", metavar="DIR",
                   help="build folder (new, empty, or an earlier qloom build); or `out` in --config")
    p.add_argument("--config", type=Path, metavar="FILE.toml",
                   help="build options in a TOML file (keys: these flags' long names and `model`); flags override it")
    p.add_argument("--stop-after", choices=STAGES,
                   help="last stage to run (default: synth; deploy runs only with --board)")
    p.add_argument("--out-kind", choices=("labels", "logits"),
                   help="what the hardware outputs: class indices or logits (default: as the model ends)")
    fold = p.add_argument_group("folding (default: fully folded, PE = SIMD = 1)")
    fold.add_argument("--folding", type=Path, help="folding JSON file (per layer pe, simd, mem_style)")
    fold.add_argument("--target-fps", type=float, help="cheapest folding reaching this frame rate")
    fold.add_argument("--board", help="board or part (see `qloom boards`); alone: fastest folding that fits")
    fold.add_argument("--clock-mhz", type=float, help="clock (default: the board's, else 100 MHz)")
    dep = p.add_argument_group("deploy stage (with --board)")
    dep.add_argument("--dataset", help="test images embedded in the drivers, as `qloom verify --dataset` "
                                       "(default: mnist for 28x28 inputs, else random)")
    dep.add_argument("--deploy-frames", type=int, help="number of embedded test images (default 100)")
    p.add_argument("--resume", action="store_true",
                   help="reuse the stages of the previous build in DIR whose options and inputs are unchanged")
    p.add_argument("--force", action="store_true",
                   help="build into a non-empty folder that is not a qloom build folder (qloom's artifact names "
                        "in it are replaced, other files are left alone)")
    p.add_argument("--quiet", action="store_true", help="no progress and no per-stage lines (errors are still printed)")
    p.set_defaults(func=run)


def options(args: argparse.Namespace) -> dict:
    """The build's options: --config's file, then every flag given on the command line over it."""
    opts = buildconfig.read(args.config) if args.config else {}
    for key in buildconfig.KEYS:
        value = getattr(args, key, None)
        if value is not None and value is not False:  # given on the command line
            opts[key] = value
    if opts.get("model") is None:
        raise QloomError("no model: give MODEL.onnx, or `model = \"...\"` in the --config file")
    if opts.get("out") is None:
        raise QloomError("no build folder: give --out DIR, or `out = \"...\"` in the --config file")
    return opts  # options not given take BuildConfig's defaults


def run(args: argparse.Namespace) -> int:
    if args.out is not None and not args.out.strip():
        raise QloomError("--out is empty: give the build folder (--out . for the current folder)")
    opts = options(args)
    quiet = opts.pop("quiet", False)
    cfg = BuildConfig(**{k: Path(v) if k in buildconfig.PATHS and v is not None else v for k, v in opts.items()})
    with progress.silenced(quiet):
        state = build(cfg, log=(lambda *a: None) if quiet else print)
    print(f"build of {cfg.model} complete up to stage '{state['stopped_after']}' in {cfg.out}")
    return 0
