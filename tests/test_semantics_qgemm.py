"""The exact integer GEMM path of `qloom.semantics` (onnxruntime MatMulInteger) and the
compare-and-count multithreshold, against plain Python-integer oracles at their bounds.

Both directions: the guards admit exactly what is exact (a saturating or wrapping model of
the arithmetic they exclude gives wrong results just past each bound, so a path taken
beyond it would fail the equality tests), and every admitted case equals the oracle.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_semantics_fast import oracle_conv, oracle_multithreshold

from qloom import semantics as sem


def oracle_matvec(x, w):
    x = np.asarray(x).astype(object)
    return x.reshape(-1, x.shape[-1]) @ np.asarray(w).astype(object).T


def saturating_pair_dot(xu, w):
    """The x86 AVX2 u8s8 kernel without VNNI: products added in pairs into a saturating
    int16 (vpmaddubsw), then exactly into int32."""
    xu = np.asarray(xu, dtype=np.int64)
    w = np.asarray(w, dtype=np.int64)
    k = xu.shape[-1] + xu.shape[-1] % 2
    xp = np.zeros(xu.shape[:-1] + (k,), dtype=np.int64)
    xp[..., :xu.shape[-1]] = xu
    wp = np.zeros((len(w), k), dtype=np.int64)
    wp[:, :w.shape[1]] = w
    prod = xp[:, None, :] * wp[None, :, :]
    pairs = np.clip(prod[..., 0::2] + prod[..., 1::2], -(2**15), 2**15 - 1)
    return pairs.sum(axis=-1)


# ---------------------------------------------------------------- the guards, both directions


def test_pair_guard_is_where_int16_saturation_starts():
    """At 2 * 255 * 64 the pair sums fit int16 (admitted, exact even on a saturating kernel);
    at 2 * 255 * 65 a saturating kernel is wrong, and the guard refuses the int8 GEMM."""
    x = np.full((1, 4), 255)
    ok, bad = np.full((1, 4), 64), np.full((1, 4), 65)
    assert sem.qgemm_shift(0, 255, sem.weight_plan(ok)) == 0
    assert np.array_equal(saturating_pair_dot(x, ok), oracle_matvec(x, ok))
    assert sem.qgemm_shift(0, 255, sem.weight_plan(bad)) is None
    assert not np.array_equal(saturating_pair_dot(x, bad), oracle_matvec(x, bad))
    assert np.array_equal(sem.matvec(x, bad).astype(object), oracle_matvec(x, bad))  # the float path
    neg = -np.full((1, 4), 64)  # |w| counts: -64 is admitted, -65 is not
    assert sem.qgemm_shift(0, 255, sem.weight_plan(neg)) == 0
    assert sem.qgemm_shift(0, 255, sem.weight_plan(neg - 1)) is None


def test_int32_guard_is_where_accumulators_wrap():
    """255 * 64 * 131600 > 2**31 - 1: refused, and computed exactly on the other path; the
    int32 GEMM forced onto it wraps (so taking it there would fail)."""
    k = 131600
    x = np.full((1, k), 255, dtype=np.uint8)
    w = np.full((1, k), 64)
    plan = sem.weight_plan(w)
    assert sem.qgemm_shift(0, 255, plan) is None
    want = 255 * 64 * k
    assert int(sem.matvec(x, w)[0, 0]) == want
    assert int(sem.qgemm(x, plan, 0)[0, 0]) != want  # the wrapped int32
    small = np.full((1, k - 200), 64)  # 255 * 64 * 131400 < 2**31: admitted and exact
    assert sem.qgemm_shift(0, 255, sem.weight_plan(small)) == 0
    assert int(sem.matvec(x[:, :k - 200], small)[0, 0]) == 255 * 64 * (k - 200)


def test_guard_refuses_what_uint8_or_int8_cannot_hold():
    w = sem.weight_plan(np.ones((2, 3)))
    assert sem.qgemm_shift(-1, 1, w) == -1  # bipolar: x + 1 in {0, 2}
    assert sem.qgemm_shift(-128, 127, w) == -128
    assert sem.qgemm_shift(0, 256, w) is None
    assert sem.qgemm_shift(-129, 127, w) is None
    assert sem.qgemm_shift(0, 3, sem.weight_plan(np.array([[128, 0]]))) is None
    assert sem.qgemm_shift(0, 3, sem.weight_plan(np.array([[-129, 0]]))) is None


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64, np.uint8])
def test_to_uint8_is_the_exact_shifted_value(dtype):
    info = np.iinfo(dtype)
    lo = max(int(info.min), -300)
    vals = np.arange(lo, min(lo + 256, int(info.max) + 1), dtype=dtype)
    assert np.array_equal(sem.to_uint8(vals, lo).astype(np.int64), vals.astype(np.int64) - lo)


# ---------------------------------------------------------------- the paths against the oracles


@st.composite
def narrow_operands(draw, shape_x, n_out):
    """Activations of <= 8 bits (bipolar, unsigned, signed), weights of <= 8 bits: mostly
    the int8 GEMM, near and past its bounds (extreme values only half the time)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    kind = draw(st.sampled_from(["bipolar", "unsigned", "signed"]))
    bits = draw(st.integers(1 if kind == "unsigned" else 2, 8))
    lo, hi = {"bipolar": (-1, 1), "unsigned": (0, 2**bits - 1), "signed": (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)}[kind]
    wb = draw(st.integers(1, 8))
    wlo, whi = (-1, 1) if wb == 1 else (-(2 ** (wb - 1)), 2 ** (wb - 1) - 1)
    extreme = draw(st.booleans())
    if kind == "bipolar":
        x = rng.choice([-1, 1], size=shape_x)
    else:
        x = rng.choice([lo, hi], size=shape_x) if extreme else rng.integers(lo, hi, size=shape_x, endpoint=True)
    k = int(np.prod(shape_x[-1:])) if len(shape_x) == 2 else None
    w = (rng.choice([wlo, whi], size=(n_out, k or 1)) if extreme else rng.integers(wlo, whi, size=(n_out, k or 1), endpoint=True))
    if wb == 1:
        w = rng.choice([-1, 1], size=w.shape)
    x = x.astype(draw(st.sampled_from([np.int64, sem.int_dtype(lo, hi)])))
    return x, w, (lo, hi)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_matvec_narrow_equals_dot_product(data):
    n, mw, mh = data.draw(st.integers(1, 60)), data.draw(st.integers(1, 300)), data.draw(st.integers(1, 9))
    x, w, _ = data.draw(narrow_operands((n, mw), mh))
    got = sem.matvec(x.reshape(n, 1, 1, mw), w)
    assert got.dtype.kind == "i"
    assert np.array_equal(got.reshape(n, mh).astype(object), oracle_matvec(x, w))


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_conv_matvec_narrow_equals_direct_convolution(data):
    kh, kw = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    stride = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2)))
    pad = tuple(data.draw(st.integers(0, 1)) for _ in range(4))
    c, mh = data.draw(st.sampled_from([1, 2, 3, 8, 9, 16])), data.draw(st.integers(1, 5))
    h, wd = data.draw(st.integers(max(1, kh - pad[0] - pad[2]), 7)), data.draw(st.integers(max(1, kw - pad[1] - pad[3]), 7))
    n = data.draw(st.integers(1, 3))
    x, w1, (lo, hi) = data.draw(narrow_operands((n * h * wd, c), mh))
    x = x.reshape(n, h, wd, c)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    w = rng.choice(np.unique(w1), size=(mh, kh * kw * c))
    pad_value = data.draw(st.sampled_from([0, lo, hi]))
    got = sem.conv_matvec(x, w, (kh, kw), stride, pad, pad_value)
    assert np.array_equal(got.astype(object), oracle_conv(x, w, (kh, kw), stride, pad, pad_value))


