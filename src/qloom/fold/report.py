"""The `report.json` content of a folded graph: cycles, resources and board utilization.

Per layer: folding (pe, simd, and a sliding window's kpar; None where a kind has no such
field), cycles, resources of its core and the resolved memory style (what
"auto" became). `streams` holds the FIFO/width-converter glue the top level adds in front
of each layer; `totals` include it. Utilization is a fraction of the board's capacity.
"""

from __future__ import annotations

from qloom.fold.boards import Board, get_board
from qloom.fold.model import cost_model
from qloom.fold.cycles import performance
from qloom.fold.resources import KEYS, reported_mem_style, resources


def report(graph, clock_mhz: float, board: str | Board | None = None, coeffs=None) -> dict:
    """Per layer folding, cycles and resources; pipeline totals; utilization of `board`."""
    coeffs = cost_model(coeffs)
    perf = performance(graph, clock_mhz, coeffs)
    res = resources(graph, coeffs)
    layers = []
    for l in graph.layers:
        layers.append({
            "name": l.name,
            "kind": l.kind,
            "in_shape": list(l.in_shape),
            "out_shape": list(l.out_shape),
            "pe": getattr(l, "pe", None),
            "simd": getattr(l, "simd", None),
            "kpar": getattr(l, "kpar", None),  # a sliding window's window words per output word
            "mmv": getattr(l, "mmv", None),  # output pixels per cycle (a window's or a MatVec's)
            "cycles": perf["cycles"][l.name],
            "resources": res["layers"][l.name],
            "mem_style": reported_mem_style(l, coeffs),
            "hardware": l.hardware,
        })
    out = {
        "graph": graph.name,
        "layers": layers,
        "streams": res["streams"],  # FIFO and width converter in front of each layer
        "totals": res["totals"],  # layers + streams
        "dma": res["dma"],  # the top's DMA side: input converter and FIFO, TLAST (fold.resources.dma_resources)
        "totals_with_dma": res["totals_with_dma"],
        "cycles_per_frame": perf["cycles_per_frame"],
        "latency_cycles": perf["latency_cycles"],
        "fps": perf["fps"],
        "clock_mhz": clock_mhz,
        "bottleneck": perf["bottleneck"],
        "board": None,
    }
    if board is not None:
        b = get_board(board)
        out["board"] = {
            "name": b.name,
            "part": b.part,
            "family": b.family,
            "capacity": b.capacity,
            "utilization": {k: res["totals"][k] / b.capacity[k] if b.capacity[k] else None for k in KEYS},
        }
    return out
