"""The fast exact paths of `qloom.semantics` against straightforward oracles.

The oracles below are the definitions written the plain way, on Python integers (object
arrays: no overflow, no rounding), so they also hold at the extremes where float32 would
round. Random shapes, strides, pads, bipolar/signed/unsigned types and max-magnitude values.
"""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from qloom import semantics as sem, sim

from test_ir import _tiny_graph

# ---------------------------------------------------------------- the oracles


def oracle_conv(x, w, kernel, stride, pad, pad_value):
    """Direct convolution: out[n, i, j, o] = sum over the window of x * w, Python ints."""
    kh, kw = kernel
    sh, sw = stride
    pt, pl, pb, pr = pad
    x = np.asarray(x).astype(object)
    n, h, wd, c = x.shape
    xp = np.full((n, h + pt + pb, wd + pl + pr, c), pad_value, dtype=object)
    xp[:, pt:pt + h, pl:pl + wd] = x
    wk = np.asarray(w).astype(object).reshape(-1, kh, kw, c)
    oh, ow = (xp.shape[1] - kh) // sh + 1, (xp.shape[2] - kw) // sw + 1
    out = np.zeros((n, oh, ow, len(wk)), dtype=object)
    for i in range(oh):
        for j in range(ow):
            win = xp[:, i * sh:i * sh + kh, j * sw:j * sw + kw, :]  # (n, kh, kw, c)
            for o in range(len(wk)):
                out[:, i, j, o] = (win * wk[o]).reshape(n, -1).sum(axis=1)
    return out


def oracle_multithreshold(x, t):
    x = np.asarray(x).astype(object)
    t = np.asarray(t).astype(object)
    t = np.broadcast_to(t, (x.shape[-1], t.shape[1])) if t.shape[0] == 1 else t
    return (x[..., None] >= t).sum(axis=-1) if t.shape[1] else np.zeros(x.shape, dtype=object)


# ---------------------------------------------------------------- value strategies

KINDS = ["bipolar", "unsigned", "signed"]


@st.composite
def int_values(draw, shape, max_bits=24):
    """An integer array of one type (bipolar, or 1..max_bits bits), optionally all at the
    type's extremes (the max-magnitude case)."""
    kind = draw(st.sampled_from(KINDS))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    if kind == "bipolar":
        return rng.choice([-1, 1], size=shape), (-1, 1)
    bits = draw(st.integers(1, max_bits)) if kind == "unsigned" else draw(st.integers(2, max_bits))
    lo, hi = (0, 2**bits - 1) if kind == "unsigned" else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    if draw(st.booleans()):  # extremes only
        return rng.choice([lo, hi], size=shape), (lo, hi)
    return rng.integers(lo, hi, size=shape, endpoint=True), (lo, hi)


@st.composite
def conv_cases(draw):
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    pad = tuple(draw(st.integers(0, 2)) for _ in range(4))
    h = draw(st.integers(max(1, kh - pad[0] - pad[2]), 7))
    w = draw(st.integers(max(1, kw - pad[1] - pad[3]), 7))
    n, c, mh = draw(st.integers(1, 3)), draw(st.integers(1, 5)), draw(st.integers(1, 4))
    x, (lo, hi) = draw(int_values((n, h, w, c)))
    wts, _ = draw(int_values((mh, kh * kw * c), max_bits=draw(st.sampled_from([2, 8, 16, 30]))))
    pad_value = draw(st.sampled_from([0, lo, hi]))
    return x, wts, (kh, kw), (sh, sw), pad, pad_value


@settings(max_examples=300, deadline=None)
@given(conv_cases())
def test_conv_matvec_equals_direct_convolution(case):
    x, w, kernel, stride, pad, pad_value = case
    got = sem.conv_matvec(x, w, kernel, stride, pad, pad_value)
    want = oracle_conv(x, w, kernel, stride, pad, pad_value)
    assert got.dtype.kind == "i"
    assert np.array_equal(got.astype(object), want)
    # the composition (im2col, then matvec) is the same function
    cols = sem.sliding_window(x, kernel, stride, pad, pad_value)
    assert np.array_equal(sem.matvec(cols, w).astype(object), want)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_matvec_equals_dot_product(data):
    n, mw, mh = data.draw(st.integers(1, 40)), data.draw(st.integers(1, 70)), data.draw(st.integers(1, 6))
    x, _ = data.draw(int_values((n, 1, 1, mw), max_bits=31))
    w, _ = data.draw(int_values((mh, mw), max_bits=data.draw(st.sampled_from([2, 8, 20]))))
    want = (x.reshape(n, mw).astype(object) @ w.T.astype(object)).reshape(n, 1, 1, mh)
    assert np.array_equal(sem.matvec(x, w).astype(object), want)


