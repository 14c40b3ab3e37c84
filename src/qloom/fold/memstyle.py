"""The memory style resolved once, at the end of folding, and stored in the folded IR.

A layer's `mem_style` field ("auto" unless a folding chose one) names the style of its main
memory (a MatVec's weights, a Threshold's thresholds). The backend's cost model says what
"auto" becomes; `resolve_mem_styles` writes that into the field, so ir_folded.json says
what the backend builds and the emitter reads it instead of re-running the estimate. An
explicit style is kept; the cost model places a layer's other memories (a MatVec's
thresholds and input buffer, frame buffers, delay lines) on their own, as before.

The FIFO of each DAG edge is no IR layer: its style is resolved here too (`fifo_mem_style`),
once per edge by `fold.cycles.edge_fifos`, which the top generator and the cost model read
(a skip path's FIFO of thousands of words goes to block RAM, a burst's few words to LUTRAM).
"""

from __future__ import annotations

import dataclasses

from qloom.fold.model import cost_model
from qloom.ir import Graph, Layer, MemStyle

MAIN_MEMORY = ("weights", "thresholds")  # the memory a layer's mem_style field names, first found


def resolved_mem_style(layer: Layer, coeffs=None) -> MemStyle | None:
    """The style of the layer's main memory as built (None: the layer has none)."""
    styles = cost_model(coeffs).memory_styles(layer)
    return next((styles[n] for n in MAIN_MEMORY if n in styles), None)


def resolve_mem_styles(graph: Graph, coeffs=None) -> Graph:
    """`graph` with every "auto" mem_style replaced by the style the backend builds."""
    model = cost_model(coeffs)
    layers = []
    for l in graph.layers:
        if getattr(l, "mem_style", None) is MemStyle.AUTO:
            style = resolved_mem_style(l, model)
            if style is not None:
                l = dataclasses.replace(l, mem_style=style)
        layers.append(l)
    return graph.with_layers(layers)


def fifo_mem_style(depth: int, width: int, coeffs=None) -> MemStyle:
    """The style of a `depth` x `width`-bit stream FIFO: what the backend's cost model picks
    (its `fifo_style`: LUTRAM while it costs no more than the block RAM it saves)."""
    return cost_model(coeffs).fifo_style(depth, width)
