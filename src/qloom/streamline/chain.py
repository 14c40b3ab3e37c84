"""Exact thresholds from the float ops between an integer accumulator and a quantizer.

A QONNX model computes, per output channel, `q = Quant(f(acc * scale))` where `f` is a chain
of elementwise nodes (bias Add, BatchNormalization, Mul, Relu...) evaluated in float32.
Every IEEE operation is monotonic, so q is a monotonic step function of the integer acc.
Instead of re-deriving the float math (and missing a rounding corner), we *run the original
nodes* through qonnx's executor (onnxruntime per node, as the reference does) on candidate
accumulators and binary-search each step: threshold T_k = the smallest acc with q >= level k.

The float ops before the model's first quantizer (e.g. bnn_pynq's `2 * x - 1`) get the same
treatment over float32 inputs: every finite float32 is an integer key (`float_keys`, order
preserving), so the same search finds the smallest float32 input reaching each level.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import helper
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx


@dataclass
class ChainStep:
    """One original ONNX node plus the constant values of its non-stream inputs."""

    node: onnx.NodeProto
    consts: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class Terminal:
    """The quantizer ending a chain: its node, output scale and integer levels.

    integer level = rint(node_output / scale); levels are `base + step * k`, k = 0..n.
    """

    step: ChainStep
    scale: np.ndarray  # per stream channel
    base: int | None  # None: found by evaluating the range ends (Trunc)
    n: int | None  # number of thresholds
    level_step: int = 1


def run_chain(start: str, steps: list[ChainStep], x: np.ndarray, out: str, opset=13) -> np.ndarray:
    """Execute `steps` (original node order) on float32 input `x` fed as tensor `start`.

    `opset`: the model's opset imports as ((domain, version), ...), or a default-domain
    version. Custom-op versions matter: qonnx's Trunc v1 and v2 read different inputs.
    """
    inits, nodes = {}, []
    for s in steps:
        nodes.append(s.node)
        inits.update(s.consts)
    graph = helper.make_graph(
        nodes,
        "chain",
        [helper.make_tensor_value_info(start, onnx.TensorProto.FLOAT, list(x.shape))],
        [helper.make_tensor_value_info(out, onnx.TensorProto.FLOAT, None)],
        initializer=[onnx.numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()],
    )
    imports = [("", opset)] if isinstance(opset, int) else list(opset)
    model = ModelWrapper(helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in imports]))
    from qonnx.transformation.infer_shapes import InferShapes

    model = model.transform(InferShapes())
    return np.asarray(execute_onnx(model, {start: x.astype(np.float32)})[out])


class LevelFunction:
    """acc (M, C) int -> integer level (M, C) through chain + terminal, exactly as the reference."""

    def __init__(self, start: str, steps: list[ChainStep], terminal: Terminal,
                 mult: np.ndarray, eval_shape: tuple[int, ...], order: np.ndarray, opset: int = 13):
        self.start, self.steps, self.terminal = start, steps, terminal
        self.mult = np.asarray(mult, dtype=np.float64)  # chain input = acc * mult, exact in float32
        self.eval_shape = eval_shape  # (C,) or (C, 1, 1): the ONNX tensor with spatial dims of 1
        self.order = np.asarray(order)  # stream channel at each evaluation position
        self.opset = opset

    def chain_input(self, acc: np.ndarray) -> np.ndarray:
        return (acc[:, self.order].astype(np.float64) * self.mult[self.order]).astype(np.float32)

    def __call__(self, acc: np.ndarray) -> np.ndarray:
        """acc (M, C) in stream-channel order -> levels (M, C) in the same order."""
        m, c = acc.shape
        x = self.chain_input(acc)
        out_name = self.terminal.step.node.output[0]
        y = run_chain(self.start, self.steps + [self.terminal.step], x.reshape((m,) + self.eval_shape), out_name, self.opset)
        lv = np.empty((m, c), dtype=np.int64)
        scale = np.asarray(self.terminal.scale, dtype=np.float64).reshape(-1)
        lv[:, self.order] = np.rint(y.reshape(m, c).astype(np.float64) / scale[self.order])
        return lv


# float32 <-> int64 key, monotonic over the finite floats (-0.0 and +0.0 share key 0)
KEY_MAX = int(np.float32(np.finfo(np.float32).max).view(np.int32))
KEY_MIN = -KEY_MAX


def float_keys(x: np.ndarray) -> np.ndarray:
    bits = (np.asarray(x, dtype=np.float32) + np.float32(0)).view(np.int32).astype(np.int64)  # -0.0 -> +0.0
    return np.where(bits >= 0, bits, -(bits & 0x7FFFFFFF))


def key_floats(k: np.ndarray) -> np.ndarray:
    k = np.asarray(k, dtype=np.int64)
    bits = np.where(k >= 0, k, (-k) | 0x80000000).astype(np.uint32)
    return bits.view(np.float32)


class FloatLevelFunction(LevelFunction):
    """keys (M, C) of float32 model inputs -> integer level of the input quantizer (mult unused)."""

    def chain_input(self, acc: np.ndarray) -> np.ndarray:
        return key_floats(acc[:, self.order])


def derive_thresholds(level: LevelFunction, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Thresholds (C, n) on acc in [lo, hi] per channel, and the per-channel direction.

    direction[c] = -1 where the level falls as acc rises (negative scale or BN gamma): the
    thresholds are then on -acc (the caller negates that channel's weights).
    T[c, k] = min{a : level(a) >= base + step*(k+1)}, clipped into [lo, hi + 1]
    (lo: always reached; hi + 1: never).
    """
    t = level.terminal
    lo, hi = np.asarray(lo, dtype=np.int64), np.asarray(hi, dtype=np.int64)
    ends = level(np.stack([lo, hi]))
    direction = np.where(ends[1] < ends[0], -1, 1)
    # search on a' = direction * acc, which raises the level; its range:
    lo2 = np.where(direction > 0, lo, -hi)
    hi2 = np.where(direction > 0, hi, -lo)
    targets = t.base + t.level_step * np.arange(1, t.n + 1)  # (n,)
    # binary search for all (channel, level) pairs at once: smallest a' in [lo2, hi2+1] with level >= target
    left = np.repeat(lo2[:, None], t.n, axis=1)
    right = np.repeat(hi2[:, None] + 1, t.n, axis=1)
    while np.any(left < right):
        mid = (left + right) // 2
        # evaluate level(direction * mid) for every pair: rows = levels, cols = channels
        lv = level((mid * direction[:, None]).T.copy()).T  # (C, n)
        ok = lv >= targets[None, :]
        active = left < right
        right = np.where(active & ok, mid, right)
        left = np.where(active & ~ok, mid + 1, left)
    thresholds = np.sort(left, axis=1)  # already monotone; sort guards against float ties
    return thresholds, direction
