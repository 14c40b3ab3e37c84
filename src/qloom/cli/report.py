"""`qloom report DIR`: (re)write DIR/report.html from the build folder's artifacts."""

from __future__ import annotations

from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="write DIR/report.html, the build as one self-contained page",
                       description="Write DIR/report.html from a build folder's artifacts (build.json, report.json, "
                       "verify.json, the model's metrics.json, an analysis.json): accuracy at every stage, cycles and "
                       "folding per layer, resources against the board, confusion matrix, latency, links. "
                       "`qloom build` and `qloom verify` write it too; this regenerates it.")
    p.add_argument("dir", type=Path, help="build folder of `qloom build`")
    p.set_defaults(func=run)


def run(args) -> int:
    from qloom.report import write_report

    print(f"-> {write_report(args.dir)}")
    return 0
