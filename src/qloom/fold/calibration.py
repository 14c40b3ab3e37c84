"""Resource estimates against Yosys: per layer of a generated and synthesized design.

`yosys_layers(result)` takes what `qloom.synth.synthesize` returns and counts, per
top-level instance, LUT (logic LUTs plus the LUTs that LUTRAM and SRL cells
occupy: a RAM32M is 4 LUT6 of a SLICEM, as Vivado's "Slice LUTs" counts them), FF,
BRAM18 (RAMB18 + 2 * RAMB36) and DSP. `compare(graph, result)` puts each layer's
estimate next to those counts: the core (`layers`) and, separately, the FIFO and width
converter in front of it (`streams`), the split `qloom.fold.resources` uses.
"""

from __future__ import annotations

from qloom.fold.resources import KEYS, resources


def yosys_layers(synth_result: dict) -> dict[str, dict]:
    """Instance -> {"layer" (None for glue), "part" ("core", "fifo", "dwc"), LUT, FF, BRAM18, DSP}
    from a per-layer `qloom.synth.synthesize` result."""
    return {inst: {"layer": c.get("layer"), "part": c.get("part"), "LUT": c["slice_LUT"], "FF": c["FF"],
                   "BRAM18": c["BRAM18"], "DSP": c["DSP"]}
            for inst, c in synth_result["layers"].items()}


def on_dma_side(instance: dict, streams) -> bool:
    """Whether a `yosys_layers` instance is the top's DMA side: the TLAST queue (no layer) or the
    converter + FIFO in front of the first layer, which the generator names after that layer but
    the estimate counts under "dma", not under the layer's "streams"."""
    return instance["layer"] is None or (instance["part"] != "core" and instance["layer"] not in streams)


def compare(graph, synth_result: dict | None = None, coeffs=None, got: dict | None = None) -> dict:
    """{"layers": {name: {"est": {...}, "yosys": {...}}}, "streams", "totals" (the whole top), "dma" (its
    DMA side), "dataflow" (totals without the DMA side), each {"est": {...}, "yosys": {...}}.

    `got` is a `yosys_layers` result (e.g. cached); else it is taken from synth_result."""
    est = resources(graph, coeffs)
    got = yosys_layers(synth_result) if got is None else got
    zero = dict.fromkeys(KEYS, 0)
    # Yosys counts the whole top, so its DMA side (converter, TLAST) is in the estimate compared
    out = {"layers": {}, "streams": {}, "totals": {"est": est["totals_with_dma"], "yosys": dict(zero)}}
    for name, r in est["layers"].items():
        mine = [v for v in got.values() if v["layer"] == name and v["part"] == "core"]
        if mine:
            out["layers"][name] = {"est": r, "yosys": {k: sum(v[k] for v in mine) for k in KEYS}}
    for name, r in est["streams"].items():
        mine = [v for v in got.values() if v["layer"] == name and v["part"] in ("fifo", "dwc")]
        out["streams"][name] = {"est": r, "yosys": {k: sum(v[k] for v in mine) for k in KEYS}}
    dma_side = dict(zero)
    for v in got.values():
        for k in KEYS:
            out["totals"]["yosys"][k] += v[k]
            if on_dma_side(v, est["streams"]):
                dma_side[k] += v[k]
    out["dma"] = {"est": est["dma"], "yosys": dma_side}
    # the dataflow between the DMA sides: what FINN's estimates (without its IODMA) count
    out["dataflow"] = {"est": est["totals"], "yosys": {k: out["totals"]["yosys"][k] - dma_side[k] for k in KEYS}}
    return out
