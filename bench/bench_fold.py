"""Folding bench: the estimates against FINN's published numbers, and auto folding against
FINN's SetFolding heuristic on graphs of the BNN-PYNQ zoo shapes (random weights).

    python bench/bench_fold.py
"""

from __future__ import annotations

import time

from table import print_table

from qloom.errors import QloomError
from qloom.fold import auto_fold, finn_greedy_fold, get_board, performance, report, resources, set_folding
from qloom.testing.zoo import zoo_graph

CLOCK = 100.0
FINN_TFC_FOLDING = [("fc0", 16, 49, "block"), ("fc1", 8, 8, "auto"), ("fc2", 8, 8, "auto"), ("fc3", 10, 8, "distributed")]
GREEDY_TARGETS = {  # FINN target_cycles_per_frame
    "tfc_w1a1": [64, 256, 1024],
    "sfc_w1a1": [256, 1024, 4096],
    "lfc_w1a1": [1024, 4096, 16384],
    "cnv_w1a1": [12_000, 50_000, 200_000],
    "tfc_w2a2": [64, 512],
    "cnv_w2a2": [25_000, 100_000],
}
BOARDS = [("tfc_w1a1", "PYNQ-Z1"), ("sfc_w1a1", "Zybo Z7-10"), ("lfc_w1a1", "PYNQ-Z1"), ("lfc_w1a1", "ZCU104"),
          ("cnv_w1a1", "PYNQ-Z1"), ("cnv_w1a1", "Cora Z7-07S"), ("cnv_w2a2", "Ultra96-V2"), ("lfc_w8a8", "Cora Z7-07S")]


def tfc_rows() -> list[dict]:
    g = zoo_graph("tfc_w1a1")
    for name, pe, simd, style in FINN_TFC_FOLDING:
        g = set_folding(g, name, pe=pe, simd=simd, mem_style=style)
    rep = report(g, CLOCK)
    rows = [{"source": "FINN estimate (published)", "cycles": 64, "fps": "1,562,500", "LUT": "9,678", "BRAM18": 26,
             "DSP": 0, "latency": ""}]
    rows.append({"source": "qloom estimate", "cycles": rep["cycles_per_frame"], "fps": f"{rep['fps']:,.0f}",
                 "LUT": f"{rep['totals']['LUT']:,}", "BRAM18": rep["totals"]["BRAM18"], "DSP": rep["totals"]["DSP"],
                 "latency": rep["latency_cycles"]})
    for l in rep["layers"]:
        if l["hardware"]:
            r = l["resources"]
            fold = " ".join(f"{k}={l[k]}" for k in ("pe", "simd", "mem_style") if l[k] is not None)
            rows.append({"source": f"  {l['name']} ({l['kind']} {fold})".replace(" )", ")"),
                         "cycles": l["cycles"], "fps": "", "LUT": f"{r['LUT']:,}", "BRAM18": r["BRAM18"], "DSP": r["DSP"],
                         "latency": ""})
    return rows


def _pct(ours: int, theirs: int) -> str:
    return f"{100 * (ours - theirs) / theirs:+.1f}%" if theirs else ("0" if ours == 0 else "+inf")


def greedy_rows() -> list[dict]:
    rows = []
    for name, targets in GREEDY_TARGETS.items():
        g = zoo_graph(name)
        for target in targets:
            greedy = finn_greedy_fold(g, target)
            pg, rg = performance(greedy, CLOCK), resources(greedy)["totals"]
            t0 = time.perf_counter()
            ours = auto_fold(g, target_fps=pg["fps"], clock_mhz=CLOCK)
            secs = time.perf_counter() - t0
            po, ro = performance(ours, CLOCK), resources(ours)["totals"]
            nominal = auto_fold(g, target_fps=CLOCK * 1e6 / target, clock_mhz=CLOCK)
            rn = resources(nominal)["totals"]
            rows.append({
                "model": name, "target": target,
                "greedy II": pg["cycles_per_frame"], "greedy LUT": f"{rg['LUT']:,}", "greedy BRAM": rg["BRAM18"],
                "ours II": po["cycles_per_frame"], "ours LUT": f"{ro['LUT']:,}", "ours BRAM": ro["BRAM18"],
                "dLUT": _pct(ro["LUT"], rg["LUT"]), "dBRAM": _pct(ro["BRAM18"], rg["BRAM18"]),
                "ours@target II": performance(nominal, CLOCK)["cycles_per_frame"],
                "LUT@target": f"{rn['LUT']:,}", "BRAM@target": rn["BRAM18"], "s": f"{secs:.2f}",
            })
    return rows


def board_rows() -> list[dict]:
    rows = []
    for name, board in BOARDS:
        b = get_board(board)
        t0 = time.perf_counter()
        try:
            folded = auto_fold(zoo_graph(name), board=board)
        except QloomError as exc:
            rows.append({"model": name, "board": board, "II": "does not fit", "fps": "", "LUT": "", "BRAM18": "",
                         "DSP": "", "s": f"{time.perf_counter() - t0:.2f}",
                         "note": next(p for p in str(exc).split(". ") if "Mbit" in p)})
            continue
        secs = time.perf_counter() - t0
        rep = report(folded, b.clock_mhz, board=b)
        u = rep["board"]["utilization"]
        rows.append({"model": name, "board": board, "II": rep["cycles_per_frame"], "fps": f"{rep['fps']:,.0f}",
                     "LUT": f"{u['LUT']:.0%}", "BRAM18": f"{u['BRAM18']:.0%}", "DSP": f"{u['DSP']:.0%}",
                     "s": f"{secs:.2f}", "note": f"{b.clock_mhz:g} MHz"})
    return rows


if __name__ == "__main__":
    print_table(f"TFC-w1a1 at FINN's test folding, {CLOCK:g} MHz (qloom graph with random weights)", tfc_rows())
    print_table("auto_fold vs FINN SetFolding: ours asked for the greedy result's fps (equal or better); "
                "@target: ours asked for the nominal target", greedy_rows())
    print_table("auto_fold for a board: fastest folding under 85% of LUT/FF/BRAM18/DSP", board_rows())
