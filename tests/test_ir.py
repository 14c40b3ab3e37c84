"""IR types, layer checks, JSON round trip and the simulator on hand-built graphs."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from qloom import semantics as sem, sim
from qloom.ir import BIPOLAR, Graph, InputQuant, IntType, LabelSelect, MatVec, OutputSpec, Pool, PoolMode, SlidingWindow, Threshold
from qloom.ir import serialize


@given(st.integers(1, 16), st.booleans(), st.data())
def test_inttype_encode_decode_roundtrip(bits, signed, data):
    t = BIPOLAR if (signed and bits == 1) else IntType(bits, signed)
    vals = np.array(data.draw(st.lists(st.sampled_from([-1, 1]) if t.bipolar else st.integers(t.min, t.max), min_size=1, max_size=20)))
    enc = t.encode(vals)
    assert enc.max() < (1 << t.bits)
    assert np.array_equal(t.decode(enc), vals)


@given(st.integers(-5000, 5000), st.integers(0, 5000))
def test_for_range_is_minimal(lo, span):
    hi = lo + span
    t = IntType.for_range(lo, hi)
    assert t.contains(np.array([lo, hi]))
    if t.bits > 2:
        smaller = IntType(t.bits - 1, t.signed)
        assert not smaller.contains(np.array([lo, hi]))


def test_accumulator_range_is_reached():
    rng = np.random.default_rng(0)
    w = rng.integers(-3, 4, size=(5, 7))
    lo, hi = sem.accumulator_range(w, -2, 1)
    xs_hi = np.where(w > 0, 1, -2)  # the maximising input per row
    assert hi == max(int((w[r] * xs_hi[r]).sum()) for r in range(5))
    xs = rng.integers(-2, 2, size=(1000, 7))
    acc = sem.matvec(xs, w)
    assert acc.min() >= lo and acc.max() <= hi


def test_popcount_threshold_matches_dot_product():
    rng = np.random.default_rng(1)
    mw = 9
    x = rng.choice([-1, 1], size=(500, mw))
    w = rng.choice([-1, 1], size=(1, mw))
    acc = sem.matvec(x, w)[:, 0]
    pop = ((x == w).sum(axis=1))
    for t in range(-mw - 2, mw + 3):
        assert np.array_equal(acc >= t, pop >= sem.popcount_threshold(np.array(t), mw))


def test_label_select_ties_go_to_lower_index():
    x = np.array([[3, 7, 7, 1], [5, 5, 5, 5]])
    assert sem.label_select(x, 2).tolist() == [[1, 2], [0, 1]]


def _tiny_graph() -> Graph:
    rng = np.random.default_rng(2)
    inq = InputQuant(name="in", in_shape=(6, 6, 2), in_dtype=IntType(4, False), scale=np.array(1 / 15),
                     zero_point=np.array(0.0), out_type=IntType(4, False))
    swg = SlidingWindow(name="swg", in_shape=(6, 6, 2), in_dtype=IntType(4, False), kernel=(3, 3))
    w = rng.integers(-2, 2, size=(4, 18))
    lo, hi = sem.accumulator_range(w, 0, 15)
    thr = np.sort(rng.integers(lo, hi, size=(4, 3)), axis=1)
    mv = MatVec(name="conv", in_shape=(4, 4, 18), in_dtype=IntType(4, False), weights=w, w_dtype=IntType(2, True),
                acc_dtype=IntType.for_range(lo, hi), thresholds=thr, out_base=0)
    mp = Pool(name="pool", in_shape=(4, 4, 4), in_dtype=IntType(2, False), mode=PoolMode.MAX, kernel=(2, 2), stride=(2, 2))
    w2 = rng.integers(-1, 2, size=(3, 16))
    fc_in = (1, 1, 16)
    lo2, hi2 = sem.accumulator_range(w2, 0, 3)
    fc = MatVec(name="fc", in_shape=fc_in, in_dtype=IntType(2, False), weights=w2, w_dtype=IntType(2, True),
                acc_dtype=IntType.for_range(lo2, hi2))
    ls = LabelSelect(name="top", in_shape=(1, 1, 3), in_dtype=fc.out_dtype, k=1)
    # the pool output (2, 2, 4) flattened is the (1, 1, 16) input: model that with a reshape-free graph
    return Graph(name="tiny", layers=(inq, swg, mv, mp), output=OutputSpec(scale=np.ones(16), bias=np.zeros(16))), fc, ls


def test_graph_check_names_mismatch():
    g, fc, ls = _tiny_graph()
    with pytest.raises(ValueError, match="pool outputs"):
        g.with_layers(g.layers + (ls,))
    # a dense layer may read the whole pooled frame as one vector (same element order)
    g.with_layers(g.layers + (fc, ls))


def test_sim_and_json_roundtrip():
    g, _, _ = _tiny_graph()
    x = np.random.default_rng(3).random((5, 2, 6, 6)).astype(np.float32)
    out, trace = sim.execute(g, x, trace=True)
    assert out.shape == (5, 2, 2, 4)
    g2 = serialize.from_json(serialize.to_json(g))
    assert [l.kind for l in g2.layers] == [l.kind for l in g.layers]
    assert np.array_equal(sim.execute(g2, x), out)
    # the conv equals a direct convolution
    xi = trace["in"]
    w = g.layer("conv").weights.reshape(4, 3, 3, 2)
    acc = np.zeros((5, 4, 4, 4), dtype=np.int64)
    for i in range(4):
        for j in range(4):
            acc[:, i, j] = np.einsum("nhwc,ohwc->no", xi[:, i:i + 3, j:j + 3], w)
    assert np.array_equal(trace["conv"], sem.multithreshold(acc, g.layer("conv").thresholds))


def test_layer_checks_reject_bad_folding():
    w = np.zeros((4, 6), dtype=np.int64)
    with pytest.raises(ValueError, match="PE=3 must divide MH=4"):
        MatVec(name="m", in_shape=(1, 1, 6), in_dtype=IntType(2, False), weights=w, w_dtype=IntType(2, True),
               acc_dtype=IntType(8, True), pe=3)
    with pytest.raises(ValueError, match="sorted"):
        Threshold(name="t", in_shape=(1, 1, 2), in_dtype=IntType(4, True), thresholds=np.array([[3, 1], [0, 1]]))


@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 2), st.integers(0, 1), st.integers(1, 4), st.integers(0, 2**20))
@settings(max_examples=60, deadline=None)
def test_fused_conv_equals_sliding_window_then_matvec(kh, kw, stride, pad, c, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(-8, 8, size=(3, 6, 5, c))
    w = rng.integers(-4, 4, size=(5, kh * kw * c))
    args = ((kh, kw), (stride, stride), (pad, pad, pad, pad), 0)
    want = sem.matvec(sem.sliding_window(x, *args), w)
    assert np.array_equal(sem.conv_matvec(x, w, *args), want)
    big = x.astype(np.int64) * 2**40  # beyond float64-exact sums: the integer path
    assert np.array_equal(sem.conv_matvec(big, w, *args), sem.matvec(sem.sliding_window(big, *args), w))


def test_matvec_exact_beyond_float32():
    x = np.array([[2**23 + 1, 1]])
    w = np.array([[3, 1]])
    assert sem.matvec(x, w)[0, 0] == 3 * (2**23 + 1) + 1
