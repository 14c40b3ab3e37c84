"""What the top emits: class indices ("labels") or the last layer's integers ("logits").

`with_out_kind(graph, kind)` is the graph the RTL implements and verification runs: None
keeps the IR as it ends; "logits" drops a final LabelSelect; "labels" appends a top-1
LabelSelect where the IR allows it, by the rule streamline uses (the float logits are
int * scale + bias with one positive scale and one bias for every class, so the integer
order is the logits' order and ties stay ties), else a one-line QloomError.
"""

from __future__ import annotations

import numpy as np

from qloom.errors import QloomError
from qloom.ir import Graph, LabelSelect

OUT_KINDS = ("labels", "logits")


def out_kind(graph: Graph) -> str:
    return "labels" if graph.ends_in_labels else "logits"


def with_out_kind(graph: Graph, kind: str | None) -> Graph:
    if kind is None or kind == out_kind(graph):
        return graph
    if kind not in OUT_KINDS:
        raise QloomError(f"out_kind {kind!r}: use 'labels' or 'logits' (or None to keep the IR's)")
    if kind == "logits":
        return graph.with_layers(graph.layers[:-1])
    last = graph.layers[-1]
    scale, bias = np.asarray(graph.output.scale, float), np.asarray(graph.output.bias, float)
    why = None
    if tuple(last.out_shape[:2]) != (1, 1):
        why = f"its output {last.out_shape} is not one vector of classes"
    elif np.unique(scale).size != 1 or not scale.flat[0] > 0:
        why = "its output scale is not one positive scale for every class"
    elif np.unique(bias).size != 1:
        why = "its output has a per-class bias"
    if why:
        raise QloomError(f"graph {graph.name}: cannot emit labels in hardware ({why}, so the integer order "
                         f"is not the logits' order): use out_kind='logits' and take the argmax on the host")
    top1 = LabelSelect(name=_free_name(graph, "labelselect"), in_shape=last.out_shape, in_dtype=last.out_dtype, k=1)
    return graph.with_layers((*graph.layers, top1))


def _free_name(graph: Graph, base: str) -> str:
    names, name, i = {l.name for l in graph.layers}, base, 1
    while name in names:
        name, i = f"{base}_{i}", i + 1
    return name
