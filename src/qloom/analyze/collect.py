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
    shape: tuple[int, ...] = ()  # weights: the tensor's; activations: one frame's (without N)

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


def _activations(model: ModelWrapper, x: np.ndarray, nodes, max_values: int, seed: int, chunk: int):
    """{quant node name: (x, x_hat, per-frame shape)} and the model output, running the reference
    `chunk` frames at a time and keeping a seeded subsample of at most `max_values` elements per
    tensor (the same positions in x and x_hat), so memory stays bounded on conv layers."""
    ref = Reference(model)
    rng = np.random.default_rng(seed)
    keep: dict[str, list] = {n.name: [] for n in nodes}
    shapes: dict[str, tuple] = {}
    outputs = []
    for i in range(0, len(x), chunk):
        xb = x[i:i + chunk]
        ctx = ref.run(xb, full=True, batch=chunk)
        outputs.append(ctx[ref.output_name])
        for node in nodes:
            src, dst = node.input[0], node.output[0]
            if src not in ctx or dst not in ctx:
                continue
            xv, xh = ctx[src].reshape(-1), ctx[dst].reshape(-1)
            shapes[node.name] = ctx[src].shape[1:]
            budget = max(1, max_values * len(xb) // len(x))
            pos = np.sort(rng.choice(xv.size, size=budget, replace=False)) if xv.size > budget else np.arange(xv.size)
            # channel index of each kept element (axis 1 of N, C, ...) for per-channel scales
            per_frame = int(np.prod(shapes[node.name])) or 1
            inner = int(np.prod(shapes[node.name][1:])) if len(shapes[node.name]) > 1 else 1
            keep[node.name].append((xv[pos].astype(np.float64), xh[pos].astype(np.float64), (pos % per_frame) // inner))
    acts = {}
    for name, parts in keep.items():
        if parts:
            acts[name] = tuple(np.concatenate([p[k] for p in parts]) for k in range(3)) + (shapes[name],)
    return acts, np.concatenate(outputs)


def collect(model: ModelWrapper, x: np.ndarray, max_values: int = 1_000_000, seed: int = 0,
            chunk: int = 100) -> tuple[list[QuantTensor], np.ndarray]:
    """Quantizer tensors for float inputs x (N, C, H, W); also returns the model output (N, ...).

    Activation tensors larger than `max_values` elements (over all frames) are subsampled.
    """
    g = model.graph
    in_name = g.input[0].name
    quants = [n for n in g.node if n.op_type in ("Quant", "IntQuant", "BipolarQuant")]
    acts, output = _activations(model, x, [n for n in quants if model.get_initializer(n.input[0]) is None],
                                max_values, seed, chunk)
    out: list[QuantTensor] = []
    for node in quants:
        src = node.input[0]
        const = model.get_initializer(src)
        scale = np.asarray(model.get_initializer(node.input[1]), dtype=np.float64)
        bipolar = node.op_type == "BipolarQuant"
        if bipolar:
            zero, bits, signed, narrow = np.zeros(1), 1, True, False
        else:
            zero = np.asarray(model.get_initializer(node.input[2]), dtype=np.float64)
            bitwidth = np.asarray(model.get_initializer(node.input[3]))
            bits = int(bitwidth.reshape(-1)[0])
            signed, narrow = bool(attr(node, "signed", 1)), bool(attr(node, "narrow", 0))
        if const is not None:
            role = "weights"
            xv = np.asarray(const, dtype=np.float64)
            if bipolar:
                xh = binary_quant(xv, scale)
            else:
                xh = int_quant(xv, scale, zero, bitwidth, signed, narrow, attr(node, "rounding_mode", "ROUND"))
            sc, shape = np.broadcast_to(scale, xv.shape), xv.shape
        elif node.name in acts:
            role = "input" if src == in_name else "activation"
            xv, xh, channel, shape = acts[node.name]
            flat = scale.reshape(-1)
            sc = flat[channel % flat.size] if flat.size > 1 else np.full(xv.shape, flat[0])
        else:
            continue  # a quantizer on a constant expression (e.g. a quantized bias): not a tensor of data
        out.append(QuantTensor(name=node.name, role=role, where=_describe(model, node, role), x=xv, x_hat=xh,
                               scale=np.asarray(sc), zero_point=zero, bits=bits, signed=signed, narrow=narrow,
                               bipolar=bipolar, shape=tuple(int(d) for d in shape)))
    if not out:
        raise QloomError("the model has no Quant/BipolarQuant nodes to analyze")
    return out, output
