"""QONNX model -> integer-only hardware IR (`run`), exact at every step.

Stages: `frontend.load` (clean + check) -> `Lowering` walk (handlers per op) -> output head
-> `dag.wire` (Forks, implied inputs).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper

from qloom.errors import QloomError
from qloom.frontend import load, unsupported
from qloom.ir import Graph, LabelSelect, OutputSpec
from qloom.streamline.chain import run_chain
from qloom.streamline.dag import wire
from qloom.streamline.handlers import HANDLERS
from qloom.streamline.lower import Lowering
from qloom.streamline.values import Stream


def run(model: str | Path | ModelWrapper, name: str | None = None) -> Graph:
    """Lower a QONNX model (path or cleaned ModelWrapper) into a checked IR graph."""
    if not isinstance(model, ModelWrapper):
        name = name or Path(model).stem
        model = load(model)
    lw = Lowering(model)
    g = model.graph
    in_name = g.input[0].name
    for node in g.node:
        if node.op_type not in HANDLERS:
            raise unsupported(node, "no lowering for this op")
        HANDLERS[node.op_type](lw, node)
    out = lw.values.get(g.output[0].name)
    if not isinstance(out, Stream):
        raise QloomError(f"the model output {g.output[0].name!r} does not depend on its input")
    if out.is_float or not lw.layers:
        raise QloomError("the model input is never quantized: add an input quantizer (e.g. Brevitas "
                         "QuantIdentity(bit_width=8) as the first layer) and export again")
    output = _output_spec(lw, out, g.output[0].name)
    lw.check_live(out, next(n for n in g.node if g.output[0].name in n.output))
    if lw.head is not None:
        node, k = lw.head
        uniform = np.unique(out.scale).size == 1 and out.scale[0] > 0 and (not out.chain or _order_kept(lw, out))
        if uniform and out.frame[:2] == (1, 1) and output.in_stream_order:  # a stream position is the class
            lw.add_layer(LabelSelect(name="labelselect", in_shape=out.frame,
                                     in_dtype=lw.layer(out.producer).out_dtype, k=k), out)
        # else: the top-k runs on the host from the logits (per-channel scales change the order,
        # or a flattened feature map streams channels-last: a stream position is not the class)
    if lw.layers[-1].name != "labelselect":  # the graph output is the last layer's
        lw.layers.append(lw.layers.pop(next(i for i, l in enumerate(lw.layers) if l.name == out.producer)))
    layers = wire(lw.layers, lw.fresh)
    return Graph(name=name or "model", layers=tuple(layers), output=output, onnx_input=in_name,
                 onnx_input_shape=tuple(model.get_tensor_shape(in_name)))


def _order_kept(lw: Lowering, s: Stream, max_levels: int = 1 << 16) -> bool:
    """The float ops after the last layer (e.g. bnn_pynq's TensorNorm) keep the accumulators' order.

    True if they are one function for every channel, strictly increasing on every integer
    the accumulators can take (run on all of them): then the top-k of the logits is the
    top-k of the integers, ties included, and the label select can be hardware.
    """
    lo, hi = int(s.lo.min()), int(s.hi.max())
    if hi - lo + 1 > max_levels:
        return False
    acc = np.arange(lo, hi + 1, dtype=np.float64)[:, None] * s.scale[lw.eval_order(s)][None, :]
    x = acc.astype(np.float32).reshape((len(acc),) + lw.eval_shape(s))
    y = run_chain(s.chain_start, list(s.chain), x, s.chain[-1].node.output[0], lw.opset).reshape(len(acc), -1)
    return bool(np.all(y == y[:, :1]) and np.all(np.diff(y[:, 0]) > 0))


def _output_spec(lw: Lowering, s: Stream, onnx_output: str) -> OutputSpec:
    """logits = int * scale + bias per stream channel, with the pending chain fitted as an affine map."""
    c = s.channels
    if s.chain:
        # evaluate the (affine) chain at acc = 0, 1 and 1024: scale and bias per channel
        order = lw.eval_order(s)
        shape = lw.eval_shape(s)
        probe = np.stack([np.zeros(c), np.ones(c), np.full(c, 1024.0)])
        x = (probe[:, order] * s.scale[order]).astype(np.float32).reshape((3,) + shape)
        last = s.chain[-1].node.output[0]
        y = run_chain(s.chain_start, list(s.chain), x, last, lw.opset).reshape(3, c).astype(np.float64)
        bias, slope = np.empty(c), np.empty(c)
        bias[order] = y[0]
        slope[order] = (y[2] - y[0]) / 1024.0
        if not np.allclose(y[1], y[0] + slope[order], rtol=1e-4, atol=1e-6):
            raise QloomError("the float ops after the last layer are not affine (e.g. a ReLU without a "
                             "quantizer): add an output quantizer or remove them")
        scale = slope
    else:
        scale, bias = s.scale.astype(np.float64), np.zeros(c)
    kind = "labels" if lw.head is not None else "logits"
    # per stream position (frames flatten channels-last); for (1, 1, C) outputs this is per class
    h, w, _ = s.frame
    return OutputSpec(scale=np.tile(scale, h * w), bias=np.tile(bias, h * w), onnx_output=onnx_output,
                      onnx_kind=kind, softmax=lw.softmax, index=np.asarray(s.index, dtype=np.int64))
