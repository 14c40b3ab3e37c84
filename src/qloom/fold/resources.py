"""Resources of a folded graph: per layer, the stream glue between layers, the DMA side.

The parts are costed by the backend's `model.CostModel` (for the RTL backend,
`qloom.backends.rtl.cost`: what the qloom library builds, as Yosys `synth_xilinx -family
xc7` maps it); this module only says which parts a design has and adds them up: a core per
hardware layer, in front of each further layer a FIFO (its input burst plus the producer's
output block, `qloom.hw.fifo_depth`) and a width converter when the producer's out_par
differs from the consumer's in_par, and the top's DMA side (`dma_resources`). Over a DAG
there is a FIFO (`cycles.edge_fifos`) and maybe a converter on every edge; "streams"
holds, per consumer, the sum over its input ports.
"""

from __future__ import annotations

from qloom.fold.cycles import dma_geometry, edge_fifos, tlast_queue_depth
from qloom.fold.model import cost_model
from qloom.hw import interface
from qloom.ir import Graph, InputQuant, Layer

KEYS = ("LUT", "FF", "BRAM18", "DSP")


def _add(a: dict, b: dict) -> dict:
    return {k: a.get(k, 0) + b.get(k, 0) for k in KEYS}


def _rounded(r: dict) -> dict:
    return {k: int(round(v)) for k, v in r.items()}


def layer_resources(layer: Layer, coeffs=None) -> dict:
    """{"LUT", "FF", "BRAM18", "DSP"} of one layer's core at its current folding (ints)."""
    if isinstance(layer, InputQuant) or not layer.hardware:
        return dict.fromkeys(KEYS, 0)
    return _rounded(_add({}, cost_model(coeffs).layer(layer)))


def fifo_resources(layer: Layer, producer_block: int = 1, coeffs=None) -> dict:
    """The FIFO in front of a layer (behind a producer of `producer_block`-word output runs)."""
    return cost_model(coeffs).fifo(layer, producer_block)


def dwc_resources(a: int, b: int, bits: int, coeffs=None, frame: int = 0) -> dict:
    """A width converter from a to b elements of `bits` per word (frames of `frame` elements)."""
    return cost_model(coeffs).converter(a, b, bits, frame)


def memory_styles(layer: Layer, coeffs=None) -> dict:
    """Memory name -> the style the backend builds (AUTO resolved)."""
    return cost_model(coeffs).memory_styles(layer)


def dma_resources(graph: Graph, coeffs=None) -> dict:
    """The top's DMA side at `cycles.dma_geometry`'s widths: the input converter and its
    FIFO (when the DMA word is not the first layer's), the output narrowing converter, and
    the TLAST logic (two word counters and a 1-bit flag FIFO of the generator's depth)."""
    hw = graph.hardware_layers
    if not hw:
        return dict.fromkeys(KEYS, 0)
    model = cost_model(coeffs)
    din, dout = dma_geometry(graph)
    total = dict.fromkeys(KEYS, 0)
    if din.converter:
        total = _add(total, model.converter(din.per_word, din.par, din.bits, din.elems))
        total = _add(total, model.fifo(hw[0], 1))
    if dout.converter:
        total = _add(total, model.converter(dout.par, dout.per_word, dout.bits))
    depth = tlast_queue_depth(graph, coeffs=model)
    total = _add(total, model.tlast(depth, din.words, dout.words))
    return _rounded(total)


def stream_resources(prev: Layer, layer: Layer, coeffs=None) -> dict:
    """The FIFO, and the width converter when producer out_par != consumer in_par, the top
    level puts before `layer`."""
    model = cost_model(coeffs)
    a, b = interface(prev), interface(layer)
    total = _add({}, model.fifo(layer, a.out_block))
    total = _add(total, model.converter(a.out_par, b.in_par, layer.in_dtype.bits))
    return _rounded(total)


def dag_stream_resources(graph: Graph, coeffs=None) -> dict[str, dict]:
    """Per consumer layer: the FIFO (`cycles.edge_fifos`: depth, side, memory style) and width
    converter on each of its input edges, summed."""
    model = cost_model(coeffs)
    streams: dict[str, dict] = {}
    for (prod, cons, port), f in edge_fifos(graph, model).items():
        layer, a = graph.layer(cons), interface(graph.layer(prod))
        r = _add(model.fifo(layer, a.out_block, f.depth, port, f.par, f.style),
                 model.converter(a.out_par, interface(layer).in_par, layer.in_dtypes[port].bits))
        streams[cons] = _add(streams.get(cons, {}), r)
    return {k: _rounded(v) for k, v in streams.items()}


def resources(graph: Graph, coeffs=None) -> dict:
    """Per layer resources, the stream glue in front of each layer, the DMA side, and totals.

    {"layers": {name: {LUT, FF, BRAM18, DSP}}, "streams": {name: {...}}, "totals": {...},
    "dma": {...}, "totals_with_dma": {...}}; "layers" are the cores alone (what per-module
    synthesis counts), totals add the stream glue between layers (what the folding search
    balances: the DMA side depends on the whole pipeline's II, which it does not see), and
    totals_with_dma the top's DMA side too (converter, its FIFO, TLAST).
    """
    model = cost_model(coeffs)
    per = {l.name: layer_resources(l, model) for l in graph.layers}
    hw = graph.hardware_layers
    if graph.linear:
        streams = {b.name: stream_resources(a, b, model) for a, b in zip(hw, hw[1:])}
    else:
        streams = dag_stream_resources(graph, model)
    totals = dict.fromkeys(KEYS, 0)
    for r in list(per.values()) + list(streams.values()):
        totals = _add(totals, r)
    dma = dma_resources(graph, model)
    return {"layers": per, "streams": streams, "totals": totals, "dma": dma, "totals_with_dma": _add(totals, dma)}


def reported_mem_style(layer: Layer, coeffs=None) -> str | None:
    """The style of a layer's main memory (weights, else thresholds) for reports."""
    styles = memory_styles(layer, coeffs)
    for name in ("weights", "thresholds"):
        if name in styles:
            return styles[name].value
    return None
