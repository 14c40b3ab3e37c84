"""Vivado's utilization and timing reports, read back into report.json (key `vivado`).

`report_utilization` prints text tables (`| Site Type | Used | Fixed | [Prohibited |] Available |
Util% |`); 7-series calls logic "Slice LUTs"/"Slice Registers", UltraScale "CLB LUTs"/"CLB
Registers". `report_utilization -hierarchical` gives one row per instance: our IP's row
(`qloom_0`) is comparable with the Yosys and estimated figures of the IP alone.
`report_timing_summary` has the "Design Timing Summary" table (WNS, TNS, WHS, ...) and the
"Clock Summary" with each clock's period.
"""

from __future__ import annotations

import re
from pathlib import Path

from qloom import artifacts as A
from qloom.errors import QloomError

_ROWS = {"LUT": ("Slice LUTs", "CLB LUTs"), "FF": ("Slice Registers", "CLB Registers"),
         "BRAM_tiles": ("Block RAM Tile",), "DSP": ("DSPs",), "URAM": ("URAM",)}


def _table_rows(text: str):
    """Yield (cells, header) for every row of every |-table in the text."""
    header = None
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("+"):
            continue
        if not s.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in s.strip("|").split("|")]
        if header is None:
            header = cells
            continue
        yield cells, header


def _num(text: str) -> float:
    return float(text.replace(",", ""))


def parse_utilization(text: str) -> dict:
    """{LUT, FF, BRAM18, DSP (, URAM)}: used, available and the share, from report_utilization."""
    used, avail = {}, {}
    for cells, header in _table_rows(text):
        if "Used" not in header or "Available" not in header:
            continue
        for key, names in _ROWS.items():
            if cells[0] in names and key not in used:
                used[key] = _num(cells[header.index("Used")])
                avail[key] = _num(cells[header.index("Available")])
    if "LUT" not in used or "FF" not in used:
        raise QloomError("no Slice/CLB LUTs and Registers rows: not a Vivado report_utilization file")
    out = {}
    for key in ("LUT", "FF", "DSP", "URAM"):
        if key in used:
            out[key] = {"used": int(used[key]), "available": int(avail[key])}
    if "BRAM_tiles" in used:  # one tile = one RAMB36 = two RAMB18
        out["BRAM18"] = {"used": int(round(2 * used["BRAM_tiles"])), "available": int(round(2 * avail["BRAM_tiles"]))}
    for v in out.values():
        v["utilization"] = v["used"] / v["available"] if v["available"] else None
    return out


def parse_hierarchical(text: str, instance: str) -> dict | None:
    """The row of `instance` in report_utilization -hierarchical: {LUT, FF, BRAM18, DSP}."""
    for cells, header in _table_rows(text):
        if cells[0] != instance or "Total LUTs" not in header:
            continue
        col = {h: cells[i] for i, h in enumerate(header)}
        dsp = next((col[h] for h in header if h.startswith("DSP")), "0")
        return {"LUT": int(_num(col["Total LUTs"])), "FF": int(_num(col["FFs"])),
                "BRAM18": int(_num(col.get("RAMB18", "0")) + 2 * _num(col.get("RAMB36", "0"))),
                "DSP": int(_num(dsp))}
    return None


def parse_timing(text: str) -> dict:
    """WNS/TNS/WHS/THS (ns) of the design, the clocks' periods, and the frequency the WNS allows."""
    lines = text.splitlines()
    out = {}
    for i, line in enumerate(lines):
        if line.strip().startswith("WNS(ns)") and "TNS(ns)" in line:
            heads = re.split(r"\s{2,}", line.strip())
            values = next(l.split() for l in lines[i + 2:] if l.strip())
            row = dict(zip(heads, values))
            out = {"wns_ns": float(row["WNS(ns)"]), "tns_ns": float(row["TNS(ns)"]),
                   "whs_ns": float(row["WHS(ns)"]), "ths_ns": float(row["THS(ns)"]),
                   "failing_endpoints": int(row["TNS Failing Endpoints"]) + int(row["THS Failing Endpoints"])}
            break
    if not out:
        raise QloomError("no Design Timing Summary table: not a Vivado report_timing_summary file")
    clocks = {}
    for i, line in enumerate(lines):
        if re.match(r"^Clock\s+Waveform\(ns\)\s+Period\(ns\)\s+Frequency\(MHz\)", line.strip()):
            for row in lines[i + 2:]:
                m = re.match(r"^\s*(\S+)\s+\{[^}]*\}\s+([\d.]+)\s+([\d.]+)", row)
                if not m:
                    break
                clocks[m.group(1)] = {"period_ns": float(m.group(2)), "mhz": float(m.group(3))}
            break
    out["clocks"] = clocks
    out["met"] = out["wns_ns"] >= 0 and out["whs_ns"] >= 0 and out["failing_endpoints"] == 0
    return out


def import_reports(build_dir: Path, reports_dir: Path | None = None, *, instance: str = "qloom_0") -> dict:
    """Read deploy/reports/ into report.json["vivado"]; returns that entry."""
    build_dir = Path(build_dir)
    reports_dir = Path(reports_dir) if reports_dir else build_dir / "deploy" / "reports"
    report_path = build_dir / A.REPORT_JSON
    if not report_path.exists():
        raise QloomError(f"{build_dir} has no {A.REPORT_JSON}: not a qloom build folder")
    util_path, timing_path = reports_dir / "utilization.rpt", reports_dir / "timing_summary.rpt"
    for p in (util_path, timing_path):
        if not p.exists():
            raise QloomError(f"{p} is missing: run deploy/build.sh (Vivado) first, or point --import-reports at "
                             "the folder holding utilization.rpt and timing_summary.rpt")
    entry = {"tool": "Vivado (report_utilization, report_timing_summary)", "reports": str(reports_dir)}
    try:
        entry["design"] = parse_utilization(util_path.read_text(errors="replace"))
        timing = parse_timing(timing_path.read_text(errors="replace"))
    except QloomError as exc:
        raise QloomError(f"{reports_dir}: {exc}") from None
    report = A.read_json(report_path)
    target = float(report.get("clock_mhz", 0) or 0)
    if target:
        period = 1000.0 / target
        timing["target_mhz"] = target
        timing["achieved_mhz"] = round(1000.0 / (period - timing["wns_ns"]), 3) if period > timing["wns_ns"] else None
    entry["timing"] = timing
    hier = reports_dir / "utilization_hierarchical.rpt"
    if hier.exists():
        entry["ip"] = parse_hierarchical(hier.read_text(errors="replace"), instance)
    entry["note"] = ("design = the whole block design (processor system, DMA, interconnect and the qloom IP); "
                     "ip = the qloom IP alone, comparable with `yosys` and the estimates")
    report["vivado"] = entry
    A.write_json(report_path, report)
    return entry
