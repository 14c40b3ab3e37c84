"""Resource estimates against Yosys: per layer of a generated and synthesized design.

`yosys_layers(rtl_dir)` reads what `qloom.synth.synthesize` left in rtl_dir/synth and
counts, per top-level instance, LUT (logic LUTs plus the LUTs that LUTRAM and SRL cells
occupy: a RAM32M is 4 LUT6 of a SLICEM, as Vivado's "Slice LUTs" counts them), FF,
BRAM18 (RAMB18E1 + 2 * RAMB36E1) and DSP. `compare(graph, rtl_dir)` puts each layer's
estimate next to those counts: the core (`layers`) and, separately, the FIFO and width
converter in front of it (`streams`), the split `qloom.fold.resources` uses.
"""

from __future__ import annotations

import json
from pathlib import Path

from qloom.fold.coeffs import DEFAULT, Coefficients
from qloom.fold.resources import KEYS, resources

# LUT6 sites each distributed-memory primitive occupies (UG474, SLICEM).
LUTRAM_LUTS = {
    "RAM32X1S": 1, "RAM32X1D": 2, "RAM32M": 4, "RAM64X1S": 1, "RAM64X1D": 2, "RAM64M": 4,
    "RAM128X1S": 2, "RAM128X1D": 4, "RAM256X1S": 4, "SRL16E": 1, "SRLC16E": 1, "SRLC32E": 1,
}


def cell_counts(cells: dict[str, int]) -> dict[str, int]:
    """Primitive cells -> {LUT, FF, BRAM18, DSP}; LUT includes LUTRAM/SRL LUTs."""
    out = dict.fromkeys(KEYS, 0)
    for cell, n in cells.items():
        if cell.startswith("LUT") or cell == "INV":
            out["LUT"] += n
        elif cell in LUTRAM_LUTS:
            out["LUT"] += n * LUTRAM_LUTS[cell]
        elif cell.startswith("FD"):
            out["FF"] += n
        elif cell == "RAMB18E1":
            out["BRAM18"] += n
        elif cell == "RAMB36E1":
            out["BRAM18"] += 2 * n
        elif cell.startswith("DSP48"):
            out["DSP"] += n
    return out


def yosys_layers(rtl_dir: str | Path) -> dict[str, dict]:
    """Instance -> {"layer" (None for glue), "part" ("core", "fifo", "dwc"), LUT, FF, BRAM18, DSP}."""
    from qloom import synth

    rtl_dir = Path(rtl_dir)
    design = json.loads((rtl_dir / "design.json").read_text())
    stat = json.loads((rtl_dir / "synth" / "stat.json").read_text())
    modules = {synth._name(m): dict(v.get("num_cells_by_type", {})) for m, v in stat["modules"].items()}
    rolled = synth.rollup(modules)
    top = design["top"]
    cells = json.loads((rtl_dir / "synth" / "top.json").read_text())["modules"][top]["cells"]
    owner = {}
    for info in design["layers"]:
        owner[info["instance"]] = (info["name"], "core")
        owner[info["instance"] + "_fifo"] = (info["name"], "fifo")
        owner[info["instance"] + "_dwc"] = (info["name"], "dwc")
    out = {}
    for inst, cell in cells.items():
        kind = synth._name(cell["type"])
        if kind not in modules:
            continue
        layer, part = owner.get(inst, (None, None))
        out[inst] = {"layer": layer, "part": part, **cell_counts(rolled[kind])}
    return out


def compare(graph, rtl_dir: str | Path | None = None, coeffs: Coefficients = DEFAULT, got: dict | None = None) -> dict:
    """{"layers": {name: {"est": {...}, "yosys": {...}}}, "streams": {...}, "totals": {...}}.

    `got` is a `yosys_layers` result (e.g. cached); else it is read from rtl_dir."""
    est = resources(graph, coeffs)
    got = yosys_layers(rtl_dir) if got is None else got
    zero = dict.fromkeys(KEYS, 0)
    out = {"layers": {}, "streams": {}, "totals": {"est": est["totals"], "yosys": dict(zero)}}
    for name, r in est["layers"].items():
        mine = [v for v in got.values() if v["layer"] == name and v["part"] == "core"]
        if mine:
            out["layers"][name] = {"est": r, "yosys": {k: sum(v[k] for v in mine) for k in KEYS}}
    for name, r in est["streams"].items():
        mine = [v for v in got.values() if v["layer"] == name and v["part"] in ("fifo", "dwc")]
        out["streams"][name] = {"est": r, "yosys": {k: sum(v[k] for v in mine) for k in KEYS}}
    for v in got.values():
        for k in KEYS:
            out["totals"]["yosys"][k] += v[k]
    return out