def test_extremes_discriminate_float32_rounding():
    """The oracle sees a float32 rounding: at these values a float32 dot product is wrong,
    so a fast path choosing float32 beyond its bound would fail the tests above."""
    x = np.full((1, 1, 3, 1), 2**23 - 1)
    w = np.array([[3, 3, 3]])
    want = oracle_conv(x, w, (1, 3), (1, 1), (0, 0, 0, 0), 0)
    f32 = (x.reshape(1, 3).astype(np.float32) @ w.T.astype(np.float32)).astype(np.int64)
    assert int(f32[0, 0]) != want[0, 0, 0, 0]
    assert sem.conv_matvec(x, w, (1, 3), (1, 1), (0, 0, 0, 0), 0)[0, 0, 0, 0] == want[0, 0, 0, 0]


@st.composite
def threshold_cases(draw):
    c = draw(st.integers(1, 6))
    shape = (draw(st.integers(1, 4)), draw(st.integers(1, 5)), draw(st.integers(1, 5)), c)
    x, (lo, hi) = draw(int_values(shape, max_bits=draw(st.sampled_from([2, 8, 12, 20, 40]))))
    x = x.astype(draw(st.sampled_from([np.int64, sem.int_dtype(lo, hi)])))
    n_t = draw(st.sampled_from([0, 1, 2, 3, 7, 8, 9, 15, 40, 255, 300]))
    rows = draw(st.sampled_from([1, c]))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    span = max(hi - lo, 4)
    t = rng.integers(lo - span // 4, hi + span // 4, size=(rows, n_t), endpoint=True)
    if n_t and draw(st.booleans()):  # thresholds far outside every value (clipped exactly)
        t[:, 0] = -(2**50)
        t[:, -1] = 2**50
    return x, np.sort(t, axis=1)


@settings(max_examples=300, deadline=None)
@given(threshold_cases())
def test_multithreshold_equals_counting(case):
    x, t = case
    got = sem.multithreshold(x, t)
    assert got.shape == x.shape
    assert np.array_equal(got.astype(object), oracle_multithreshold(x, t))


@settings(max_examples=100, deadline=None)
@given(threshold_cases(), st.sampled_from([(0, 1), (-1, 2), (-4, 1), (-128, 1), (3, -1), (0, 3)]))
def test_threshold_activation_holds_every_output(case, affine):
    x, t = case
    base, step = affine
    got = sem.threshold_activation(x, t, base, step)
    assert np.array_equal(got.astype(object), base + step * oracle_multithreshold(x, t))


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_max_pool_keeps_narrow_types_exact(data):
    x, _ = data.draw(int_values((2, 5, 6, 3), max_bits=16))
    x = x.astype(sem.int_dtype(int(x.min()), int(x.max())))
    k, s, p = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 2)), data.draw(st.integers(0, 1))
    pad = (p, p, p, p) if p < k else (0, 0, 0, 0)
    got = sem.pool(x, "max", (k, k), (s, s), pad)
    want = sem.pool(x.astype(np.int64), "max", (k, k), (s, s), pad)
    assert np.array_equal(got, want)


@pytest.mark.parametrize("chunk", [1, 7, 200])
def test_chunked_execution_equals_one_batch(chunk, monkeypatch):
    """The simulator's batch chunks (cache-sized in use) change no value; outputs are int64."""
    g, _, _ = _tiny_graph()
    x = np.random.default_rng(5).random((23, 2, 6, 6)).astype(np.float32)
    whole, trace = sim.execute(g, x, trace=True)
    monkeypatch.setattr(sem, "CHUNK", chunk)
    assert sim.chunk_frames(g) < len(x)  # several chunks
    got, got_trace = sim.execute(g, x, trace=True)
    assert got.dtype == np.int64 and np.array_equal(got, whole)
    assert all(np.array_equal(got_trace[k], v) and got_trace[k].dtype == np.int64 for k, v in trace.items())


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 16), st.booleans(), st.booleans(), st.integers(-3, 3), st.sampled_from(["ROUND", "FLOOR", "CEIL"]),
       st.booleans(), st.integers(0, 2**31))
def test_quantize_into_its_narrow_type_loses_nothing(bits, signed, narrow, zp, rounding, bipolar, seed):
    """The simulator's input quantizer writes the narrowest type `quantize_range` allows."""
    if narrow and bits == 1 and not signed:
        narrow = False
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(0, 2.0**bits, 200), [0.0, -0.0, 1e30, -1e30, 0.5, -0.5]]).astype(np.float32)
    scale = np.float32(rng.choice([1 / 255, 0.5, 1.0, 3.0]))
    args = (x, scale, np.float32(zp), bits, signed, narrow, rounding, bipolar)
    want = sem.quantize(*args)
    lo, hi = sem.quantize_range(bits, signed, narrow, zp)
    assert lo <= want.min() and want.max() <= hi
    got = sem.quantize(*args, dtype=sem.int_dtype(lo, hi))
    assert np.array_equal(got, want)
