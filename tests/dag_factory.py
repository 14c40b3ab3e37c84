"""Random branching QONNX graphs (residual adds, concats, forks to several readers, mixed
bit widths), written directly as ONNX nodes: a few milliseconds per model, so a hypothesis
run of hundreds stays fast.

Every scale is a power of two and every weight an integer, so the float32 arithmetic of
the QONNX reference is exact and the IR must equal it bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx
from hypothesis import strategies as st
from onnx import helper

QONNX = "qonnx.custom_op.general"


@dataclass
class T:
    """A tensor of the graph being built: name, channels, and its scale per channel."""

    name: str
    c: int
    scale: np.ndarray  # (c,) powers of two (a concat's differ per channel)
    lo: float  # bounds of the integer values (int = value / scale)
    hi: float


@dataclass
class Builder:
    h: int
    w: int
    rng: np.random.Generator
    nodes: list = field(default_factory=list)
    inits: dict = field(default_factory=dict)
    n: int = 0

    def fresh(self, p: str) -> str:
        self.n += 1
        return f"{p}{self.n}"

    def const(self, v, p="c") -> str:
        name = self.fresh(p)
        self.inits[name] = np.asarray(v, dtype=np.float32)
        return name

    def quant(self, x: T, bits: int, signed: bool, scale: float, narrow: bool = False) -> T:
        out = self.fresh("q")
        if bits == 1:
            self.nodes.append(helper.make_node("BipolarQuant", [x.name, self.const(scale)], [out], domain=QONNX))
            return T(out, x.c, np.full(x.c, scale), -1, 1)
        self.nodes.append(helper.make_node(
            "Quant", [x.name, self.const(scale), self.const(0.0), self.const(bits)], [out], domain=QONNX,
            signed=int(signed), narrow=int(narrow), rounding_mode="ROUND"))
        lo = (-(2 ** (bits - 1)) + int(narrow)) if signed else 0
        hi = 2 ** (bits - 1) - 1 if signed else 2 ** bits - 1
        return T(out, x.c, np.full(x.c, scale), lo, hi)

    def conv(self, x: T, oc: int, k: int, wbits: int) -> T:
        """k x k, 'same' padding, integer weights: the output is exact in float32 (small sums)."""
        lim = max(1, 2 ** (wbits - 1) - 1)
        wv = self.rng.integers(-lim, lim + 1, size=(oc, x.c, k, k))
        out = self.fresh("conv")
        p = k // 2
        self.nodes.append(helper.make_node("Conv", [x.name, self.const(wv, "w")], [out], kernel_shape=[k, k],
                                           pads=[p, p, p, p]))
        s = float(np.min(x.scale))  # the finest input grid (a concat's channels may differ)
        m = float(max(abs(x.lo), abs(x.hi))) * float(np.max(x.scale)) / s * np.abs(wv).reshape(oc, -1).sum(axis=1).max()
        return T(out, oc, np.full(oc, s), -m, m)

    def relu(self, x: T) -> T:
        out = self.fresh("relu")
        self.nodes.append(helper.make_node("Relu", [x.name], [out]))
        return T(out, x.c, x.scale, 0, max(x.hi, 0))

    def add(self, a: T, b: T) -> T:
        out = self.fresh("add")
        self.nodes.append(helper.make_node("Add", [a.name, b.name], [out]))
        s = np.minimum(a.scale, b.scale)
        return T(out, a.c, s, (a.lo * a.scale + b.lo * b.scale).min() / s.min(),
                 (a.hi * a.scale + b.hi * b.scale).max() / s.min())

    def concat(self, xs: list[T]) -> T:
        out = self.fresh("cat")
        self.nodes.append(helper.make_node("Concat", [x.name for x in xs], [out], axis=1))
        return T(out, sum(x.c for x in xs), np.concatenate([x.scale for x in xs]),
                 min(x.lo for x in xs), max(x.hi for x in xs))

    def requant(self, x: T, bits: int, signed: bool, relu: bool = False) -> T:
        """A quantizer whose grid spreads the tensor's range over its levels (a power-of-two scale)."""
        if relu:
            x = self.relu(x)
        span = max(abs(x.lo), abs(x.hi), 1.0) * float(np.max(x.scale))
        levels = 1 if bits == 1 else 2 ** (bits - 1 if signed else bits)
        e = min(int(np.ceil(np.log2(span / levels))) - int(self.rng.integers(0, 3)), 1)
        return self.quant(x, bits, signed or bits == 1, 2.0 ** e)

    def model(self, x_shape, out: T, out_shape) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes, "dag", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, list(x_shape))],
            [helper.make_tensor_value_info(out.name, onnx.TensorProto.FLOAT, list(out_shape))],
            initializer=[onnx.numpy_helper.from_array(v, k) for k, v in self.inits.items()])
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(QONNX, 1)])


