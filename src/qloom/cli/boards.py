"""`qloom boards`: the boards and parts qloom can target, with their capacity."""

from __future__ import annotations

import argparse
import json

from qloom.fold.boards import list_boards

COLUMNS = ("name", "part", "family", "LUT", "FF", "BRAM18", "DSP", "clock_mhz", "zynq_ps")


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("boards", help="list target boards and FPGA parts with their resources",
                              description=__doc__)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)
    return p


def _rows() -> list[dict]:
    rows = []
    for b in list_boards():
        rows.append({
            "name": b.name, "part": b.part, "family": b.family, "LUT": b.LUT, "FF": b.FF,
            "BRAM18": b.BRAM18, "DSP": b.DSP, "clock_mhz": b.clock_mhz, "zynq_ps": b.zynq_ps,
        })
    return rows


def _cell(key: str, value) -> str:
    if key == "clock_mhz":
        return f"{value:g} MHz"
    if key == "zynq_ps":
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def run(args) -> int:
    rows = _rows()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    heads = {"clock_mhz": "clock", "zynq_ps": "PS", "family": "yosys"}
    cells = [[_cell(k, r[k]) for k in COLUMNS] for r in rows]
    titles = [heads.get(k, k) for k in COLUMNS]
    widths = [max(len(t), *(len(c[i]) for c in cells)) for i, t in enumerate(titles)]
    numeric = {"LUT", "FF", "BRAM18", "DSP", "clock_mhz"}
    def line(values):
        return "  ".join(v.rjust(w) if k in numeric else v.ljust(w) for k, v, w in zip(COLUMNS, values, widths)).rstrip()
    print(line(titles))
    print(line(["-" * w for w in widths]))
    for c in cells:
        print(line(c))
    return 0
