"""Per-quantizer tensors of a QONNX model on real data: what each Quant/BipolarQuant node reads
(float) and writes (on its grid), with the grid itself.

Weights come from the initializers (the float latent weights Brevitas exports in front of each
weight quantizer); activations from one batched run of the qonnx reference executor (the same
one `qloom verify` compares against) with every intermediate tensor kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.general.bipolar_quant import binary_quant
from qonnx.custom_op.general.intquant import int_quant, max_int, min_int

from qloom.errors import QloomError
from qloom.streamline.consts import attr
from qloom.verify.reference import Reference


@dataclass
class QuantTensor:
    """One quantizer's input x and output x_hat, its role and grid (scale per element broadcast)."""

    name: str  # the Quant node
    role: str  # "input", "weights" or "activation"
    where: str  # a human description: "weights of Gemm_0", "after Relu_1 (into Gemm_2)"
    x: np.ndarray
    x_hat: np.ndarray
    scale: np.ndarray  # broadcastable to x's shape
    zero_point: np.ndarray
    bits: int
    signed: bool
    narrow: bool
    bipolar: bool

    @property
    def per_channel(self) -> bool:
        return np.unique(self.scale).size > 1

    def qrange(self) -> tuple[int, int]:
        if self.bipolar:
            return -1, 1
        return int(min_int(self.signed, self.narrow, self.bits)), int(max_int(self.signed, self.narrow, self.bits))


def _producer(model: ModelWrapper, tensor: str):
    return model.find_producer(tensor)


def _consumers(model: ModelWrapper, tensor: str) -> list[str]:
    return [n.name for n in model.find_consumers(tensor) or []]


def _describe(model: ModelWrapper, node, role: str) -> str:
    users = _consumers(model, node.output[0])
    if role == "weights":
        return f"weights of {', '.join(users) or '?'}"
    if role == "input":
        return f"model input (into {', '.join(users) or '?'})"
    prod = _producer(model, node.input[0])
    return f"after {prod.name if prod is not None else '?'}" + (f" (into {', '.join(users)})" if users else " (output)")


def collect(model: ModelWrapper, x: np.ndarray, max_values: int = 2_000_000, seed: int = 0) -> tuple[list[QuantTensor], np.ndarray]:
    """Quantizer tensors for float inputs x (N, C, H, W); also returns the model output (N, ...).

    Activation tensors larger than `max_values` elements are subsampled (seeded, same positions
    in x and x_hat), so that histograms and SQNR stay cheap on conv layers.
    """
    ref = Reference(model)
    ctx = ref.run(x, full=True)
    g = model.graph
    in_name = g.input[0].name
    rng = np.random.default_rng(seed)
    out: list[QuantTensor] = []
    for node in g.node:
        if node.op_type not in ("Quant", "IntQuant", "BipolarQuant"):
            continue
        src = node.input[0]
        const = model.get_initializer(src)
        scale = np.asarray(model.get_initializer(node.input[1]), dtype=np.float64)
        bipolar = node.op_type == "BipolarQuant"
        if bipolar:
            zero, bits, signed, narrow = np.zeros(1), 1, True, False
        else:
            zero = np.asarray(model.get_initializer(node.input[2]), dtype=np.float64)
            bits = int(np.asarray(model.get_initializer(node.input[3])).reshape(-1)[0])
            signed, narrow = bool(attr(node, "signed", 1)), bool(attr(node, "narrow", 0))
        if const is not None:
            role = "weights"
            xv = np.asarray(const, dtype=np.float64)
            if bipolar:
                xh = binary_quant(xv, scale)
            else:
                xh = int_quant(xv, scale, zero, np.asarray(model.get_initializer(node.input[3])), signed, narrow, attr(node, "rounding_mode", "ROUND"))
            sc = np.broadcast_to(scale, xv.shape)
        elif src in ctx and node.output[0] in ctx:
            role = "input" if src == in_name else "activation"
            xv = ctx[src].astype(np.float64)
            xh = ctx[node.output[0]].astype(np.float64)
            sc = np.broadcast_to(scale, xv.shape)
            if xv.size > max_values:
                pick = rng.choice(xv.size, size=max_values, replace=False)
                xv, xh, sc = xv.reshape(-1)[pick], xh.reshape(-1)[pick], sc.reshape(-1)[pick]
        else:
            continue  # a quantizer on a constant expression (e.g. a quantized bias): not a tensor of data
        out.append(QuantTensor(name=node.name, role=role, where=_describe(model, node, role), x=xv, x_hat=xh,
                               scale=np.asarray(sc), zero_point=zero, bits=bits, signed=signed, narrow=narrow,
                               bipolar=bipolar))
    if not out:
        raise QloomError("the model has no Quant/BipolarQuant nodes to analyze")
    return out, ctx[ref.output_name]
