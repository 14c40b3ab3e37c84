"""The lookup-table threshold activation and the pool-before-activation order of the simulator,
against the plain definitions on Python integers (`oracle_multithreshold`), and the checks
themselves against deliberately corrupted implementations (each must be caught).

Edge cases drawn on purpose: values at their type's extremes, thresholds equal to values (and
to one more / one less), thresholds far outside the values' type (the clip in a wider type),
shared and per-channel thresholds, channels sharing equal rows, negative and positive steps,
a cached table (over the thresholds' range) and one built for the call (over the values').
"""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from qloom import semantics as sem, sim
from qloom.ir.graph import Graph, OutputSpec
from qloom.ir.ops import DepthwiseMatVec, InputQuant, MatVec, Pool, PoolMode, SlidingWindow
from qloom.ir.types import IntType

from test_semantics_fast import oracle_multithreshold


def oracle_activation(x, t, base, step):
    return base + step * oracle_multithreshold(x, t)


@st.composite
def lut_cases(draw):
    """(x, thresholds, base, step): values of an int8/int16/int32/int64 array (often at the
    extremes), thresholds drawn from near the values (often equal to some) or far outside."""
    c = draw(st.sampled_from([1, 2, 3, 16, 33, 70, 1100]))
    rows_n = draw(st.integers(1, max(1, 3000 // c)))
    dt = np.dtype(draw(st.sampled_from([np.int8, np.int16, np.int32, np.int64])))
    info = np.iinfo(dt)
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    width = draw(st.sampled_from([3, 40, 300, 5000, 2**20]))
    lo = max(info.min, draw(st.integers(-(2**21), 2**21)) if dt.itemsize > 2 else info.min)
    lo = int(min(max(lo, info.min), info.max - 1))
    hi = int(min(info.max, lo + width))
    if dt.itemsize <= 2 and draw(st.booleans()):
        lo, hi = int(info.min), int(info.max)
    x = rng.integers(lo, hi, size=(rows_n, c), endpoint=True)
    if draw(st.booleans()):  # the type's (or the range's) extremes
        x[rng.random(x.shape) < 0.2] = hi
        x[rng.random(x.shape) < 0.2] = lo
    x = x.astype(dt)
    n_t = draw(st.sampled_from([1, 2, 5, 6, 7, 15, 16, 17, 40, 255]))
    rows = draw(st.sampled_from([1, c]))
    kind = draw(st.sampled_from(["near", "equal", "outside", "mixed"]))
    span = max(hi - lo, 4)
    t = rng.integers(lo - span // 4, hi + span // 4, size=(rows, n_t), endpoint=True)
    if kind in ("equal", "mixed"):  # thresholds at values, one above, one below
        picks = rng.choice(x.ravel(), size=t.shape) + rng.integers(-1, 2, size=t.shape)
        t = np.where(rng.random(t.shape) < 0.7, picks, t)
    if kind in ("outside", "mixed"):  # beyond the values' type: the clip runs in a wider type
        top, bottom = (int(info.max), int(info.min)) if dt.itemsize < 8 else (hi + 2**40, lo - 2**40)
        t = np.where(rng.random(t.shape) < 0.3, top + 1 + rng.integers(0, 1000, size=t.shape), t)
        t = np.where(rng.random(t.shape) < 0.2, bottom - 1 - rng.integers(0, 1000, size=t.shape), t)
    if rows > 1 and draw(st.booleans()):  # channels sharing one row of thresholds
        t[1::2] = t[0]
    t = np.sort(t, axis=1)
    base = draw(st.sampled_from([0, -1, -8, 3]))
    step = draw(st.sampled_from([1, 2, -1, -3]))
    return x, t, base, step


def _lut_activation(x, t, base, step, size=None):
    """The table path (or None when no table is allowed), for any number of thresholds."""
    n_t = t.shape[1]
    top = step * n_t
    dt = sem.int_dtype(min(base, base + top, 0, top), max(base, base + top, 0, top))
    flat = x.reshape(-1, x.shape[-1])
    lo, hi = sem.value_range(flat)
    lut = sem._threshold_lut(t, lo, hi, flat.size if size is None else size, base, step, dt)
    if lut is None:
        return None
    out = np.empty(flat.shape, dtype=dt)
    sem._lut_levels(flat, lut, out)
    return out.reshape(x.shape)


@settings(max_examples=300, deadline=None)
@given(lut_cases())
def test_lut_activation_equals_counting(case):
    x, t, base, step = case
    want = oracle_activation(x, t, base, step)
    got = _lut_activation(x, t, base, step, size=2**40)  # any table the budget allows
    if got is not None:
        assert np.array_equal(got.astype(object), want)
    # the public functions, whichever path they take
    assert np.array_equal(sem.threshold_activation(x, t, base, step).astype(object), want)
    assert np.array_equal(sem.multithreshold(x, t).astype(object), oracle_multithreshold(x, t))


@settings(max_examples=150, deadline=None)
@given(lut_cases(), st.sampled_from([1, 6, 16, 99]))
def test_every_level_count_takes_the_same_values(case, levels):
    """Whichever path `LUT_LEVELS` picks (a table from 1 threshold on, or compares up to 99)."""
    x, t, base, step = case
    old = sem.LUT_LEVELS
    try:
        sem.LUT_LEVELS = levels
        got = sem.threshold_activation(x, t, base, step)
    finally:
        sem.LUT_LEVELS = old
    assert np.array_equal(got.astype(object), oracle_activation(x, t, base, step))


def test_lut_is_used_and_cached_for_narrow_thresholds():
    """4-bit activation thresholds on int16 accumulators: the cached table over the thresholds'
    range (so the fast path is the one tested above, not a fallback)."""
    rng = np.random.default_rng(0)
    x = rng.integers(-9000, 9000, size=(500, 16)).astype(np.int16)
    t = np.sort(rng.integers(-300, 3000, size=(16, 15)), axis=1)
    t[3] = t[2]  # two channels with the same row
    lut = sem._threshold_lut(t, -9000, 9000, x.size, 0, 1, np.dtype(np.int8))
    assert lut is not None and (lut.a, lut.b) == (int(t.min()) - 1, int(t.max()))
    assert sem._threshold_lut(t, -9000, 9000, x.size, 0, 1, np.dtype(np.int8)) is lut  # cached
    assert np.array_equal(_lut_activation(x, t, 0, 1).astype(object), oracle_multithreshold(x, t))
    t[0, 0] -= 1  # an in-place change is seen
    assert sem._threshold_lut(t, -9000, 9000, x.size, 0, 1, np.dtype(np.int8)) is not lut
    assert np.array_equal(_lut_activation(x, t, 0, 1).astype(object), oracle_multithreshold(x, t))


def test_lut_at_the_type_extremes_and_outside():
    """Values at int8/int16 min and max; thresholds equal to them, one beyond them, and far
    beyond (a table domain outside the values' type: the clip runs in intp)."""
    for dt in (np.int8, np.int16):
        info = np.iinfo(dt)
        x = np.array([[info.min, info.max, 0, info.max - 1, info.min + 1]], dtype=dt).T.repeat(3, axis=1)
        for t in ([[info.min, info.max]], [[info.max + 1, info.max + 2]], [[info.min - 5, info.min]],
                  [[info.min - 1, info.max], [info.min, info.max + 1], [0, 0]], [[10**6, 10**6 + 3]]):
            t = np.array(t)
            for base, step in ((0, 1), (5, -2)):
                got = _lut_activation(x, t, base, step, size=2**40)
                assert got is not None
                assert np.array_equal(got.astype(object), oracle_activation(x, t, base, step)), (dt, t)


def test_lut_on_int64_values_near_the_wrap():
    """int64 values at +-2**62 and beyond, against a table near them: no index wraps."""
    big = 2**62
    x = np.array([[-big, big, big + 5, -(2**63), 2**63 - 1, -big + 3]], dtype=np.int64).T.repeat(2, axis=1)
    for t in ([[-big - 1, -big, -big + 3, -big + 4, -big + 4, -big + 9]],
              [[big - 2, big, big + 1, big + 2, big + 5, big + 6]] * 2):
        t = np.array(t)
        for base, step in ((0, 1), (2, -1)):
            got = _lut_activation(x, t, base, step, size=2**40)
            assert got is not None
            assert np.array_equal(got.astype(object), oracle_activation(x, t, base, step)), t


def test_lut_budget_falls_back_to_compares():
    """A table over a wide range is refused (too large for the values to look up), and the
    public function still counts right."""
    x = np.array([[-(2**30), 2**30]], dtype=np.int32).repeat(2, axis=0)
    t = np.array([[-(2**29), 0, 2**29] * 3]).reshape(1, 9)
    t.sort(axis=1)
    assert _lut_activation(x, t, 0, 1) is None
    assert np.array_equal(sem.multithreshold(x, t).astype(object), oracle_multithreshold(x, t))


# ---------------------------------------------------------------- the checks catch corruption

_BUILD = sem.build_lut  # the real builder (the corruptions below wrap it)


def _corrupt_off_by_one(t, a, b, out_base, out_step, dt):
    """#{t < v} instead of #{t <= v}: wrong exactly where a value equals a threshold."""
    lut = _BUILD(t + 1, a, b, out_base, out_step, dt)
    return lut


def _corrupt_channel_offset(t, a, b, out_base, out_step, dt):
    """Every channel reads its neighbour's row."""
    lut = _BUILD(t, a, b, out_base, out_step, dt)
    if lut.base is None:
        return lut
    d = b - a + 1
    return lut._replace(base=np.roll(lut.base, 1) if len(lut.base) > 1 else lut.base + d)


def _corrupt_domain(t, a, b, out_base, out_step, dt):
    """A table one entry short at the top (values at the largest threshold look up the wrong entry)."""
    lut = _BUILD(t, a, b - 1, out_base, out_step, dt) if b > a else _BUILD(t, a, b, out_base, out_step + 1, dt)
    return lut._replace(b=b)


@pytest.mark.parametrize("corrupt", [_corrupt_off_by_one, _corrupt_channel_offset, _corrupt_domain])
def test_corrupted_tables_are_caught(corrupt, monkeypatch):
    """Each corruption of the table path fails the same comparison as the tests above on the
    edge cases (thresholds equal to values, distinct channels, values at the top threshold)."""
    x = np.array([[-5, 0, 7, 9, 12, 40], [8, 9, 10, 11, 12, 13]], dtype=np.int16).T.copy()  # (6, 2)
    t = np.array([[0, 7, 9, 12, 13, 40], [8, 9, 10, 11, 12, 14]])
    sem._LUTS.clear()
    good = _lut_activation(x, t, 0, 1)
    assert np.array_equal(good.astype(object), oracle_multithreshold(x, t))
    monkeypatch.setattr(sem, "build_lut", corrupt)
    sem._LUTS.clear()
    bad = _lut_activation(x, t, 0, 1)
    sem._LUTS.clear()
    assert not np.array_equal(bad.astype(object), oracle_multithreshold(x, t))


# ---------------------------------------------------------------- pool before the activation


@st.composite
def pool_cases(draw):
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    pad = (draw(st.integers(0, k[0] - 1)), draw(st.integers(0, k[1] - 1)),
           draw(st.integers(0, k[0] - 1)), draw(st.integers(0, k[1] - 1)))
    h, w = draw(st.integers(max(1, k[0] - pad[0] - pad[2]), 8)), draw(st.integers(max(1, k[1] - pad[1] - pad[3]), 8))
    c = draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    dt = np.dtype(draw(st.sampled_from([np.int8, np.int16, np.int32])))
    info = np.iinfo(dt)
    x = rng.integers(info.min, info.max, size=(draw(st.integers(1, 3)), h, w, c), endpoint=True)
    if draw(st.booleans()):
        x[rng.random(x.shape) < 0.3] = info.min  # equal to the pool's padding value
    x = x.astype(dt)
    n_t = draw(st.sampled_from([1, 3, 15, 40]))
    t = np.sort(rng.choice(np.concatenate([x.ravel(), [int(info.min), int(info.max) + 1]]),
                           size=(draw(st.sampled_from([1, c])), n_t)), axis=1)
    return x, t, k, s, pad, draw(st.sampled_from([0, -4, 2])), draw(st.sampled_from([0, 1, 2]))


@settings(max_examples=300, deadline=None)
@given(pool_cases())
def test_pooled_activation_equals_pool_of_activation(case):
    x, t, k, s, pad, base, step = case
    assert sem.pool_commutes("max", k, pad, step)
    want = sem.pool(oracle_activation(x, t, base, step).astype(np.int64), "max", k, s, pad)
    got = sem.pooled_activation(x, t, base, step, k, s, pad)
    assert np.array_equal(got.astype(object), want.astype(object))


def test_pool_order_matters_where_it_does_not_commute():
    """A negative step, or a window of padding only, changes the result: both are refused."""
    x = np.array([0, 5, 9, 2]).reshape(1, 2, 2, 1)
    t = np.array([[3, 8]])
    first = sem.pool(sem.threshold_activation(x, t, 0, -1).astype(np.int64), "max", (2, 2), (2, 2), (0, 0, 0, 0))
    swapped = sem.threshold_activation(sem.pool(x, "max", (2, 2), (2, 2), (0, 0, 0, 0)), t, 0, -1)
    assert not np.array_equal(first, swapped)
    assert not sem.pool_commutes("max", (2, 2), (0, 0, 0, 0), -1)
    assert not sem.pool_commutes("max", (2, 2), (2, 0, 0, 0), 1)  # a window of padding only
    assert not sem.pool_commutes("sum", (2, 2), (0, 0, 0, 0), 1)
    with pytest.raises(ValueError):
        sem.pooled_activation(x, t, 0, -1, (2, 2), (2, 2), (0, 0, 0, 0))


def _pool_graph(rng, depthwise: bool, step: int, pad, c: int = 3):
    """InputQuant -> SlidingWindow -> (Depthwise)MatVec with thresholds -> max Pool."""
    u4 = IntType(4, False)
    inq = InputQuant(name="in", in_shape=(7, 7, c), in_dtype=u4, scale=np.array(1 / 15), zero_point=np.array(0.0),
                     out_type=u4)
    swg = SlidingWindow(name="swg", in_shape=(7, 7, c), in_dtype=u4, kernel=(3, 3), pad=(1, 1, 1, 1))
    if depthwise:
        w = rng.integers(-8, 8, size=(c, 9))
        lo, hi = sem.accumulator_range(w, 0, 15)
        mh = c
    else:
        mh = 4
        w = rng.integers(-8, 8, size=(mh, 9 * c))
        lo, hi = sem.accumulator_range(w, 0, 15)
    thr = np.sort(rng.integers(lo, hi + 1, size=(mh, 15)), axis=1)
    base = -3 if step > 1 else 0
    cls = DepthwiseMatVec if depthwise else MatVec
    mv = cls(name="mv", in_shape=(7, 7, 9 * c), in_dtype=u4, weights=w, w_dtype=IntType(4, True),
             acc_dtype=IntType.for_range(lo, hi), thresholds=thr, out_base=base, out_step=step)
    mp = Pool(name="pool", in_shape=(7, 7, mh), in_dtype=mv.out_dtype, mode=PoolMode.MAX, kernel=(3, 3),
              stride=(2, 2), pad=pad)
    n_out = int(np.prod(mp.out_shape))
    return Graph(name="p", layers=(inq, swg, mv, mp), output=OutputSpec(scale=np.ones(n_out), bias=np.zeros(n_out)))


@pytest.mark.parametrize("depthwise", [False, True])
@pytest.mark.parametrize("step, pad", [(1, (0, 0, 0, 0)), (1, (1, 1, 2, 2)), (2, (2, 0, 0, 1))])
def test_sim_pools_before_the_activation_exactly(depthwise, step, pad):
    """The simulator's order (pool the accumulators, then threshold) against the layer-by-layer
    run of a trace (the IR has no negative steps: `pool_commutes` refuses them anyway)."""
    rng = np.random.default_rng(7 + depthwise)
    g = _pool_graph(rng, depthwise, step, pad)
    x = rng.random((40, 3, 7, 7)).astype(np.float32)
    plan = sim._Plan(g, 0, None, None)
    assert set(plan.pooled) == {"pool"} and not sim._Plan(g, 0, None, None, trace=True).pooled
    fast = sim.execute(g, x)
    want, trace = sim.execute(g, x, trace=True)
    assert "mv" in trace and np.array_equal(fast, want)
    acc = sem.depthwise_conv(trace["in"], g.layer("mv").weights, (3, 3), (1, 1), (1, 1, 1, 1), 0) if depthwise else \
        sem.conv_matvec(trace["in"], g.layer("mv").weights, (3, 3), (1, 1), (1, 1, 1, 1), 0)
    mv = g.layer("mv")
    ref = sem.pool(oracle_activation(acc, mv.thresholds, mv.out_base, mv.out_step).astype(np.int64), "max", (3, 3),
                   (2, 2), pad)
    assert np.array_equal(fast, ref)
    # stopping at the MatVec, or a feed of its output, runs it with its activation
    assert np.array_equal(sim.execute(g, x, stop=2), trace["mv"])
    assert np.array_equal(sim.execute(g, trace["mv"], start=3), want)


# ---------------------------------------------------------------- cache checks once per run


def test_cached_arrays_are_checked_once_per_run_and_changes_seen_between_runs():
    """Inside `checked_once` (one `sim.execute`) a cached array found equal is not compared
    again; after the run, an in-place change of weights or thresholds is seen."""
    from test_ir import _tiny_graph

    g, _, _ = _tiny_graph()
    x = np.random.default_rng(4).random((30, 2, 6, 6)).astype(np.float32)
    first = sim.execute(g, x)
    conv = g.layer("conv")
    conv.weights[0, :] *= -1  # in place: the same array objects
    conv.thresholds[1, 0] -= 5
    fresh = g.with_layers(tuple(l for l in g.layers))  # the same layers; the caches hold the old copies
    got = sim.execute(fresh, x)
    _, trace = sim.execute(g, x, trace=True)
    acc = sem.conv_matvec(trace["in"], conv.weights.copy(), (3, 3), (1, 1), (0, 0, 0, 0), 0)
    want = sem.pool(oracle_activation(acc, conv.thresholds.copy(), 0, 1).astype(np.int64), "max", (2, 2), (2, 2),
                    (0, 0, 0, 0))
    assert np.array_equal(got, want) and not np.array_equal(got, first)
    # inside a block, the first comparison is remembered; a new copy (a rebuilt entry) is compared anew
    a, copy = np.arange(5), np.arange(5)
    with sem.checked_once():
        assert sem.still_equal(a, copy)
        a[0] = 9
        assert sem.still_equal(a, copy)  # not compared again: the caller promised no change
        assert not sem.still_equal(a, np.arange(5))  # another copy: compared
    assert not sem.still_equal(a, copy)  # outside: compared every time


# ---------------------------------------------------------------- the input quantizer's fast forms


def _same_floats(a, b):
    """Bit for bit, NaNs aside (any NaN equals any NaN)."""
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    nan = np.isnan(a) & np.isnan(b)
    return bool(np.all(nan | (a.view(np.uint32) == b.view(np.uint32))))


_EDGE_FLOATS = np.array([0.0, -0.0, 1.0, -1.0, 0.5, 1.5, 2.5, 255.5, np.inf, -np.inf, np.nan,
                         np.finfo(np.float32).tiny, np.finfo(np.float32).tiny / 8, np.finfo(np.float32).max,
                         -np.finfo(np.float32).max, 1e-45, 3e38], dtype=np.float32)


@settings(max_examples=200, deadline=None)
@given(st.integers(-126, 126), st.integers(0, 2**31), st.sampled_from([0, 1, 4]))
def test_power_of_two_scale_multiplies_exactly(k, seed, per_channel):
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2**32, size=3000, dtype=np.uint64).astype(np.uint32)
    x = np.concatenate([bits.view(np.float32), _EDGE_FLOATS, rng.normal(0, 300, 500).astype(np.float32)])
    if per_channel:
        s = np.float32(2.0) ** np.clip(k + rng.integers(-3, 4, size=per_channel), -126, 126).astype(np.float32)
        x = x[: len(x) // per_channel * per_channel].reshape(-1, per_channel)
    else:
        s = np.float32(2.0) ** np.float32(k)
    inv = sem.exact_reciprocal(s)
    assert inv is not None
    with np.errstate(over="ignore", invalid="ignore"):  # infinities and NaNs are in the inputs
        assert _same_floats(x * inv, x / s)


def test_other_scales_divide_and_a_wrong_reciprocal_is_caught():
    for s in (np.float32(1 / 255), np.float32(3.0), np.float32(0.1), np.float32(-0.5), np.float32(0.0),
              np.float32(2.0) ** -130, np.array([0.5, 0.3], np.float32)):
        assert sem.exact_reciprocal(s) is None
    s = np.float32(1 / 255)  # multiplying by a rounded reciprocal: some x differ (the check sees it)
    x = np.random.default_rng(0).random(100000).astype(np.float32)
    assert not _same_floats(x * (np.float32(1) / s), x / s)


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 8), st.booleans(), st.sampled_from([1 / 255, 1 / 256, 0.5, 2.0, 3.0]), st.integers(0, 2**31),
       st.sampled_from(["ROUND", "FLOOR", "CEIL"]))
def test_uint8_quantizer_equals_int64(bits, narrow, scale, seed, rounding):
    """`quantize_dtype`'s uint8 holds every result of an unsigned <= 8-bit quantizer."""
    if narrow and bits == 1:
        narrow = False
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(0.5, 2.0, 500), _EDGE_FLOATS[np.isfinite(_EDGE_FLOATS)]]).astype(np.float32)
    dt = sem.quantize_dtype(bits, False, narrow, 0.0)
    assert dt == np.uint8
    args = (x, np.float32(scale), np.float32(0), bits, False, narrow, rounding)
    with np.errstate(over="ignore"):  # float32 max / scale: inf, clipped like any large value
        assert np.array_equal(sem.quantize(*args, dtype=dt).astype(np.int64), sem.quantize(*args))
    assert sem.quantize_dtype(bits, False, narrow, 1.0) != np.uint8  # a zero point: signed
    assert sem.quantize_dtype(bits, True, narrow, 0.0) != np.uint8


def test_uint8_frames_pad_with_values_outside_uint8():
    """uint8 frames (the input quantizer's) padded with -1 are promoted, not wrapped."""
    x = np.arange(2 * 3 * 3 * 2, dtype=np.uint8).reshape(2, 3, 3, 2)
    w = np.array([[1, -1] * 9, [2, 0] * 9])
    got = sem.conv_matvec(x, w, (3, 3), (1, 1), (1, 1, 1, 1), -1)
    from test_semantics_fast import oracle_conv

    assert np.array_equal(got.astype(object), oracle_conv(x.astype(np.int64), w, (3, 3), (1, 1), (1, 1, 1, 1), -1))
    assert sem.pad_frames(x, (1, 0, 0, 0), -1)[0, 0, 0, 0] == -1
    assert np.array_equal(sem.pool(x, "max", (2, 2), (1, 1), (1, 1, 1, 1)),
                          sem.pool(x.astype(np.int64), "max", (2, 2), (1, 1), (1, 1, 1, 1)))
