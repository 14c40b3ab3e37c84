"""`qloom verify DIR --level ir|rtl|driver`: compare the built hardware with the QONNX reference.

Writes DIR/verify.json as {"levels": {"ir": {...}, "rtl": {...}}}, keeping levels not re-run.
DIR's build.json must record the stages a level reads (ir: up to streamline, rtl: up to rtl).
Exit codes: 0 every level matched; 1 a level mismatched or the design hung in simulation
(details, with "error" for a hang, in verify.json); 2 a user or tool error (bad flags, a
missing or corrupt artifact, a simulator that cannot be built or run): verify.json is then
left as it was.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from qloom.verify.stage import LEVELS, MAX_SEED, verify_build  # noqa: F401  (MAX_SEED: the train command's too)


def add_parser(sub) -> None:
    p = sub.add_parser("verify", help="check a build bit-exact against the QONNX reference", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir", type=Path, help="build folder of `qloom build`")
    p.add_argument("--level", choices=LEVELS, action="append", help="level(s) to verify (default: ir)")
    p.add_argument("--dataset", default="mnist", help="mnist, fashion-mnist, digits, idx:DIR, or random")
    p.add_argument("--frames", type=int, default=1000, help="number of input frames (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed of random inputs and stalls")
    p.add_argument("--quiet", action="store_true", help="no progress output (the result lines and errors stay)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return verify_build(args.dir, args.level or ["ir"], dataset=args.dataset, frames=args.frames, seed=args.seed,
                        quiet=getattr(args, "quiet", False))
