"""What every IR layer computes, once: exact integer numpy functions.

The simulator, the equivalence tests and the golden models of the RTL/HLS blocks all call
these. Arrays are channels-last: a batch of frames is (N, H, W, C); values are integers,
int64 or (results here) the narrowest numpy type holding the layer's proven range.
Nothing here rounds or saturates implicitly: where a result could overflow its declared
type, the caller proves it cannot (see `accumulator_range`).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import NamedTuple

import numpy as np
from qonnx.custom_op.general.quant import max_int, min_int, resolve_rounding_mode

# ---------------------------------------------------------------- host-side input quantizer


def quantize(x: np.ndarray, scale, zero_point, bits: int, signed: bool, narrow: bool,
             rounding: str = "ROUND", bipolar: bool = False, dtype=np.int64) -> np.ndarray:
    """Float -> integer exactly as qonnx's Quant/BipolarQuant: returns q - zero_point (`dtype`,
    int64 unless the caller knows a narrower type holds every q - zero_point).

    qonnx clips first, then rounds (`int_quant`); a 1-bit signed Quant and BipolarQuant give
    +1 for x >= 0 and -1 otherwise. Rounding "ROUND" is half-to-even (np.round).
    """
    x = np.asarray(x, dtype=np.float32)
    scale = np.asarray(scale, dtype=np.float32)
    zero_point = np.asarray(zero_point, dtype=np.float32)
    if bipolar:
        return np.where(x / scale >= 0, 1, -1).astype(dtype)
    inv = exact_reciprocal(scale)
    y = x * inv if inv is not None else x / scale
    zp = bool(zero_point.any())  # adding or subtracting a zero point of 0 changes no integer
    if zp:
        y = y + zero_point
    if bits == 1 and signed:  # qonnx: +-1, then the zero point is subtracted like any level
        q = np.where(y >= 0.0, np.float32(1), np.float32(-1))
        return (q - zero_point if zp else q).astype(dtype)
    lo = np.float32(min_int(signed, narrow, bits))
    hi = np.float32(max_int(signed, narrow, bits))
    np.clip(y, lo, hi, out=y)  # in place: y is this function's own array
    rnd = resolve_rounding_mode(rounding)
    q = rnd(y, out=y) if rnd in (np.round, np.ceil, np.floor, np.fix) else rnd(y)
    return (q - zero_point if zp else q).astype(dtype)


def exact_reciprocal(scale: np.ndarray) -> np.ndarray | None:
    """1 / scale (float32) where x * (1 / scale) is x / scale for every float32 x, else None:
    when every scale is a power of two (a normal float32, its reciprocal normal too), both
    are the correctly rounded x * 2**-k (IEEE 754 rounds each operation's exact result), and
    a multiply costs half a divide."""
    s = np.asarray(scale, dtype=np.float32)
    if s.size == 0 or not np.all(s > 0):
        return None
    tiny, big = np.finfo(np.float32).tiny, np.finfo(np.float32).max
    if not (np.all(s >= tiny) and np.all(s <= 1 / tiny) and np.all(np.frexp(s)[0] == 0.5)):
        return None
    inv = (np.float32(1) / s).astype(np.float32)
    return inv if np.all(inv * s == 1) and np.all(inv <= big) else None


def quantize_dtype(bits: int, signed: bool, narrow: bool, zero_point, bipolar: bool = False) -> np.dtype:
    """The narrowest numpy type holding every `quantize` result: uint8 for an unsigned
    quantizer of <= 8 bits without zero point (q in [0, 2**bits - 1]: the exact GEMM's operand
    type, no conversion), else the signed type of `quantize_range`."""
    zp = np.asarray(zero_point, dtype=np.float64)
    if not bipolar and not signed and bits <= 8 and not zp.any():
        return np.dtype(np.uint8)
    return int_dtype(*quantize_range(bits, signed, narrow, zero_point))


def quantize_range(bits: int, signed: bool, narrow: bool, zero_point) -> tuple[int, int]:
    """Bounds of every `quantize` result: the clipped q's range minus the zero points
    (a 1-bit signed or bipolar result, +-1, lies inside it)."""
    zp = np.asarray(zero_point, dtype=np.float64)
    lo, hi = int(min_int(signed, narrow, bits)), int(max_int(signed, narrow, bits))
    if bits == 1 and signed:  # the levels are +-1 (see `quantize`), not the clip range [-1, 0]
        lo, hi = -1, 1
    return min(lo - int(np.ceil(zp.max())), -1), max(hi - int(np.floor(zp.min())), 1)


# ---------------------------------------------------------------- matrix-vector unit


def matvec(x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Accumulators of every input vector: (N, H, W, MW) x (MH, MW) -> (N, H, W, MH).

    Bipolar values are -1/+1 here, so the XNOR-popcount form is the same dot product:
    acc = 2 * popcount(xnor(x_bits, w_bits)) - MW (see `popcount_threshold`). Runs on the
    exact integer GEMM (`qgemm`) where `qgemm_shift` allows, else on `exact_dot`.
    """
    x = np.asarray(x)
    plan = weight_plan(weights)
    lead, mw = x.shape[:-1], x.shape[-1]
    flat = x.reshape(-1, mw)
    lo, hi = value_range(flat)
    shift = qgemm_shift(lo, hi, plan)
    if shift is None:
        return exact_dot(x, plan.w.T, max(-lo, hi, 0) * plan.row_abs_max)
    xu = to_uint8(flat, shift)
    out = np.empty((len(flat), plan.mh), dtype=int_dtype(*_acc_bounds(lo, hi, plan)))
    step = max(1, 4 * CHUNK // (mw + 4 * plan.mh))  # 1 MB of uint8 rows and int32 results
    for b in range(0, len(flat), step):
        out[b:b + step] = qgemm(xu[b:b + step], plan, shift)
    return out.reshape(lead + (plan.mh,))


def _max_abs(x: np.ndarray) -> int:
    return int(max(-int(x.min()), int(x.max()))) if x.size else 0


def int_dtype(lo: int, hi: int) -> np.dtype:
    """The narrowest signed numpy integer type holding every integer in [lo, hi]."""
    for t, (t_lo, t_hi) in _INT_RANGES:
        if t_lo <= lo and hi <= t_hi:
            return t
    return np.dtype(np.int64)


_INT_RANGES = [(np.dtype(t), (int(np.iinfo(t).min), int(np.iinfo(t).max))) for t in (np.int8, np.int16, np.int32)]


def exact_ftype(bound: int):
    """float32 if every integer of magnitude <= bound is exact in it (< 2**24), else float64
    (< 2**53), else None (integer arithmetic only)."""
    return np.float32 if bound < 2**24 else (np.float64 if bound < 2**53 else None)


CHUNK = 1 << 18  # elements of a work array per chunk (1 MB of float32): it stays in cache


def exact_dot(x: np.ndarray, w_t: np.ndarray, bound: int) -> np.ndarray:
    """x @ w_t on integers, exactly, through float BLAS where the sums cannot round.

    `bound` >= |any partial sum| (sum of |w| times max |x|). Every integer below 2**24
    (float32) or 2**53 (float64) is exact, and so is every partial sum, in any order. The
    result has the narrowest integer type holding +-bound; rows go in cache-sized chunks.
    """
    ftype = exact_ftype(bound)
    if ftype is None:
        return np.asarray(x, dtype=np.int64) @ np.asarray(w_t, dtype=np.int64)
    x = np.asarray(x)
    wf = np.asarray(w_t).astype(ftype)
    lead = x.shape[:-1]
    flat = x.reshape(-1, x.shape[-1])
    out = np.empty((len(flat), wf.shape[1]), dtype=int_dtype(-bound, bound))
    step = max(1, CHUNK // max(1, flat.shape[1]))
    for b in range(0, len(flat), step):
        out[b:b + step] = flat[b:b + step].astype(ftype) @ wf
    return out.reshape(lead + (wf.shape[1],))


# The exact integer GEMM: onnxruntime's MatMulInteger (uint8 x int8 -> int32, a dependency
# of qonnx), whose VNNI/AMX kernels run ~10x float32 BLAS here. Integer sums are exact in any
# order while |sum| < 2**31; x86 kernels without VNNI first add two products into a saturating
# int16, so `qgemm_shift` admits only operands whose pair sums stay within it.
PAIR_MAX = 2**15 - 1
_QGEMM = None
_ZP = [np.array(v, dtype=np.uint8) for v in range(256)]  # MatMulInteger's zero points (0-d arrays)


class WeightPlan(NamedTuple):
    """A weight matrix prepared once for `matvec`/`conv_matvec` (cached by `weight_plan`)."""
    w: np.ndarray  # (MH, MW) int64, a private copy
    w_lo: int
    w_hi: int
    row_abs_max: int  # the largest row sum of |w|: |acc| <= max|x| * row_abs_max
    col_sum: np.ndarray  # (MH,) int64: sum of each output's weights (the shift correction)
    w8_t: np.ndarray | None  # (MW, MH) int8 when every weight fits int8

    @property
    def mh(self) -> int:
        return int(self.w.shape[0])


_PLANS: dict[int, tuple[np.ndarray, WeightPlan]] = {}
_CHECKS = threading.local()  # .seen: inside `checked_once`, the (array, copy) pairs found equal


def still_equal(a: np.ndarray, copy: np.ndarray) -> bool:
    """Whether a cached array (weights, thresholds) still equals the cache's copy of it:
    compared on every lookup, or once per `checked_once` block."""
    seen = getattr(_CHECKS, "seen", None)
    key = (id(a), id(copy))
    if seen is not None and key in seen:
        return True
    ok = bool(np.array_equal(a, copy))
    if ok and seen is not None:
        seen.add(key)
    return ok


@contextmanager
def checked_once():
    """Within the block (this thread), a cached array found equal to the cache's copy is not
    compared again: for a caller that does not change its arrays meanwhile (`sim.execute`:
    one run, every chunk reading the same layers). The copy's id is in the key, so a cache
    entry rebuilt in the block is compared anew."""
    outer = getattr(_CHECKS, "seen", None)
    _CHECKS.seen = set() if outer is None else outer
    try:
        yield
    finally:
        _CHECKS.seen = outer


def weight_plan(weights: np.ndarray) -> WeightPlan:
    """The prepared form of `weights`, cached per array object; a cached plan is used only
    while the array still equals its copy (an in-place change is seen, not trusted)."""
    key = id(weights)
    hit = _PLANS.get(key)
    if hit is not None and hit[0] is weights and still_equal(weights, hit[1].w):
        return hit[1]
    w = np.array(weights, dtype=np.int64).reshape(len(weights), -1)
    w_lo, w_hi = (int(w.min()), int(w.max())) if w.size else (0, 0)
    fits8 = -128 <= w_lo and w_hi <= 127
    plan = WeightPlan(w, w_lo, w_hi, int(np.abs(w).sum(axis=1).max(initial=0)), w.sum(axis=1),
                      np.ascontiguousarray(w.T, dtype=np.int8) if fits8 else None)
    if isinstance(weights, np.ndarray):
        if len(_PLANS) >= 64:  # a model's layers; old entries (and their arrays) are let go
            _PLANS.pop(next(iter(_PLANS)))
        _PLANS[key] = (weights, plan)  # holding the array keeps its id from being reused
    return plan


def value_range(x: np.ndarray) -> tuple[int, int]:
    """(min, max) of an integer array, (0, 0) when empty."""
    return (int(x.min()), int(x.max())) if x.size else (0, 0)


def qgemm_shift(lo: int, hi: int, plan: WeightPlan) -> int | None:
    """The s for which `qgemm` computes x @ w.T exactly for every x in [lo, hi], or None.

    x - s must fit uint8 (s = 0 when x already does, else s = lo), the weights int8, every
    pair sum 2 * max(x - s) * max|w| the int16 of x86 kernels without VNNI, and every
    accumulator (shifted or not) int32.
    """
    if plan.w8_t is None:
        return None
    s = 0 if 0 <= lo and hi <= 255 else lo
    top = hi - s
    w_abs = max(-plan.w_lo, plan.w_hi, 0)
    if top > 255 or 2 * top * w_abs > PAIR_MAX:
        return None
    if top * plan.row_abs_max >= 2**31 or max(-lo, hi, 0) * plan.row_abs_max >= 2**31:
        return None
    return s


def _acc_bounds(lo: int, hi: int, plan: WeightPlan) -> tuple[int, int]:
    """Bounds of every accumulator for inputs in [lo, hi]: +-max|x| * the largest row sum of |w|."""
    b = max(-lo, hi, 0) * plan.row_abs_max
    return -b, b


def to_uint8(x: np.ndarray, shift: int) -> np.ndarray:
    """x - shift as uint8, for values known to lie in [shift, shift + 255]: uint8 arithmetic
    is modulo 256, so the wrapped cast and subtraction give the exact value."""
    if x.dtype == np.uint8 and shift == 0:
        return x
    if x.dtype == np.int8:  # the same bits mod 256: a free view, then one uint8 pass
        return x.view(np.uint8) if shift % 256 == 0 else np.subtract(x.view(np.uint8), np.uint8(shift % 256))
    out = x.astype(np.uint8)
    if shift % 256:
        out -= np.uint8(shift % 256)
    return out


def _qgemm_session():
    global _QGEMM
    if _QGEMM is None:
        import onnxruntime as ort
        from onnx import TensorProto, helper

        node = helper.make_node("MatMulInteger", ["a", "b", "za"], ["y"])  # (a - za) @ b
        graph = helper.make_graph(
            [node], "qgemm",
            [helper.make_tensor_value_info("a", TensorProto.UINT8, ["m", "k"]),
             helper.make_tensor_value_info("b", TensorProto.INT8, ["k", "n"]),
             helper.make_tensor_value_info("za", TensorProto.UINT8, [])],
            [helper.make_tensor_value_info("y", TensorProto.INT32, ["m", "n"])])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 8
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1  # the caller's thread: the machine is shared (see sim)
        opts.inter_op_num_threads = 1
        _QGEMM = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return _QGEMM


def _QGEMM_RUN(names, feed, options):
    """The session's run: onnxruntime's C binding directly where it has one (its Python
    wrapper re-validates the input names on every call: ~10 us, per GEMM chunk)."""
    global _QGEMM_RUN
    session = _qgemm_session()
    binding = getattr(session, "_sess", None)
    _QGEMM_RUN = binding.run if binding is not None and hasattr(binding, "run") else session.run
    return _QGEMM_RUN(names, feed, options)


def qgemm(xu: np.ndarray, plan: WeightPlan, shift: int) -> np.ndarray:
    """x @ w.T, int32, for xu = `to_uint8(x, shift)` (M, MW) with `shift` from `qgemm_shift`:
    (xu + shift) @ w.T, the shift as MatMulInteger's zero point (-shift) where that is a
    uint8 (its correction is int32 arithmetic on the same exact sums), else added here as
    shift * col_sum (exact: the sum is an accumulator)."""
    if len(xu) == 0:
        return np.zeros((0, plan.mh), dtype=np.int32)
    za = -shift if 0 <= -shift <= 255 else 0
    acc = _QGEMM_RUN(["y"], {"a": np.ascontiguousarray(xu), "b": plan.w8_t, "za": _ZP[za]}, None)[0]
    if shift + za:
        acc += ((shift + za) * plan.col_sum).astype(np.int32)
    return acc


def accumulator_range(weights: np.ndarray, in_lo: int, in_hi: int) -> tuple[int, int]:
    """Exact min and max accumulator of `weights @ x` over all x in [in_lo, in_hi]^MW.

    Each term w*x is extreme at an input bound, independently per column, so the row-wise
    sums of the per-term minima/maxima are reached (a proof, not an estimate).
    """
    w = np.asarray(weights, dtype=np.int64)
    a, b = w * in_lo, w * in_hi
    return int(np.minimum(a, b).sum(axis=1).min()), int(np.maximum(a, b).sum(axis=1).max())


def accumulator_bounds_per_row(weights: np.ndarray, in_lo: int, in_hi: int) -> tuple[np.ndarray, np.ndarray]:
    """Per output row: exact (min, max) accumulator over all inputs in range."""
    w = np.asarray(weights, dtype=np.int64)
    a, b = w * in_lo, w * in_hi
    return np.minimum(a, b).sum(axis=1), np.maximum(a, b).sum(axis=1)


# ---------------------------------------------------------------- thresholds


def multithreshold(x: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Count of thresholds each value reaches: (..., C) with (C, T) or (1, T) -> (..., C).

    count = #{t : x >= t}; thresholds sorted ascending per channel. Works on the narrowest
    integer type holding the values and max x + 1: thresholds are first clipped to its
    range, which changes no comparison. From `LUT_LEVELS` thresholds on: a lookup table of
    every channel's counts over the thresholds' range (`_threshold_lut`, one clip, one add
    and one gather per value); fewer (or a table too large): one vectorized compare-and-add
    per level over tiled thresholds (`_count_levels`) up to 16 levels, else a per-channel
    binary search. Rows go in cache-sized chunks. The count has the narrowest type holding T.
    """
    n_t = np.shape(thresholds)[1]
    return _activate(x, thresholds, 0, 1, int_dtype(0, n_t))


def threshold_activation(x: np.ndarray, thresholds: np.ndarray, out_base: int, out_step: int) -> np.ndarray:
    """The activation of MatVec/Threshold: out_base + out_step * multithreshold(x), on the
    narrowest integer type holding every output and every step * count (a lookup table
    holds the outputs themselves, see `multithreshold`)."""
    top = out_step * np.shape(thresholds)[1]
    vals = (out_base, out_base + top, 0, top)
    return _activate(x, thresholds, out_base, out_step, int_dtype(min(vals), max(vals)))


LUT_LEVELS = 6  # from this many thresholds on, a lookup table (measured faster than 6 compares)
LUT_MAX = 1 << 18  # entries of a cached lookup table (uint8/int16: it stays in L2)


def _activate(x: np.ndarray, thresholds: np.ndarray, out_base: int, out_step: int, dt: np.dtype) -> np.ndarray:
    """out_base + out_step * #{t : x >= t} in `dt` (which holds every output and step * T)."""
    x = np.asarray(x)
    n_t = np.shape(thresholds)[1]
    if n_t == 0 or x.size == 0:
        return np.full(x.shape, out_base, dtype=dt)
    c = x.shape[-1]
    flat = x.reshape(-1, c)
    lut = _cached_lut(thresholds, out_base, out_step, dt) if n_t >= LUT_LEVELS else None
    if lut is not None:  # over the thresholds' whole range: valid for any values
        out = np.empty(flat.shape, dtype=dt)
        _lut_levels(flat, lut, out)
        return out.reshape(x.shape)
    lo, hi = value_range(x)
    if n_t >= LUT_LEVELS:
        lut = _threshold_lut(thresholds, lo, hi, flat.size, out_base, out_step, dt)
        if lut is not None:
            out = np.empty(flat.shape, dtype=dt)
            _lut_levels(flat, lut, out)
            return out.reshape(x.shape)
    count = _count(flat, thresholds, lo, hi)
    out = count.astype(dt, copy=False)
    if out_step != 1:
        out *= dt.type(out_step)
    if out_base:
        out += dt.type(out_base)
    return out.reshape(x.shape)


def _count(flat: np.ndarray, thresholds: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """#{t : x >= t} of (M, C) values in [lo, hi], by comparisons (no lookup table)."""
    t = np.asarray(thresholds, dtype=np.int64)
    n_t = t.shape[1]
    cdt = int_dtype(0, n_t)
    wdt = int_dtype(lo, hi + 1)
    c = flat.shape[1]
    out = np.empty(flat.shape, dtype=cdt)
    if n_t <= 16:  # compare-and-add on the narrow type
        _count_levels(flat, _level_tiles(thresholds, wdt, c), wdt, out)
        return out
    tc = np.clip(t, lo, hi + 1).astype(wdt)
    step = max(1, CHUNK // c)
    for b in range(0, len(flat), step):  # binary search per channel
        xb = flat[b:b + step]
        if tc.shape[0] == 1:
            out[b:b + step] = np.searchsorted(tc[0], xb, side="right")
        else:
            for ch in range(c):
                out[b:b + step, ch] = np.searchsorted(tc[ch], xb[:, ch], side="right")
    return out


class ThresholdLut(NamedTuple):
    """Every output of a threshold activation over the values [a, b]: table[r * D + v - a]
    for channel row r (one row when the channels share thresholds), D = b - a + 1."""
    table: np.ndarray  # (rows * D,) in the output type
    a: int
    b: int
    base: np.ndarray | None  # (rep * C,) intp: r * D - a tiled over rep rows; None if shared


_LUTS: dict[tuple, tuple[np.ndarray, np.ndarray, ThresholdLut]] = {}


def lut_domain(t: np.ndarray, lo: int, hi: int) -> tuple[int, int, int, int]:
    """(A, B, a, b): clipping to [A, B] = [min t - 1, max t] changes no count of any integer
    (below every threshold the count is 0, from the largest on it is T), and for values in
    [lo, hi] neither does clipping to [a, b] = [clamp(lo), clamp(hi)] within [A, B]: a value's
    clip to [A, B] already lies in [a, b]."""
    big_a, big_b = int(t.min()) - 1, int(t.max())
    return big_a, big_b, min(max(lo, big_a), big_b), min(max(hi, big_a), big_b)


def _cached_lut(thresholds: np.ndarray, out_base: int, out_step: int, dt: np.dtype) -> ThresholdLut | None:
    """The cached table of these thresholds (over their whole range), if any: cached per
    array, used only while it still equals its copy (an in-place change is seen)."""
    hit = _LUTS.get((id(thresholds), out_base, out_step, np.dtype(dt).str))
    if hit is not None and hit[0] is thresholds and still_equal(thresholds, hit[1]):
        return hit[2]
    return None


def _threshold_lut(thresholds: np.ndarray, lo: int, hi: int, size: int, out_base: int, out_step: int,
                   dt: np.dtype) -> ThresholdLut | None:
    """The lookup table of out_base + out_step * count for values in [lo, hi], or None when it
    would be too large. Over the thresholds' whole range when that has <= LUT_MAX entries
    (cached per array, checked equal to its copy), else over the values' range when that is
    small against the `size` values to look up (built for this call)."""
    hit = _cached_lut(thresholds, out_base, out_step, dt)
    if hit is not None:
        return hit
    t = np.array(thresholds, dtype=np.int64)
    rows = t.shape[0]
    key = (id(thresholds), out_base, out_step, np.dtype(dt).str)
    big_a, big_b, a, b = lut_domain(t, lo, hi)
    cache = (big_b - big_a + 1) * rows <= LUT_MAX
    if cache:
        a, b = big_a, big_b
    elif (b - a + 1) * rows > min(LUT_MAX, size // 4):
        return None
    lut = build_lut(t, a, b, out_base, out_step, dt)
    if cache and isinstance(thresholds, np.ndarray):
        if len(_LUTS) >= 256:
            _LUTS.pop(next(iter(_LUTS)))
        _LUTS[key] = (thresholds, t, lut)
    return lut


def build_lut(t: np.ndarray, a: int, b: int, out_base: int, out_step: int, dt: np.dtype) -> ThresholdLut:
    """The table of `ThresholdLut` for (rows, T) thresholds t over [a, b]: per row, a histogram
    of the thresholds' positions (one below a counts at a, one above b never), summed up."""
    rows, n_t = t.shape
    d = b - a + 1
    pos = np.clip(t - a, 0, d) + (d + 1) * np.arange(rows)[:, None]  # position d: above b
    hist = np.bincount(pos.ravel(), minlength=rows * (d + 1)).reshape(rows, d + 1)
    count = np.cumsum(hist[:, :d], axis=1)  # count[r, v - a] = #{t in row r : t <= v}
    table = (out_base + out_step * count).astype(dt).ravel()
    base = None
    if rows > 1:
        base = np.tile(np.arange(rows, dtype=np.intp) * d - a, -(-1024 // rows))
    return ThresholdLut(table, a, b, base)


def _fits(dt: np.dtype, a: int, b: int) -> bool:
    info = np.iinfo(dt)
    return info.min <= a and b <= info.max


def _lut_levels(flat: np.ndarray, lut: ThresholdLut, out: np.ndarray) -> None:
    """out = lut's outputs for (M, C) values (within the range the table was built for).

    Per block of rows (in cache): the values clipped to [a, b] into intp, plus each channel's
    row offset (tiled over rep rows, so the add's inner loop runs >= 1024 values), then one
    gather. With shared thresholds the clip is the gather's own (mode "clip" on v - a) where
    v - a cannot wrap in intp."""
    m, c = flat.shape
    shared = lut.base is None
    rep = 1 if shared else len(lut.base) // c
    step = max(rep, (1 << 16) // c // rep * rep)
    buf = np.empty((min(step, m), c), dtype=np.intp)
    for b in range(0, m, step):
        xb = flat[b:b + step]
        k = len(xb)
        ib = buf[:k]
        if shared and xb.dtype.itemsize < 8:  # v - a cannot wrap (|a| < 2**62: a threshold)
            np.subtract(xb, lut.a, out=ib, dtype=np.intp)
        elif shared:  # int64 values: clipped first, so v - a lies in [0, D)
            np.clip(xb, lut.a, lut.b, out=ib)
            ib -= lut.a
        else:
            if _fits(xb.dtype, lut.a, lut.b):  # clip on the values' type, written as intp
                np.clip(xb, xb.dtype.type(lut.a), xb.dtype.type(lut.b), out=ib)
            else:
                np.copyto(ib, xb)
                np.clip(ib, lut.a, lut.b, out=ib)
            q = k // rep * rep
            full = ib[:q].reshape(-1, rep * c)
            full += lut.base
            if q < k:
                ib[q:] += lut.base[:c]
        np.take(lut.table, ib, out=out[b:b + k], mode="clip")


_TILES: dict[tuple, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}


def _level_tiles(thresholds: np.ndarray, wdt: np.dtype, c: int) -> np.ndarray:
    """Thresholds for `_count_levels` in `wdt`: (T,) if shared by all channels, else (T, rep*C),
    the (C, T) table transposed and tiled over rep = ceil(1024 / C) rows.

    Clipped to wdt's range, which changes no comparison for values of [lo, hi] when wdt holds
    hi + 1 (`multithreshold` picks it so): a threshold above wdt's max is above every value,
    one below its min below every value. Cached per array, checked equal to its copy.
    """
    key = (id(thresholds), np.dtype(wdt).str, c)
    hit = _TILES.get(key)
    if hit is not None and hit[0] is thresholds and still_equal(thresholds, hit[1]):
        return hit[2]
    t = np.array(thresholds, dtype=np.int64)
    info = np.iinfo(wdt)
    tc = np.clip(t, info.min, info.max).astype(wdt)
    tiles = tc[0] if tc.shape[0] == 1 else np.tile(tc.T, (1, -(-1024 // c)))
    if isinstance(thresholds, np.ndarray):
        if len(_TILES) >= 256:
            _TILES.pop(next(iter(_TILES)))
        _TILES[key] = (thresholds, t, tiles)
    return tiles


def _count_levels(flat: np.ndarray, tiles: np.ndarray, wdt: np.dtype, out: np.ndarray) -> None:
    """out[i, ch] = #{k : flat[i, ch] >= threshold k of channel ch} (out int8, <= 127 levels).

    Per-channel thresholds come tiled over `rep` rows (`_level_tiles`), so every numpy inner
    loop compares a run of >= 1024 values (one row of C channels each would cost a loop call
    per row); the bool results add as uint8. Blocks of rows go through the cache in `wdt`.
    """
    m, c = flat.shape
    shared = tiles.ndim == 1
    rep = 1 if shared else tiles.shape[1] // c
    step = max(rep, CHUNK // c // rep * rep)
    o8 = out.view(np.uint8)
    for b in range(0, m, step):
        xb = np.ascontiguousarray(flat[b:b + step], dtype=wdt)
        q = len(xb) // rep * rep
        parts = [(xb[:q].reshape(-1, rep * c), o8[b:b + q].reshape(-1, rep * c), tiles)]
        if q < len(xb):  # the last rows: one row of thresholds per row
            parts.append((xb[q:], o8[b + q:b + len(xb)], tiles if shared else tiles[:, :c]))
        for xv, ov, tt in parts:
            tmp = np.empty(xv.shape, dtype=bool)
            np.greater_equal(xv, tt[0], out=ov.view(bool))
            for k in range(1, len(tt)):
                np.greater_equal(xv, tt[k], out=tmp)
                ov += tmp.view(np.uint8)


def float_multithreshold(x: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """`multithreshold` on float32 values and thresholds: the input quantizer in threshold form.

    Exact for finite x (a NaN input has no defined level)."""
    x = np.asarray(x, dtype=np.float32)
    t = np.asarray(thresholds, dtype=np.float32)
    if t.shape[1] == 0:
        return np.zeros(x.shape, dtype=np.int64)
    if t.shape[0] == 1:
        return np.searchsorted(t[0], x, side="right").astype(np.int64)
    flat = x.reshape(-1, x.shape[-1])
    out = np.empty(flat.shape, dtype=np.int64)
    for c in range(flat.shape[1]):  # searchsorted per channel: O(N log T)
        out[:, c] = np.searchsorted(t[c], flat[:, c], side="right")
    return out.reshape(x.shape)


def popcount_threshold(thresholds: np.ndarray, mw: int) -> np.ndarray:
    """Bipolar dot-product thresholds -> popcount thresholds for the XNOR form.

    acc = 2 * p - MW with p = popcount(xnor), so acc >= t  <=>  p >= ceil((t + MW) / 2).
    """
    t = np.asarray(thresholds, dtype=np.int64)
    return -((-(t + mw)) // 2)


# ---------------------------------------------------------------- windows and pooling


def pad_frames(x: np.ndarray, pad: tuple[int, int, int, int], value: int) -> np.ndarray:
    """(N, H, W, C) padded by (top, left, bottom, right) with `value`."""
    pt, pl, pb, pr = pad
    if not any(pad):
        return x
    if x.dtype.kind in "iu" and not (np.iinfo(x.dtype).min <= value <= np.iinfo(x.dtype).max):
        x = x.astype(np.promote_types(x.dtype, int_dtype(value, value)))  # e.g. uint8 frames, pad -1
    return np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=value)


def _windows(x: np.ndarray, kernel, stride) -> np.ndarray:
    """(N, H, W, C) -> (N, OH, OW, kh, kw, C) views of every window."""
    kh, kw = kernel
    sh, sw = stride
    n, h, w, c = x.shape
    if h < kh or w < kw:
        raise ValueError(f"a {kh}x{kw} window does not fit a {h}x{w} frame")
    sn, sy, sx, sc = x.strides  # one read-only strided view, no copy
    shape = (n, (h - kh) // sh + 1, (w - kw) // sw + 1, kh, kw, c)
    return np.lib.stride_tricks.as_strided(x, shape, (sn, sy * sh, sx * sw, sy, sx, sc), writeable=False)


def sliding_window(x: np.ndarray, kernel, stride, pad, pad_value: int) -> np.ndarray:
    """im2col: (N, H, W, C) -> (N, OH, OW, kh*kw*C), window order (kh, kw, c)."""
    x = pad_frames(np.asarray(x, dtype=np.int64), pad, pad_value)
    win = _windows(x, kernel, stride)
    n, oh, ow = win.shape[:3]
    return win.reshape(n, oh, ow, -1)


def conv_matvec(x: np.ndarray, weights: np.ndarray, kernel, stride, pad, pad_value: int) -> np.ndarray:
    """matvec(sliding_window(x), weights) without building the whole im2col tensor.

    Frames go in chunks whose im2col block (a copy of the strided window view) fits in
    cache, each then one GEMM: overlapping windows are not a BLAS-strided matrix, and
    per-offset GEMMs on views measured slower on this 2-core machine. The block is uint8 for
    the exact integer GEMM (`qgemm`, shifted by `qgemm_shift` when the values are signed),
    else float where the bound (max |x| times the largest row sum of |w|) proves the sums
    exact, else int64. Tested equal to the composition and to a direct convolution on
    Python integers.
    """
    kh, kw = kernel
    sh, sw = stride
    x = np.asarray(x)
    n, c = x.shape[0], x.shape[3]
    lo, hi = value_range(x)
    if any(pad):
        lo, hi = min(lo, pad_value), max(hi, pad_value)
    plan = weight_plan(weights)
    shift = qgemm_shift(lo, hi, plan)
    if shift is None:
        return _conv_matvec_float(x, plan, kernel, stride, pad, pad_value)
    x = pad_frames(to_uint8(x, shift), pad, pad_value - shift)
    oh, ow = (x.shape[1] - kh) // sh + 1, (x.shape[2] - kw) // sw + 1
    acc = np.empty((n, oh * ow, plan.mh), dtype=int_dtype(*_acc_bounds(lo, hi, plan)))  # cast in the copy
    step = max(1, 4 * CHUNK // (oh * ow * (kh * kw * c + 4 * plan.mh)))  # 1 MB: im2col + int32 results
    windows = _windows(x, kernel, stride)  # (N, OH, OW, kh, kw, C) view, sliced per chunk
    for b in range(0, n, step):
        win = windows[b:b + step]
        cols = _im2col(win).reshape(-1, kh * kw * c)  # columns (kh, kw, c)
        acc[b:b + step] = qgemm(cols, plan, shift).reshape(len(win), oh * ow, plan.mh)
    return acc.reshape(n, oh, ow, plan.mh)


def _im2col(win: np.ndarray) -> np.ndarray:
    """A contiguous copy of a window view. Few channels: one strided copy per kernel offset,
    whose inner loops run along a row of pixels (a plain copy's run only kw * C values:
    ~3x slower measured for C = 1, ~3x faster for C = 32)."""
    if win.shape[-1] >= 8:
        return np.ascontiguousarray(win)
    cols = np.empty(win.shape, dtype=win.dtype)
    for i in range(win.shape[3]):
        for j in range(win.shape[4]):
            cols[:, :, :, i, j] = win[:, :, :, i, j]
    return cols


def _conv_matvec_float(x, plan: WeightPlan, kernel, stride, pad, pad_value: int) -> np.ndarray:
    """`conv_matvec` through float BLAS (exact below `exact_ftype`'s bound) or int64."""
    kh, kw = kernel
    sh, sw = stride
    x = pad_frames(x, pad, pad_value)
    n, h, w, c = x.shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    bound = _max_abs(x) * plan.row_abs_max
    ftype = exact_ftype(bound)
    if ftype is None:
        return matvec(sliding_window(x, kernel, stride, (0, 0, 0, 0), pad_value), plan.w)
    wt = plan.w.T.astype(ftype)  # (kh*kw*C, MH), rows (kh, kw, c)
    acc = np.empty((n, oh, ow, plan.mh), dtype=int_dtype(-bound, bound))
    step = max(1, CHUNK // max(1, oh * ow * kh * kw * c))  # a cache-sized float im2col block
    for b in range(0, n, step):
        win = _windows(x[b:b + step].astype(ftype), kernel, stride)  # (n', OH, OW, kh, kw, C) view
        acc[b:b + step] = win.reshape(win.shape[0], oh, ow, -1) @ wt  # one copy, one matmul
    return acc


def pool(x: np.ndarray, mode: str, kernel, stride, pad) -> np.ndarray:
    """Max or sum over windows per channel: (N, H, W, C) -> (N, OH, OW, C).

    Max pads with the integer type's minimum (acts as -inf, like ONNX MaxPool) and keeps
    the type; sum pads with 0 and adds in int64.
    """
    x = np.asarray(x)
    mode = getattr(mode, "value", mode)
    if mode == "max":  # the type's minimum is below or equal to every value: exact as -inf
        x = x if x.dtype.kind in "iu" else x.astype(np.int64)  # an unsigned type's minimum, 0, is -inf too
        win = _windows(pad_frames(x, pad, np.iinfo(x.dtype).min), kernel, stride)
        out = win[:, :, :, 0, 0].copy()  # a running maximum over the window offsets: each
        for i in range(win.shape[3]):  # np.maximum runs over whole frames, where a reduce
            for j in range(win.shape[4]):  # over the window axes measured ~5x slower
                if i or j:
                    np.maximum(out, win[:, :, :, i, j], out=out)
        return out
    if mode == "sum":
        win = _windows(pad_frames(x.astype(np.int64), pad, 0), kernel, stride)
        return win.sum(axis=(3, 4))
    raise ValueError(f"unknown pool mode {mode!r}")


def pool_commutes(mode, kernel, pad, out_step: int) -> bool:
    """Whether a max pool of a threshold activation's outputs equals the activation of the
    max pool of its inputs (`pooled_activation`): the activation out_base + out_step * count
    is non-decreasing when out_step >= 0, so a window's largest output is the output of its
    largest input; the pool pads with its type's minimum, below or equal to every value in
    either order, and never sets a maximum when every window holds a frame value (each pad
    smaller than the kernel)."""
    kh, kw = kernel
    pt, pl, pb, pr = pad
    return getattr(mode, "value", mode) == "max" and out_step >= 0 and max(pt, pb) < kh and max(pl, pr) < kw


def pooled_activation(acc: np.ndarray, thresholds: np.ndarray, out_base: int, out_step: int,
                      kernel, stride, pad) -> np.ndarray:
    """pool(threshold_activation(acc), "max", kernel, stride, pad), computed as the activation of
    the pooled accumulators (1 / (sh * sw) of the values to threshold); `pool_commutes` must hold."""
    if not pool_commutes("max", kernel, pad, out_step):
        raise ValueError(f"a max pool (kernel {kernel}, pad {pad}) does not commute with an activation of step {out_step}")
    return threshold_activation(pool(acc, "max", kernel, stride, pad), thresholds, out_base, out_step)


# ---------------------------------------------------------------- classification head


def label_select(x: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest values along the last axis, largest first, ties to the lower index."""
    x = np.asarray(x, dtype=np.int64)
    order = np.argsort(-x, axis=-1, kind="stable")
    return order[..., :k].astype(np.int64)


# ---------------------------------------------------------------- branching layers (DAG)


def add_streams(a: np.ndarray, b: np.ndarray, shift_a: int = 0, shift_b: int = 0) -> np.ndarray:
    """(a << shift_a) + (b << shift_b), elementwise and exact (int64): the shifts put two
    streams whose quantization scales differ by a power of two on the finer scale."""
    return (np.asarray(a, dtype=np.int64) << shift_a) + (np.asarray(b, dtype=np.int64) << shift_b)


def concat(xs) -> np.ndarray:
    """The streams' frames side by side along the last (channel) axis, in port order."""
    return np.concatenate([np.asarray(x) for x in xs], axis=-1)


# ---------------------------------------------------------------- depthwise unit (VVAU)


def _depthwise_setup(lo: int, hi: int, weights: np.ndarray) -> tuple[np.ndarray, np.dtype]:
    """(weights as (K, C) in the accumulator's numpy type, that type): the narrowest holding
    max|x| times the largest per-channel sum of |w|, which bounds every product and partial
    sum, and the inputs themselves (they are copied into it)."""
    w = np.asarray(weights, dtype=np.int64)
    top = max(-lo, hi, 0)
    bound = max(top * int(np.abs(w).sum(axis=1).max(initial=0)), top)
    dt = int_dtype(-bound, bound)
    return np.ascontiguousarray(w.T, dtype=dt), dt


def depthwise_matvec(x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Depthwise accumulators: (N, H, W, K*C) windows in (kh, kw, c) order x (C, K) weights ->
    (N, H, W, C), acc[..., c] = sum_k weights[c, k] * x[..., k*C + c].

    Exact: one multiply-add per kernel position over every pixel and channel at once, on the
    narrowest integer type holding the bound of `_depthwise_setup` (so nothing can wrap).
    """
    x = np.asarray(x)
    c, k = np.asarray(weights).shape
    lead = x.shape[:-1]
    if x.shape[-1] != k * c:
        raise ValueError(f"depthwise_matvec: windows of {x.shape[-1]} elements do not match weights (C={c}, K={k})")
    wt, dt = _depthwise_setup(*value_range(x), weights)
    win = x.reshape(-1, k, c)
    acc = np.zeros((len(win), c), dtype=dt)
    tmp = np.empty_like(acc)
    for j in range(k):  # K (kernel positions) passes, each over all pixels
        np.multiply(win[:, j], wt[j], out=tmp, casting="unsafe")
        acc += tmp
    return acc.reshape(lead + (c,))


def depthwise_conv(x: np.ndarray, weights: np.ndarray, kernel, stride, pad, pad_value: int) -> np.ndarray:
    """depthwise_matvec(sliding_window(x), weights) without building the window tensor:
    (N, H, W, C) -> (N, OH, OW, C), one shifted slice of the padded frames per kernel position
    (a row of OW pixels x C channels is one contiguous run at stride 1), times that position's
    weights tiled over the row so numpy's inner loops run over whole rows, not C values
    (measured ~3x faster for C = 32); frames in cache-sized chunks."""
    kh, kw = kernel
    sh, sw = stride
    x = np.asarray(x)
    lo, hi = value_range(x)
    if any(pad):
        lo, hi = min(lo, pad_value), max(hi, pad_value)
    wt, dt = _depthwise_setup(lo, hi, weights)
    if wt.shape != (kh * kw, x.shape[3]):
        raise ValueError(f"depthwise_conv: weights {np.asarray(weights).shape} do not match C={x.shape[3]} "
                         f"and a {kh}x{kw} kernel")
    (pt, pl, pb, pr), (n, h0, w0, c) = pad, x.shape
    h, w = h0 + pt + pb, w0 + pl + pr
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    rows = np.ascontiguousarray(np.broadcast_to(wt[:, None, :], (kh * kw, ow, c)))  # (K, OW, C)
    acc = np.empty((n, oh, ow, c), dtype=dt)
    step = max(1, CHUNK // max(1, oh * ow * c))
    buf = np.full((min(step, n), h, w, c), pad_value, dtype=dt)  # the border keeps the pad value
    for b in range(0, n, step):
        out = acc[b:b + step]
        xb = buf[:len(out)]
        xb[:, pt:pt + h0, pl:pl + w0] = x[b:b + step]
        tmp = np.empty_like(out)
        for j in range(kh * kw):
            i, jj = divmod(j, kw)
            shifted = xb[:, i:i + sh * (oh - 1) + 1:sh, jj:jj + sw * (ow - 1) + 1:sw]  # (n', OH, OW, C)
            if j == 0:
                np.multiply(shifted, rows[0], out=out)
            else:
                np.multiply(shifted, rows[j], out=tmp)
                out += tmp
    return acc
