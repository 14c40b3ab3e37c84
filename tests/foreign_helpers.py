"""Helpers for the foreign-model tests: boundary inputs of a float-threshold InputQuant, tiny ONNX files."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper


def boundary_inputs(graph) -> np.ndarray:
    """Inputs at every input threshold t and at the float32 just below it, in every channel.

    The boundary values cycle over each channel's positions, as few frames as that takes
    (CNV, 510 values over 32x32 positions: one frame; TFC: one frame per value).
    """
    iq = graph.input_quant
    t = np.unique(iq.thresholds[np.isfinite(iq.thresholds)])
    values = np.concatenate([t, np.nextafter(t, np.float32(-np.inf))]).astype(np.float32)
    shape = tuple(graph.onnx_input_shape[1:])
    c, positions = (shape[0], shape[1] * shape[2]) if len(shape) == 3 else (shape[0], 1)
    n = -(-len(values) // positions)
    frames = values[(np.arange(n)[:, None] * positions + np.arange(positions)[None, :]) % len(values)]
    x = np.repeat(frames[:, None, :], c, axis=1)  # (n, C, positions): every channel sees every value
    return x.reshape((n,) + shape)


def save_model(tmp_path, nodes, inits, in_shape, out_shape, name="m.onnx", in_dtype=None,
               elem=onnx.TensorProto.FLOAT, qonnx_first=False):
    """A one-graph model x -> y; `in_dtype` annotates x (qonnx datatype), `elem` types it in ONNX."""
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", elem, list(in_shape))],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, list(out_shape))],
        initializer=[onnx.numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    opsets = [helper.make_opsetid("", 13), helper.make_opsetid("qonnx.custom_op.general", 1)]
    model = helper.make_model(graph, opset_imports=opsets[::-1] if qonnx_first else opsets)
    if in_dtype is not None:  # qonnx's datatype annotation (FINN marks an integer input this way)
        from qonnx.core.datatype import DataType
        from qonnx.core.modelwrapper import ModelWrapper

        mw = ModelWrapper(model)
        mw.set_tensor_datatype("x", DataType[in_dtype])
        model = mw.model
    path = tmp_path / name
    onnx.save(model, path)
    return path