def test_the_int8_gemm_is_the_path_taken():
    """The narrow cases above run on `qgemm` (a float or int64 fallback would hide it)."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 4, size=(50, 1, 1, 288)).astype(np.int8)
    w = rng.integers(-2, 2, size=(32, 288))
    calls = []
    real = sem.qgemm
    try:
        sem.qgemm = lambda *a: calls.append(1) or real(*a)
        got = sem.matvec(x, w)
        conv = sem.conv_matvec(x.reshape(50, 12, 24, 1), w[:, :9], (3, 3), (1, 1), (1, 1, 1, 1), 0)
    finally:
        sem.qgemm = real
    assert len(calls) >= 2
    assert np.array_equal(got.reshape(50, 32).astype(object), oracle_matvec(x.reshape(50, 288), w))
    assert np.array_equal(conv.astype(object), oracle_conv(x.reshape(50, 12, 24, 1), w[:, :9], (3, 3), (1, 1), (1, 1, 1, 1), 0))


def test_weights_changed_in_place_are_seen():
    """The prepared-weights cache is keyed by the array, and checked against its copy."""
    x = np.arange(12).reshape(3, 1, 1, 4) % 4
    w = np.array([[1, -1, 2, 0], [0, 1, 1, -2]])
    first = sem.matvec(x, w)
    w[1, 3] = 1  # an in-place change of the same array object
    assert not np.array_equal(sem.matvec(x, w), first)
    assert np.array_equal(sem.matvec(x, w).reshape(3, 2).astype(object), oracle_matvec(x.reshape(3, 4), w))
    t = np.array([[0, 2], [1, 5]])
    a = sem.multithreshold(x[:, :, :, :2], t)
    t[0, 0] = 3
    assert np.array_equal(sem.multithreshold(x[:, :, :, :2], t).astype(object), oracle_multithreshold(x[:, :, :, :2], t))
    assert not np.array_equal(sem.multithreshold(x[:, :, :, :2], t), a)


# ---------------------------------------------------------------- multithreshold, many rows


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_multithreshold_tiles_equal_counting(data):
    """Enough rows for the tiled compare (full tiles, a remainder, several cache blocks)."""
    c = data.draw(st.sampled_from([1, 3, 32, 64, 100, 1100]))
    rows = data.draw(st.integers(1, 5000 // c + 40))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    bits = data.draw(st.sampled_from([2, 8, 15, 16, 31]))
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    x = rng.integers(lo, hi, size=(rows, c), endpoint=True)
    if data.draw(st.booleans()):
        x[rng.random(x.shape) < 0.3] = hi  # the type's extremes: clipping at hi + 1 matters
        x[rng.random(x.shape) < 0.3] = lo
    x = x.astype(data.draw(st.sampled_from([np.int64, sem.int_dtype(lo, hi)])))
    n_t = data.draw(st.sampled_from([1, 2, 3, 7, 15, 16]))
    t = rng.integers(lo - 2, hi + 2, size=(data.draw(st.sampled_from([1, c])), n_t), endpoint=True)
    if data.draw(st.booleans()):
        t[:, 0], t[:, -1] = -(2**40), 2**40
    t = np.sort(t, axis=1)
    chunk = data.draw(st.sampled_from([sem.CHUNK, 4096]))
    old = sem.CHUNK
    try:
        sem.CHUNK = chunk
        got = sem.multithreshold(x, t)
    finally:
        sem.CHUNK = old
    assert np.array_equal(got.astype(object), oracle_multithreshold(x, t))


def test_multithreshold_at_the_type_maximum():
    """A value at int16's max needs the next type (a threshold above it, clipped into int16,
    would count it): the case the clipping's proof rests on."""
    x = np.array([[32767, -32768, 0]], dtype=np.int16)
    t = np.array([[32768, 2**40], [-(2**40), -32768], [1, 2]])
    assert sem.multithreshold(x, t).tolist() == [[0, 2, 0]]


