"""`qloom deploy DIR --board B | --part P`: Vivado/Vitis scripts and drivers in DIR/deploy/.

With --import-reports, reads Vivado's utilization and timing reports (default DIR/deploy/reports)
back into DIR/report.json under `vivado`, beside the estimates and the Yosys figures.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("deploy", help="write the Vivado project, Vitis app and drivers for a board or part",
                       description=__doc__)
    p.add_argument("dir", type=Path, help="build folder (qloom build ... --out DIR, through the rtl stage)")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--board", help="board (see `qloom boards`), e.g. zybo-z7-20, pynq-z2, zcu104, kv260, arty-a7-100")
    target.add_argument("--part", help="any Zynq-7000, Zynq UltraScale+ or 7-series/UltraScale part, e.g. xc7z020clg400-1")
    p.add_argument("--out", type=Path, help="deploy folder (default DIR/deploy)")
    p.add_argument("--frames", type=int, default=100, help="test frames embedded in the drivers (default 100)")
    p.add_argument("--dataset", default="mnist",
                   help="where the test frames come from, as for `qloom verify` (default mnist; random for any model)")
    p.add_argument("--check", action="store_true",
                   help="then run every script under tclsh with Vivado/xsct/Vitis stubbed and check the recorded design")
    p.add_argument("--import-reports", nargs="?", const="", metavar="DIR2", type=str,
                   help="read Vivado's reports (default DIR/deploy/reports) into DIR/report.json instead")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from qloom.errors import QloomError

    if args.import_reports is not None:
        from qloom.deploy.reports import import_reports

        entry = import_reports(args.dir, Path(args.import_reports) if args.import_reports else None)
        d, t = entry["design"], entry["timing"]
        print(f"Vivado: {d['LUT']['used']} LUT, {d['FF']['used']} FF, {d.get('BRAM18', {}).get('used', 0)} BRAM18, "
              f"{d.get('DSP', {}).get('used', 0)} DSP; WNS {t['wns_ns']} ns"
              + (f", {t['achieved_mhz']} MHz achievable" if t.get("achieved_mhz") else "")
              + f" -> {args.dir / 'report.json'} (key vivado)")
        return 0
    if not args.board and not args.part:
        raise QloomError("give the target board (--board, see `qloom boards`) or part (--part)")
    if args.frames < 1:
        raise QloomError(f"--frames {args.frames}: give at least 1")
    if args.check:
        import shutil

        if shutil.which("tclsh") is None:
            raise QloomError("--check runs the scripts under tclsh, which is not installed (apt-get install tcl)")
    from qloom.deploy import write_deploy

    facts = write_deploy(args.dir, board=args.board, part=args.part, out_dir=args.out, frames=args.frames,
                         dataset=args.dataset)
    out = args.out or args.dir / "deploy"
    t = facts["target"]
    print(f"deploy for {t['name']} ({t['part']}, {t['processor']}) written to {out}; next: {out}/build.sh "
          f"(Vivado), then {out}/README.md")
    if facts.get("kept"):
        print(f"kept from the previous deploy folder: {', '.join(facts['kept'])}")
    if args.check:
        from qloom.deploy.tclcheck import check_deploy

        problems = check_deploy(out)
        for p in problems:
            print(f"stub check: {p}")
        print(f"stub check: {'ok, every script ran and the block design is complete' if not problems else 'FAILED'}")
        return 1 if problems else 0
    return 0
