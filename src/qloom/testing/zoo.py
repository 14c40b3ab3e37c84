"""Random-weight IR graphs with the shapes of the BNN-PYNQ zoo, for folding tests and benches.

Folding depends only on shapes and bit widths, so these stand in for the real streamlined
graphs: TFC = 784-64-64-64-10, SFC = 784-256-256-256-10, LFC = 784-1024-1024-1024-10,
CNV = 3x(two 3x3 convolutions, 2x2 max pool but the last) then 512-512-10 on 32x32x3.
Weights are W-bit (bipolar for W=1), activations A-bit (bipolar for A=1) by thresholds
drawn inside the exact accumulator range; the last layer outputs accumulators to a top-1
LabelSelect. `zoo_graph("lfc_w1a1")` names one by topology and widths. A test fixture
(also read by bench/), not product code.
"""

from __future__ import annotations

import re

import numpy as np

from qloom.ir import BIPOLAR, Graph, InputQuant, IntType, LabelSelect, MatVec, OutputSpec, Pool, PoolMode, SlidingWindow
from qloom.testing.layers import random_matvec

MLP_HIDDEN = {"tfc": (64, 64, 64), "sfc": (256, 256, 256), "lfc": (1024, 1024, 1024)}
CNV_CONVS = ((64, 64), (128, 128), (256, 256))  # channels of the conv pairs; pools between
CNV_FC = (512, 512)


def _act(bits: int) -> IntType:
    return BIPOLAR if bits == 1 else IntType(bits, signed=False)


def _matvec(rng, name, in_shape, in_dtype: IntType, mh: int, w_bits: int, a_bits: int | None) -> MatVec:
    """A MatVec with random weights; thresholds to `a_bits` activations (None: accumulators)."""
    w_dtype = BIPOLAR if w_bits == 1 else IntType(w_bits, signed=True)
    if a_bits is None:
        return random_matvec(rng, name, in_shape, in_dtype, w_dtype, mh)
    base, step = (-1, 2) if a_bits == 1 else (0, 1)
    return random_matvec(rng, name, in_shape, in_dtype, w_dtype, mh, 1 if a_bits == 1 else 2 ** a_bits - 1,
                         out_base=base, out_step=step)


def _input(shape, dtype: IntType) -> InputQuant:
    return InputQuant(name="input", in_shape=shape, in_dtype=dtype, scale=np.array(1.0),
                      zero_point=np.array(0.0), out_type=dtype)


def _finish(name: str, layers: list, rng, fc_sizes, w_bits: int, a_bits: int, classes: int) -> Graph:
    for i, mh in enumerate(fc_sizes):
        prev = layers[-1]
        layers.append(_matvec(rng, f"fc{i}", (1, 1, int(np.prod(prev.out_shape))), prev.out_dtype, mh, w_bits, a_bits))
    prev = layers[-1]
    last = _matvec(rng, f"fc{len(fc_sizes)}", (1, 1, prev.out_shape[2]), prev.out_dtype, classes, w_bits, None)
    layers += [last, LabelSelect(name="top1", in_shape=last.out_shape, in_dtype=last.out_dtype, k=1)]
    return Graph(name=name, layers=layers, output=OutputSpec(scale=np.ones(classes), bias=np.zeros(classes)))


def mlp_graph(name: str, hidden, w_bits: int, a_bits: int, in_features: int = 784,
              classes: int = 10, seed: int = 0) -> Graph:
    """InputQuant -> len(hidden) thresholded MatVecs -> output MatVec -> LabelSelect."""
    rng = np.random.default_rng(seed)
    layers = [_input((1, 1, in_features), _act(a_bits))]
    return _finish(name, layers, rng, hidden, w_bits, a_bits, classes)


def cnv_graph(name: str, w_bits: int, a_bits: int, in_bits: int = 8, classes: int = 10, seed: int = 0) -> Graph:
    """CNV: 32x32x3 image, unpadded 3x3 convolutions (SlidingWindow + MatVec), max pools."""
    rng = np.random.default_rng(seed)
    layers = [_input((32, 32, 3), IntType(in_bits, signed=False))]
    n = 0
    for block, channels in enumerate(CNV_CONVS):
        for ch in channels:
            prev = layers[-1]
            swg = SlidingWindow(name=f"swg{n}", in_shape=prev.out_shape, in_dtype=prev.out_dtype, kernel=(3, 3))
            layers += [swg, _matvec(rng, f"conv{n}", swg.out_shape, swg.out_dtype, ch, w_bits, a_bits)]
            n += 1
        if block < len(CNV_CONVS) - 1:
            prev = layers[-1]
            layers.append(Pool(name=f"pool{block}", in_shape=prev.out_shape, in_dtype=prev.out_dtype,
                               mode=PoolMode.MAX, kernel=(2, 2), stride=(2, 2)))
    return _finish(name, layers, rng, CNV_FC, w_bits, a_bits, classes)


def zoo_graph(name: str, seed: int = 0) -> Graph:
    """"tfc_w1a1", "sfc_w2a2", "lfc_w8a8", "cnv_w1a1", ...: topology plus weight/activation bits."""
    m = re.fullmatch(r"(tfc|sfc|lfc|cnv)_w(\d+)a(\d+)", name.lower())
    if not m:
        raise ValueError(f"zoo graph names look like tfc_w1a1, sfc_w2a2, lfc_w1a1, cnv_w1a1; got {name!r}")
    topo, w, a = m.group(1), int(m.group(2)), int(m.group(3))
    if topo == "cnv":
        return cnv_graph(name, w, a, seed=seed)
    return mlp_graph(name, MLP_HIDDEN[topo], w, a, seed=seed)
