"""Small hand-built graphs for the folding tests (the zoo shapes come from qloom.testing.zoo)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from qloom.testing.zoo import zoo_graph
from qloom.ir import BIPOLAR, Graph, InputQuant, IntType, LabelSelect, MatVec, OutputSpec, Pool, PoolMode, SlidingWindow, Threshold


@lru_cache(maxsize=None)
def zoo(name: str) -> Graph:
    """Zoo graphs are immutable: build each once per test session."""
    return zoo_graph(name)


def dense(name="fc", mw=8, mh=4, pe=1, simd=1, w=IntType(2, True), a=IntType(2, False), n_thr=3, shared=False) -> MatVec:
    """A MatVec with weights in [-1, 1], thresholds 0..n_thr-1 (per channel or shared)."""
    weights = (np.arange(mh * mw).reshape(mh, mw) % 3) - 1
    if w.bipolar:
        weights = np.where(weights >= 0, 1, -1)
    thr = None
    if n_thr:
        thr = np.tile(np.arange(n_thr), (1 if shared else mh, 1))
    return MatVec(name=name, in_shape=(1, 1, mw), in_dtype=a, weights=weights, w_dtype=w,
                  acc_dtype=IntType(8, True), thresholds=thr, pe=pe, simd=simd)


def tiny_cnn() -> Graph:
    """InputQuant -> SlidingWindow -> MatVec -> Pool -> global Pool -> Threshold -> MatVec -> LabelSelect."""
    u4 = IntType(4, False)
    inq = InputQuant(name="in", in_shape=(8, 8, 4), in_dtype=u4, scale=np.array(1.0), zero_point=np.array(0.0), out_type=u4)
    swg = SlidingWindow(name="swg", in_shape=(8, 8, 4), in_dtype=u4, kernel=(3, 3))
    w = (np.arange(8 * 36).reshape(8, 36) % 3) - 1
    conv = MatVec(name="conv", in_shape=(6, 6, 36), in_dtype=u4, weights=w, w_dtype=IntType(2, True),
                  acc_dtype=IntType(10, True))
    pool = Pool(name="pool", in_shape=(6, 6, 8), in_dtype=IntType(10, True), mode=PoolMode.MAX, kernel=(2, 2), stride=(2, 2))
    gpool = Pool(name="gpool", in_shape=(3, 3, 8), in_dtype=IntType(10, True), mode=PoolMode.MAX, kernel=(3, 3), stride=(3, 3))
    thr = Threshold(name="thr", in_shape=(1, 1, 8), in_dtype=IntType(10, True), thresholds=np.tile(np.arange(-1, 2), (8, 1)))
    fc = MatVec(name="fc", in_shape=(1, 1, 8), in_dtype=thr.out_dtype, weights=np.ones((4, 8), dtype=np.int64),
                w_dtype=BIPOLAR, acc_dtype=IntType(6, True))
    top = LabelSelect(name="top", in_shape=(1, 1, 4), in_dtype=IntType(6, True), k=1)
    return Graph(name="tiny_cnn", layers=(inq, swg, conv, pool, gpool, thr, fc, top),
                 output=OutputSpec(scale=np.ones(4), bias=np.zeros(4)))