BITS = [1, 2, 3, 4, 8]


@st.composite
def dag_models(draw, max_steps: int = 4, max_hw: int = 5):
    """(ONNX model, input shape (1, C, H, W), a description) of a random branching network."""
    c = draw(st.integers(1, 3))
    h, w = draw(st.integers(2, max_hw)), draw(st.integers(2, max_hw))
    b = Builder(h, w, np.random.default_rng(draw(st.integers(0, 2**31 - 1))))
    in_signed = draw(st.booleans())
    x = T("x", c, np.ones(c), -1 if in_signed else 0, 1)
    live = [b.quant(x, 8, in_signed, 2.0 ** -7 if in_signed else 2.0 ** -8)]
    x_in = live[0]
    kinds = []
    for _ in range(draw(st.integers(1, max_steps))):
        kind = draw(st.sampled_from(["conv", "residual", "residual2", "residual_acc", "concat", "fork3"]))
        kinds.append(kind)
        t = live[draw(st.integers(0, len(live) - 1))]
        bits, signed = draw(st.sampled_from(BITS)), draw(st.booleans())
        if kind == "conv":
            y = b.requant(b.conv(t, draw(st.integers(1, 4)), draw(st.sampled_from([1, 3])), draw(st.sampled_from(BITS))),
                          bits, signed, relu=draw(st.booleans()))
        elif kind in ("residual", "residual2"):
            # t -> conv -> quant (scale a power of two from t's) -> add t [-> relu] -> quant
            # residual2: the skip path has its own conv + quantizer (a downsample-style shortcut)
            if np.unique(t.scale).size != 1:
                t = b.requant(t, 4, True)
            branch = b.requant(b.conv(t, t.c, draw(st.sampled_from([1, 3])), draw(st.sampled_from(BITS))),
                               bits, signed)
            skip = t if kind == "residual" else b.requant(b.conv(t, t.c, 1, 4), draw(st.sampled_from(BITS)),
                                                          draw(st.booleans()))
            s = b.add(branch, skip) if draw(st.booleans()) else b.add(skip, branch)
            y = b.requant(s, draw(st.sampled_from(BITS)), draw(st.booleans()), relu=draw(st.booleans()))
        elif kind == "residual_acc":  # the conv's accumulator itself (no quantizer) plus the skip
            if np.unique(t.scale).size != 1:
                t = b.requant(t, 4, True)
            acc = b.conv(t, t.c, draw(st.sampled_from([1, 3])), draw(st.sampled_from(BITS)))
            y = b.requant(b.add(acc, t), bits, signed, relu=draw(st.booleans()))
        elif kind == "concat":
            # distinct inputs: qonnx's cleanup renames only the first of a node's repeated inputs
            picks = draw(st.lists(st.integers(0, len(live) - 1), min_size=min(2, len(live)), max_size=3, unique=True))
            y = b.concat([live[i] for i in picks])
            if draw(st.booleans()):  # else a weight layer reading it folds the grids into its weights
                y = b.requant(y, bits, signed)
        else:  # fork3: one tensor read by three layers, merged back
            a1 = b.requant(b.conv(t, t.c, 1, 4), bits, signed)
            a2 = b.requant(b.conv(t, 2, 3, 3), 4, False, relu=True)
            y = b.concat([a1, a2, t])
        live.append(y)
    out = live[-1]
    if draw(st.booleans()):  # read every tensor left unread: the graph has no dead branch
        used = {i for n in b.nodes for i in n.input}
        rest = [t for t in live[:-1] if t.name not in used and t is not x_in]
        if rest:
            out = b.requant(b.concat([out] + rest), 4, draw(st.booleans()))
    if draw(st.booleans()):  # a dense head over the flattened map
        flat = b.fresh("flat")
        b.nodes.append(helper.make_node("Flatten", [out.name], [flat]))
        k = out.c * h * w
        n_out = draw(st.integers(2, 5))
        wv = b.rng.integers(-3, 4, size=(k, n_out))
        logits = b.fresh("logits")
        b.nodes.append(helper.make_node("MatMul", [flat, b.const(wv, "w")], [logits]))
        out_t, out_shape = T(logits, n_out, np.ones(n_out), 0, 0), (1, n_out)
    else:
        out_t, out_shape = out, (1, out.c, h, w)
    return b.model((1, c, h, w), out_t, out_shape), (1, c, h, w), "-".join(kinds)


def inputs(shape, n: int, seed: int = 0) -> np.ndarray:
    """Random inputs in [-1, 1] (both signs, and values beyond an unsigned quantizer's range)."""
    x = np.random.default_rng(seed).uniform(-1.0, 1.0, size=(n,) + tuple(shape[1:])).astype(np.float32)
    return np.concatenate([x, np.zeros_like(x[:1]), np.ones_like(x[:1]), -np.ones_like(x[:1])])
