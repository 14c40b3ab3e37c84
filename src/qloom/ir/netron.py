"""Write the IR as an ONNX file that Netron opens: one node per layer, constants as initializers.

For inspection only (domain `qloom`, not executable by onnxruntime).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from qloom.ir.graph import Graph
from qloom.ir.types import IntType


def _attr_value(v):
    if isinstance(v, IntType):
        return v.name
    if isinstance(v, (tuple, list)) and v and all(isinstance(i, (int, np.integer)) for i in v):
        return [int(i) for i in v]
    if isinstance(v, (tuple, list)) and v and all(isinstance(i, IntType) for i in v):
        return [i.name for i in v]  # a Concat's port types
    if hasattr(v, "value"):  # enums
        return str(v.value)
    if isinstance(v, (bool, int, float, str)):
        return v
    return None


def to_onnx(graph: Graph) -> onnx.ModelProto:
    """One node per layer; its data inputs are its producers' outputs (the graph's edges, so
    Netron draws the DAG), then its constants."""
    nodes, inits = [], []
    for layer in graph.layers:
        inputs = [f"{p}_out" for p in graph.input_names(layer.name)] or ["input"]
        attrs = {}
        for f in dataclasses.fields(layer):
            v = getattr(layer, f.name)
            if isinstance(v, np.ndarray):
                t = f"{layer.name}.{f.name}"
                arr = v.astype(np.int64) if v.dtype.kind in "iu" else v.astype(np.float32)
                inits.append(numpy_helper.from_array(arr, t))
                inputs.append(t)
            elif f.name not in ("name", "ref", "inputs"):
                av = _attr_value(v)
                if av is not None:
                    attrs[f.name] = av
        attrs["out_shape"] = list(layer.out_shape)
        attrs["out_dtype"] = layer.out_dtype.name
        nodes.append(helper.make_node(layer.kind, inputs, [f"{layer.name}_out"], name=layer.name, domain="qloom",
                                      **attrs))
    prev = f"{graph.layers[-1].name}_out" if graph.layers else "input"
    g = helper.make_graph(nodes, graph.name,
                          [helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, list(graph.onnx_input_shape) or None)],
                          [helper.make_tensor_value_info(prev, onnx.TensorProto.INT64, None)], initializer=inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("qloom", 1)],
                             producer_name="qloom")


def save(graph: Graph, path: str | Path) -> Path:
    path = Path(path)
    onnx.save(to_onnx(graph), str(path))
    return path