def test_max_pool_equals_window_maximum():
    rng = np.random.default_rng(3)
    x = rng.integers(-128, 127, size=(2, 7, 6, 3)).astype(np.int8)
    for k, s, p in [(2, 2, 0), (3, 1, 1), (3, 2, 1), (1, 1, 0)]:
        got = sem.pool(x, "max", (k, k), (s, s), (p, p, p, p))
        xp = np.pad(x.astype(object), ((0, 0), (p, p), (p, p), (0, 0)), constant_values=-(10**9))
        oh, ow = (7 + 2 * p - k) // s + 1, (6 + 2 * p - k) // s + 1
        want = np.array([[[[xp[n, i * s:i * s + k, j * s:j * s + k, ch].max() for ch in range(3)]
                           for j in range(ow)] for i in range(oh)] for n in range(2)], dtype=object)
        assert got.dtype == np.int8 and np.array_equal(got.astype(object), want)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 9), st.booleans(), st.booleans(), st.sampled_from([0.0, -2.0, 1.0, 3.0]),
       st.sampled_from(["ROUND", "FLOOR", "CEIL", "UP", "DOWN", "HALF_UP", "HALF_DOWN"]), st.integers(0, 2**31))
def test_quantize_equals_qonnx_quant(bits, signed, narrow, zp, rounding, seed):
    """The input quantizer (clip and round in place, a zero point of 0 skipped) against
    qonnx's own Quant on the same float32 inputs, at the clipping bounds and halves."""
    from qonnx.custom_op.general.quant import quant

    if narrow and bits == 1 and not signed:
        narrow = False
    rng = np.random.default_rng(seed)
    scale = np.float32(rng.choice([1 / 255, 0.5, 1.0, 3.0]))
    half = (np.arange(-2**bits, 2**bits) + 0.5) * scale
    x = np.concatenate([rng.normal(0, 2.0**bits, 300) * scale, half, [0.0, -0.0, 1e30, -1e30]]).astype(np.float32)
    want = quant(x, scale, np.float32(zp), np.float32(bits), signed, narrow, rounding) / scale  # (q - zp), to float rounding
    got = sem.quantize(x, scale, np.float32(zp), bits, signed, narrow, rounding)
    assert np.array_equal(got, np.round(want).astype(np.int64))
    lo, hi = sem.quantize_range(bits, signed, narrow, np.float32(zp))
    assert lo <= got.min() and got.max() <= hi  # the types chosen from the range hold every result


@pytest.mark.parametrize("lo, hi", [(-1, 1), (-128, 127), (-255, 0), (-300, -100), (100, 300), (-45, 210)])
def test_shifted_operands_equal_dot_product(lo, hi):
    """Every shift: a uint8 zero point of MatMulInteger (-255 <= shift <= 0), else the
    correction added after it; the values at both ends of the range."""
    rng = np.random.default_rng(lo & 0xFFFF)
    x = rng.choice([lo, hi, (lo + hi) // 2], size=(70, 1, 1, 33))
    w = rng.integers(-64, 64, size=(5, 33), endpoint=True)
    plan = sem.weight_plan(w)
    shift = sem.qgemm_shift(lo, hi, plan)
    assert shift == (0 if lo >= 0 and hi <= 255 else lo)
    for xs in (x, x.astype(sem.int_dtype(lo, hi))):
        assert np.array_equal(sem.matvec(xs, w).reshape(70, 5).astype(object), oracle_matvec(x.reshape(70, 33), w))
