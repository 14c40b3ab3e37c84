"""How far the QONNX reference's own float32 rounding can move a pre-activation.

qloom's integer accumulators are exact; the reference computes the same dot products in
float32. Where every input, weight and partial sum lies on a common power-of-two grid with
fewer than 24 significant bits, float32 is exact and the bound is 0 (the zoo models). Where it
is not (float scales), each element of a dot product of length n obeys the standard forward
error bound |fl(sum) - sum| <= gamma_n * sum |x_i| |w_i|, gamma_n = n u / (1 - n u), u = 2**-24.
We add a few roundings (the inputs' and weights' own fl(q * s), the IR's fl(acc * scale), a
bias) so that the IR's evaluation point lies within the bound too.

A `Site` is what feeds one quantizer (or the logits): the source tensor (a MatMul/Gemm/Conv or
pool output, or a merge: an Add of two activation tensors, a residual add), and the
reference's own float ops from it to the quantizer. Because those ops
are monotonic, the quantizer output of any value within +-E of the reference's source value
lies between the outputs at the two ends: `interval` runs the reference's nodes there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from qonnx.core.modelwrapper import ModelWrapper

from qloom.streamline.chain import ChainStep, run_chain

U = 2.0**-24  # unit roundoff of float32
ELEMENTWISE = {"Add", "Sub", "Mul", "Div", "BatchNormalization", "Relu"}
LAYOUT = {"Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Identity", "Dropout"}
QUANTIZERS = {"Quant", "IntQuant", "BipolarQuant", "MultiThreshold", "Trunc"}
DOT = {"MatMul", "Gemm", "Conv"}
AVG = {"AveragePool", "GlobalAveragePool"}
EXTRA_ROUNDINGS = 6  # fl(q*s) of inputs and weights, the product, a bias, the IR's fl(acc*scale), slack


def gamma(n) -> np.ndarray:
    nu = np.asarray(n, dtype=np.float64) * U
    return nu / (1.0 - nu)


@dataclass
class Site:
    """The reference computation feeding tensor `end`: `source` -> `chain` (float ops) -> `end`."""

    end: str
    source: str
    source_node: onnx.NodeProto | None  # None: the source is a quantizer output or the model input
    chain: list  # NodeProto list, from the source's consumer to the node producing `end`


class Graphs:
    """Producer map, the input-dependent tensors and constant values of one QONNX model."""

    def __init__(self, model: ModelWrapper, constants: dict[str, np.ndarray]):
        self.model = model
        self.producer = {o: n for n in model.graph.node for o in n.output}
        dyn = {model.graph.input[0].name}
        for n in model.graph.node:  # nodes are topologically sorted
            if any(i in dyn for i in n.input):
                dyn.update(n.output)
        self.dynamic = dyn
        self.constants = constants
        self.opset = tuple((o.domain, o.version) for o in model.model.opset_import)

    def stream_input(self, node: onnx.NodeProto) -> str:
        return next(i for i in node.input if i in self.dynamic)

    def merges(self, node: onnx.NodeProto) -> bool:
        """An elementwise op of two activation tensors (a residual Add): a site starts there."""
        return node.op_type in ELEMENTWISE and sum(i in self.dynamic for i in node.input) > 1

    def const_inputs(self, node: onnx.NodeProto) -> dict[str, np.ndarray]:
        return {i: self.constants[i] for i in node.input if i and i not in self.dynamic}

    def site(self, end: str) -> Site:
        chain, cur = [], end
        node = self.producer.get(cur)
        if node is not None and node.op_type in QUANTIZERS and end in node.output:
            chain, cur = [node], self.stream_input(node)
        while (node := self.producer.get(cur)) is not None and node.op_type in ELEMENTWISE | LAYOUT \
                and not self.merges(node):
            chain.insert(0, node)
            cur = self.stream_input(node)
        node = self.producer.get(cur)
        src = node if node is not None and (node.op_type in DOT | AVG | {"MaxPool"} | LAYOUT or self.merges(node)) else None
        return Site(end=end, source=cur, source_node=src, chain=chain)

    def run(self, nodes: list, start: str, x: np.ndarray, out: str, consts: dict | None = None) -> np.ndarray:
        steps = [ChainStep(n, {**self.const_inputs(n), **(consts or {})}) for n in nodes]
        return run_chain(start, steps, np.asarray(x, dtype=np.float32), out, self.opset)

    # ------------------------------------------------------------------ bounds
    def bound(self, tensor: str, ctx: dict[str, np.ndarray]) -> tuple[np.ndarray | float, bool]:
        """(E, exact): elementwise bound on |reference value - exact value| of `tensor` (0 if exact)."""
        node = self.producer.get(tensor)
        if node is None or tensor not in self.dynamic or node.op_type in QUANTIZERS:
            return 0.0, True  # model input or a quantizer output: the values both sides agree on
        if node.op_type in DOT:
            return self._dot_bound(node, ctx)
        if node.op_type in AVG:
            return self._avg_bound(node, ctx)
        if self.merges(node):
            return self._merge_bound(node, ctx)
        if node.op_type in {"MaxPool"} | LAYOUT | {"Relu"}:  # exact selections: bound of the input
            e, exact = self.bound(self.stream_input(node), ctx)
            if exact:
                return 0.0, True
            x = self.stream_input(node)
            return self.run([node], x, np.broadcast_to(e, ctx[x].shape), node.output[0]), False
        return 0.0, True  # no rounding model for this op: compared exactly (never hides a difference)

    def _dot_bound(self, node, ctx) -> tuple[np.ndarray | float, bool]:
        x_name = self.stream_input(node)
        x = ctx[x_name]
        consts = self.const_inputs(node)
        w_name = node.input[1]
        w = consts[w_name]
        b = consts.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        trans_b = node.op_type == "Gemm" and any(a.name == "transB" and a.i for a in node.attribute)
        if node.op_type == "Conv":
            n, per_out = int(np.prod(w.shape[1:])), np.abs(w).reshape(w.shape[0], -1).sum(axis=1)
        else:
            n, per_out = (w.shape[1], np.abs(w).sum(axis=1)) if trans_b else (w.shape[0], np.abs(w).sum(axis=0))
        gx, gw = self._pow2_grid(x_name), self._pow2_grid(w_name)
        if gx is not None and gw is not None:  # exact if every partial sum stays below 2**24 grid units
            g = min(gx * gw, grid(b)) if b is not None else gx * gw
            total = float(np.max(np.abs(x), initial=0.0)) * float(per_out.max(initial=0.0))
            total += float(np.max(np.abs(b), initial=0.0)) if b is not None else 0.0
            if total / g < 2.0**24:
                return 0.0, True
        absd = {k: np.abs(v).astype(np.float32) for k, v in consts.items()}
        mag = self.run([node], x_name, np.abs(x), node.output[0], absd).astype(np.float64)
        e_in, exact_in = self.bound(x_name, ctx)
        e = gamma(n + EXTRA_ROUNDINGS) * mag / (1.0 - gamma(n))
        if not exact_in:  # an inexact input (not produced by a quantizer): propagate through |w|
            e = e + self.run([node], x_name, np.broadcast_to(e_in, x.shape), node.output[0],
                             {**absd, **({node.input[2]: np.zeros_like(b)} if b is not None else {})})
        return e, False

    def _merge_bound(self, node, ctx) -> tuple[np.ndarray | float, bool]:
        """A sum of two activation tensors: exact on a common power-of-two grid below 2**24 steps,
        else the inputs' bounds plus the roundings of their fl(q * s) and of the sum."""
        ins = [i for i in node.input if i in self.dynamic]
        bounds = [self.bound(i, ctx) for i in ins]
        grids = [self._pow2_grid(i) for i in ins]
        mag = sum(np.abs(ctx[i]).astype(np.float64) for i in ins)
        if all(ex for _, ex in bounds) and None not in grids and \
                float(np.max(mag, initial=0.0)) / min(grids) < 2.0**24:
            return 0.0, True
        e = gamma(EXTRA_ROUNDINGS) * mag + sum(np.broadcast_to(e_i, mag.shape) for e_i, _ in bounds)
        return e, False

    def _avg_bound(self, node, ctx) -> tuple[np.ndarray | float, bool]:
        x_name = self.stream_input(node)
        x = ctx[x_name]
        mag = self.run([node], x_name, np.abs(x), node.output[0]).astype(np.float64)
        if node.op_type == "GlobalAveragePool":
            n = int(np.prod(x.shape[2:]))
        else:
            n = int(np.prod(next(a.ints for a in node.attribute if a.name == "kernel_shape")))
        e_in, exact_in = self.bound(x_name, ctx)
        gx = self._pow2_grid(x_name)
        if exact_in and gx is not None and n & (n - 1) == 0 and float(np.max(mag, initial=0.0)) * n / gx < 2.0**24:
            return 0.0, True
        e = gamma(n + EXTRA_ROUNDINGS) * mag / (1.0 - gamma(n))
        if not exact_in:
            e = e + self.run([node], x_name, np.broadcast_to(e_in, x.shape), node.output[0])
        return e, False

    def _pow2_grid(self, tensor: str) -> float | None:
        """A power of two of which every value of `tensor` is an integer multiple, when the tensor
        is a quantizer's output (through layout ops and max pools) with power-of-two scales, so its
        float32 values are exactly int * scale (as the IR assumes); None otherwise."""
        node = self.producer.get(tensor)
        while node is not None and (node.op_type in LAYOUT or node.op_type == "MaxPool"):
            tensor = node.input[0]
            node = self.producer.get(tensor)
        if node is None:
            v = self.constants.get(tensor)
            return 1.0 if v is not None and bool(np.all(v == np.round(v))) else None  # integer weights
        if (self.merges(node) and node.op_type == "Add") or node.op_type == "Concat":  # on the finest grid
            grids = [self._pow2_grid(i) for i in node.input if i in self.dynamic]
            return None if None in grids else float(min(grids))
        if node.op_type in ("Quant", "IntQuant", "BipolarQuant"):
            scale = self.constants.get(node.input[1])
        elif node.op_type == "MultiThreshold":
            scale = next((a.f for a in node.attribute if a.name == "out_scale"), 1.0)
        else:
            return None
        if scale is None or not is_pow2(scale):
            return None
        return float(np.min(np.abs(scale)))

    # ------------------------------------------------------------------ intervals
    def interval(self, site: Site, y: np.ndarray, e) -> tuple[np.ndarray, np.ndarray]:
        """Lowest and highest `site.end` value the reference's own ops give for source values
        within [y - e, y + e] (ends rounded outward to float32)."""
        y64 = np.asarray(y, dtype=np.float64)
        lo = _round_out(y64 - e, -1)
        hi = _round_out(y64 + e, +1)
        if not site.chain:
            return lo, hi
        a = self.run(site.chain, site.source, lo, site.end)
        b = self.run(site.chain, site.source, hi, site.end)
        return np.minimum(a, b), np.maximum(a, b)


def _round_out(v: np.ndarray, direction: int) -> np.ndarray:
    f = v.astype(np.float32)
    off = f.astype(np.float64) < v if direction > 0 else f.astype(np.float64) > v
    return np.where(off, np.nextafter(f, np.float32(np.inf * direction)), f)


def is_pow2(v) -> bool:
    v = np.abs(np.asarray(v, dtype=np.float64)).reshape(-1)
    v = v[v != 0]
    m, _ = np.frexp(v)
    return bool(np.all(m == 0.5))


def grid(v: np.ndarray) -> float:
    """The coarsest power of two of which every value is an integer multiple (inf for all zeros)."""
    v = np.asarray(v, dtype=np.float64).reshape(-1)
    v = np.abs(v[v != 0])
    if v.size == 0:
        return np.inf
    m, e = np.frexp(v)
    mi = (m * 2.0**53).astype(np.uint64)  # exact: the float64 mantissa as an integer
    low = mi & (~mi + np.uint64(1))  # lowest set bit
    tz = np.log2(low.astype(np.float64)).astype(np.int64)
    return float(np.min(np.ldexp(1.0, (e - 53 + tz).astype(np.int64))))
