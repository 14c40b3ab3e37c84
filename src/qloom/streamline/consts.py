"""Constant tensors: evaluate constant-only nodes, and split quantized weights into int x scale."""

from __future__ import annotations

import numpy as np
import onnx
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_node

from qloom import semantics as sem
from qloom.ir import BIPOLAR, IntType
from qloom.streamline.values import QConst


def attr(node: onnx.NodeProto, name: str, default=None):
    for a in node.attribute:
        if a.name == name:
            v = onnx.helper.get_attribute_value(a)
            return v.decode() if isinstance(v, bytes) else v
    return default


def eval_node(model: ModelWrapper, node: onnx.NodeProto, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run one node on constant inputs with qonnx's executor (handles the custom ops too)."""
    context = dict(inputs)
    for o in node.output:
        context[o] = None
    execute_node(node, context, model.graph, opset_of(model))
    return {o: np.asarray(context[o]) for o in node.output}


def opset_of(model: ModelWrapper) -> int:
    return next((o.version for o in model.model.opset_import if o.domain in ("", "ai.onnx")), 13)


def quant_params(node: onnx.NodeProto, value_of) -> dict:
    """Quantizer parameters of a Quant/IntQuant/BipolarQuant node (its inputs must be constant)."""
    if node.op_type == "BipolarQuant":
        return dict(scale=value_of(node.input[1]), zero_point=np.zeros(()), bits=1, signed=True,
                    narrow=False, rounding="ROUND", bipolar=True)
    bits = float(np.asarray(value_of(node.input[3])).reshape(-1)[0])
    signed = bool(attr(node, "signed", 1))
    zero_point = value_of(node.input[2])
    # a 1-bit signed Quant gives +-1 (qonnx); with a zero point, +-1 - zp: not the bipolar type
    bipolar = int(bits) == 1 and signed and not np.any(np.asarray(zero_point))
    return dict(scale=value_of(node.input[1]), zero_point=zero_point, bits=int(bits),
                signed=signed, narrow=bool(attr(node, "narrow", 0)),
                rounding=str(attr(node, "rounding_mode", "ROUND")), bipolar=bipolar)


def levels(p: dict) -> tuple[int, int, int]:
    """(lowest integer level, number of steps, step) of a quantizer's output, zero point removed."""
    if p["bipolar"]:
        return -1, 1, 2
    zp = np.asarray(p["zero_point"], dtype=np.float64)
    if zp.size > 1 and np.any(zp != zp.reshape(-1)[0]):
        raise ValueError("per-channel zero points are not supported")
    zp = float(zp.reshape(-1)[0])
    if zp != round(zp):
        raise ValueError(f"non-integer zero point {zp}")
    if p["bits"] == 1 and p["signed"]:  # +-1 - zp (see `semantics.quantize`)
        return -1 - int(zp), 1, 2
    from qonnx.custom_op.general.quant import max_int, min_int

    lo = int(min_int(p["signed"], p["narrow"], p["bits"])) - int(zp)
    hi = int(max_int(p["signed"], p["narrow"], p["bits"])) - int(zp)
    return lo, hi - lo, 1


def level_type(base: int, n: int, step: int) -> IntType:
    if step == 2 and base == -1 and n == 1:
        return BIPOLAR
    return IntType.for_range(base, base + step * n)


def quantize_const(node: onnx.NodeProto, x: np.ndarray, p: dict, value: np.ndarray) -> QConst:
    """A Quant node applied to a constant (weights, bias): its integers, scales and type."""
    scale = np.broadcast_to(np.asarray(p["scale"], dtype=np.float64), value.shape)
    q = sem.quantize(x, np.asarray(p["scale"], np.float32), np.asarray(p["zero_point"], np.float32),
                     p["bits"], p["signed"], p["narrow"], p["rounding"], bipolar=p["bipolar"])
    q = np.broadcast_to(q, value.shape).astype(np.int64)
    base, n, step = levels(p)
    return QConst(value=value, int_value=q, scale=np.array(scale), dtype=level_type(base, n, step))
