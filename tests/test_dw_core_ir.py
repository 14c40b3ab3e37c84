"""DepthwiseMatVec (FINN's VVAU) in the IR: layer checks, exact semantics against a naive
reference (a wrong weight is caught), the simulator's fused path, JSON and Netron export."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from qloom import semantics as sem, sim
from qloom.ir import BIPOLAR, DepthwiseMatVec, Graph, IntType, MatVec, OutputSpec, SlidingWindow, serialize
from qloom.ir.netron import to_onnx


def naive_depthwise(x, w):
    """out[n, h, w, c] = sum_k w[c, k] * x[n, h, w, k*C + c] on Python integers."""
    n, hh, ww, kc = x.shape
    c, k = w.shape
    out = np.zeros((n, hh, ww, c), dtype=object)
    for i in np.ndindex(n, hh, ww):
        for ch in range(c):
            out[i + (ch,)] = sum(int(w[ch, j]) * int(x[i + (j * c + ch,)]) for j in range(k))
    return out


def _dtype(draw, max_bits):
    bipolar = draw(st.booleans()) and draw(st.booleans())
    if bipolar:
        return BIPOLAR
    bits = draw(st.integers(2, max_bits))
    return IntType(bits, draw(st.booleans()))


def _values(rng, t, shape):
    if t.bipolar:
        return rng.choice([-1, 1], size=shape)
    return rng.integers(t.min, t.max + 1, size=shape)


@st.composite
def dw_cases(draw):
    """A random window shape, channel count, folding and bit widths (up to 16-bit inputs)."""
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh = draw(st.integers(1, 2))
    pad = draw(st.integers(0, 1))
    c = draw(st.integers(1, 6))
    h, w = draw(st.integers(max(1, kh - 2 * pad), 6)), draw(st.integers(max(1, kw - 2 * pad), 6))
    xt, wt = _dtype(draw, 16), _dtype(draw, 8)
    pad_value = 0 if xt.contains(0) or not pad else xt.min
    pe = draw(st.sampled_from([d for d in range(1, c + 1) if c % d == 0]))
    simd = draw(st.sampled_from([d for d in range(1, kh * kw + 1) if (kh * kw) % d == 0]))
    return dict(kernel=(kh, kw), stride=(sh, sh), pad=(pad,) * 4, pad_value=pad_value, in_shape=(h, w, c),
                xt=xt, wt=wt, pe=pe, simd=simd, seed=draw(st.integers(0, 2**31)), thr=draw(st.booleans()))


def _pair(case, rng):
    swg = SlidingWindow(name="swg", in_shape=case["in_shape"], in_dtype=case["xt"], kernel=case["kernel"],
                        stride=case["stride"], pad=case["pad"], pad_value=case["pad_value"])
    c, k = case["in_shape"][2], case["kernel"][0] * case["kernel"][1]
    w = _values(rng, case["wt"], (c, k))
    x_lo, x_hi = swg.out_dtype.min, swg.out_dtype.max
    lo, hi = sem.accumulator_range(w, x_lo, x_hi)
    thr = np.sort(rng.integers(lo - 1, hi + 2, size=(c, 3)), axis=1) if case["thr"] else None
    dw = DepthwiseMatVec(name="dw", in_shape=swg.out_shape, in_dtype=swg.out_dtype, weights=w, w_dtype=case["wt"],
                         acc_dtype=IntType.for_range(lo, hi), thresholds=thr, pe=case["pe"], simd=case["simd"])
    return swg, dw


@settings(max_examples=150, deadline=None)
@given(dw_cases())
def test_depthwise_equals_naive_reference_and_a_wrong_weight_is_caught(case):
    rng = np.random.default_rng(case["seed"])
    swg, dw = _pair(case, rng)
    frames = _values(rng, case["xt"], (3,) + case["in_shape"])
    win = sem.sliding_window(frames, swg.kernel, swg.stride, swg.pad, swg.pad_value)
    ref = naive_depthwise(win, dw.weights)
    acc = sem.depthwise_matvec(win, dw.weights)
    assert np.array_equal(acc.astype(object), ref)
    assert dw.acc_dtype.contains(acc)
    fused = sem.depthwise_conv(frames, dw.weights, swg.kernel, swg.stride, swg.pad, swg.pad_value)
    assert np.array_equal(fused, acc)
    # the layer it replaces: a dense MatVec over the window with block-diagonal weights
    blocks = np.zeros((dw.channels, dw.k * dw.channels), dtype=np.int64)
    for j in range(dw.k):
        blocks[np.arange(dw.channels), j * dw.channels + np.arange(dw.channels)] = dw.weights[:, j]
    assert np.array_equal(sem.matvec(win, blocks), acc)
    # the other direction: one changed weight changes exactly the outputs that read it
    ch, j = rng.integers(dw.channels), rng.integers(dw.k)
    bad = dw.weights.copy()
    bad[ch, j] += 1
    moved = sem.depthwise_matvec(win, bad) != acc
    assert np.array_equal(moved[..., ch], win[..., j * dw.channels + ch] != 0)
    assert not np.delete(moved, ch, axis=-1).any()


@settings(max_examples=60, deadline=None)
@given(dw_cases())
def test_simulator_fused_and_layer_by_layer_agree(case):
    rng = np.random.default_rng(case["seed"])
    swg, dw = _pair(case, rng)
    g = Graph(name="g", layers=(swg, dw), output=OutputSpec(scale=np.ones(1), bias=np.zeros(1)))
    frames = _values(rng, case["xt"], (4,) + case["in_shape"])
    out = sim.execute(g, frames)
    win = sim.run_layer(swg, frames)
    step = sim.run_layer(dw, win)
    assert np.array_equal(out, step)
    want = naive_depthwise(win, dw.weights)
    if dw.thresholds is not None:
        want = sem.multithreshold(want.astype(np.int64), dw.thresholds)
    assert np.array_equal(out, want.astype(np.int64))
    assert dw.out_dtype.contains(out)


def test_layer_checks_name_the_problem():
    w = np.zeros((4, 9), dtype=np.int64)
    base = dict(name="dw", in_shape=(3, 3, 36), in_dtype=IntType(4, False), weights=w, w_dtype=IntType(2, True),
                acc_dtype=IntType(8, True))
    DepthwiseMatVec(**base, pe=2, simd=3)
    with pytest.raises(ValueError, match="PE=3 must divide C=4"):
        DepthwiseMatVec(**base, pe=3)
    with pytest.raises(ValueError, match="SIMD=2 must divide K=9"):
        DepthwiseMatVec(**base, simd=2)
    with pytest.raises(ValueError, match="K\\*C = 30"):
        DepthwiseMatVec(**{**base, "in_shape": (3, 3, 30)})
    with pytest.raises(ValueError, match="do not fit INT2"):
        DepthwiseMatVec(**{**base, "weights": w + 2})
    with pytest.raises(ValueError, match="thresholds must be"):
        DepthwiseMatVec(**base, thresholds=np.zeros((3, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="sorted"):
        DepthwiseMatVec(**base, thresholds=np.array([[2, 1]] * 4))


def _graph(pe=1, simd=1):
    rng = np.random.default_rng(5)
    swg = SlidingWindow(name="swg", in_shape=(5, 5, 4), in_dtype=IntType(3, False), kernel=(3, 3), pad=(1, 1, 1, 1))
    w = rng.integers(-2, 2, size=(4, 9))
    lo, hi = sem.accumulator_range(w, 0, 7)
    dw = DepthwiseMatVec(name="dw", in_shape=swg.out_shape, in_dtype=swg.out_dtype, weights=w, w_dtype=IntType(2, True),
                         acc_dtype=IntType.for_range(lo, hi), thresholds=np.sort(rng.integers(lo, hi, (4, 3)), axis=1),
                         pe=pe, simd=simd)
    w2 = rng.integers(-2, 2, size=(3, 4))
    lo2, hi2 = sem.accumulator_range(w2, 0, 3)
    mv = MatVec(name="pw", in_shape=(5, 5, 4), in_dtype=dw.out_dtype, weights=w2, w_dtype=IntType(2, True),
                acc_dtype=IntType.for_range(lo2, hi2))
    return Graph(name="dwg", layers=(swg, dw, mv), output=OutputSpec(scale=np.ones(3), bias=np.zeros(3)))


def test_graph_check_takes_a_window_then_depthwise_and_names_a_mismatch():
    g = _graph()
    swg, dw, mv = g.layers
    narrow = SlidingWindow(name="swg", in_shape=(5, 5, 4), in_dtype=IntType(3, False), kernel=(3, 3))
    with pytest.raises(ValueError, match="swg outputs \\(3, 3, 36\\) but dw expects \\(5, 5, 36\\)"):
        g.with_layers((narrow, dw, mv))


def test_json_round_trip_and_netron():
    g = _graph(pe=4, simd=3)
    text = serialize.to_json(g)
    g2 = serialize.from_json(text)
    assert serialize.to_json(g2) == text
    dw2 = g2.layer("dw")
    assert isinstance(dw2, DepthwiseMatVec) and (dw2.pe, dw2.simd) == (4, 3)
    assert np.array_equal(dw2.weights, g.layer("dw").weights)
    x = np.random.default_rng(1).integers(0, 8, size=(6, 5, 5, 4))
    assert np.array_equal(sim.execute(g2, x), sim.execute(g, x))
    model = to_onnx(g)
    node = next(n for n in model.graph.node if n.name == "dw")
    assert node.op_type == "DepthwiseMatVec" and "dw.weights" in node.input
    assert {a.name for a in node.attribute} >= {"pe", "simd", "w_dtype", "out_shape"}


def test_linear_ir_files_of_other_layers_are_unchanged():
    """The encoder has no depthwise case: a graph without one encodes as before (its keys)."""
    g = _graph()
    text = serialize.to_json(g.with_layers((g.layers[0],)))
    assert "DepthwiseMatVec" not in text and '"inputs"' not in text


def test_zero_weights_and_wide_inputs_do_not_overflow_the_work_type():
    """The work type holds the inputs too (all-zero weights bound the sums by 0)."""
    x = np.full((2, 4, 4, 3), 255)
    for w in (np.zeros((3, 9), dtype=np.int64), np.eye(3, 9, dtype=np.int64)):
        got = sem.depthwise_conv(x, w, (3, 3), (1, 1), (1, 1, 1, 1), 255)
        want = sem.depthwise_matvec(sem.sliding_window(x, (3, 3), (1, 1), (1, 1, 1, 1), 255), w)
        assert np.array_equal(got, want) and np.array_equal(got, naive_depthwise(
            sem.sliding_window(x, (3, 3), (1, 1), (1, 1, 1, 1), 255), w).astype(np.int64))
