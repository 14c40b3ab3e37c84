"""What every IR layer computes, once: exact integer numpy functions.

The simulator, the equivalence tests and the golden models of the RTL/HLS blocks all call
these. Arrays are channels-last: a batch of frames is (N, H, W, C); values are integers,
int64 or (results here) the narrowest numpy type holding the layer's proven range.
Nothing here rounds or saturates implicitly: where a result could overflow its declared
type, the caller proves it cannot (see `accumulator_range`).
"""

from __future__ import annotations

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
    y = x / scale + zero_point
    if bits == 1 and signed:
        return np.where(y >= 0.0, 1, -1).astype(dtype)
    lo = np.float32(min_int(signed, narrow, bits))
    hi = np.float32(max_int(signed, narrow, bits))
    y = np.clip(y, lo, hi)
    q = resolve_rounding_mode(rounding)(y)
    return (q - zero_point).astype(dtype)


def quantize_range(bits: int, signed: bool, narrow: bool, zero_point) -> tuple[int, int]:
    """Bounds of every `quantize` result: the clipped q's range minus the zero points
    (a 1-bit signed or bipolar result, +-1, lies inside it)."""
    zp = np.asarray(zero_point, dtype=np.float64)
    lo, hi = int(min_int(signed, narrow, bits)), int(max_int(signed, narrow, bits))
    return min(lo - int(np.ceil(zp.max())), -1), max(hi - int(np.floor(zp.min())), 1)


# ---------------------------------------------------------------- matrix-vector unit


def matvec(x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Accumulators of every input vector: (N, H, W, MW) x (MH, MW) -> (N, H, W, MH).

    Bipolar values are -1/+1 here, so the XNOR-popcount form is the same dot product:
    acc = 2 * popcount(xnor(x_bits, w_bits)) - MW (see `popcount_threshold`).
    """
    x = np.asarray(x)
    w = np.asarray(weights, dtype=np.int64)
    return exact_dot(x, w.T, dot_bound(x, w))


def _max_abs(x: np.ndarray) -> int:
    return int(max(-int(x.min()), int(x.max()))) if x.size else 0


def dot_bound(x: np.ndarray, w: np.ndarray) -> int:
    """max|x| times the largest row sum of |w| (rows: output channels): >= |any partial sum|."""
    w = np.asarray(w, dtype=np.int64).reshape(len(w), -1)
    return _max_abs(np.asarray(x)) * int(np.abs(w).sum(axis=1).max(initial=0))


def int_dtype(lo: int, hi: int) -> np.dtype:
    """The narrowest signed numpy integer type holding every integer in [lo, hi]."""
    for t in (np.int8, np.int16, np.int32):
        if np.iinfo(t).min <= lo and hi <= np.iinfo(t).max:
            return np.dtype(t)
    return np.dtype(np.int64)


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
    integer type holding the values: thresholds are first clipped to [min x, max x + 1],
    which changes no comparison. Few levels: one vectorized compare-and-add per level;
    many: a per-channel lookup table over the values' range (or a per-channel binary
    search when that range is wide). Rows go in cache-sized chunks. The count has the
    narrowest type holding T.
    """
    x = np.asarray(x)
    t = np.asarray(thresholds, dtype=np.int64)
    n_t = t.shape[1]
    cdt = int_dtype(0, n_t)
    if n_t == 0 or x.size == 0:
        return np.zeros(x.shape, dtype=cdt)
    lo, hi = int(x.min()), int(x.max())
    wdt = int_dtype(lo, hi + 1)
    tc = np.clip(t, lo, hi + 1).astype(wdt)
    c = x.shape[-1]
    flat = x.reshape(-1, c)
    out = np.empty(flat.shape, dtype=cdt)
    step = max(1, CHUNK // c)
    if n_t <= 8:  # compare-and-add on the narrow type
        for b in range(0, len(flat), step):
            xb = flat[b:b + step].astype(wdt, copy=False)
            acc = out[b:b + step]
            np.greater_equal(xb, tc[:, 0], out=acc, casting="unsafe")
            for k in range(1, n_t):
                acc += xb >= tc[:, k]
        return out.reshape(x.shape)
    span = hi - lo + 1
    if tc.shape[0] == 1 or span * tc.shape[0] > CHUNK:  # binary search per channel
        for b in range(0, len(flat), step):
            xb = flat[b:b + step]
            if tc.shape[0] == 1:
                out[b:b + step] = np.searchsorted(tc[0], xb, side="right")
            else:
                for ch in range(c):
                    out[b:b + step, ch] = np.searchsorted(tc[ch], xb[:, ch], side="right")
        return out.reshape(x.shape)
    vals = np.arange(lo, hi + 1, dtype=wdt)  # lookup table: lut[ch * span + v - lo] = count
    lut = np.concatenate([np.searchsorted(tc[ch], vals, side="right") for ch in range(c)]).astype(cdt)
    bdt = np.promote_types(np.int32, int_dtype(min(-lo, 0), c * span + abs(lo)))
    base = np.arange(c, dtype=bdt) * span - lo
    for b in range(0, len(flat), step):
        out[b:b + step] = lut[flat[b:b + step] + base]
    return out.reshape(x.shape)


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


def threshold_activation(x: np.ndarray, thresholds: np.ndarray, out_base: int, out_step: int) -> np.ndarray:
    """The activation of MatVec/Threshold: out_base + out_step * multithreshold(x), on the
    narrowest integer type holding every output and every step * count."""
    count = multithreshold(x, thresholds)
    top = out_step * np.asarray(thresholds).shape[1]
    vals = (out_base, out_base + top, 0, top)
    dt = int_dtype(min(vals), max(vals))
    out = count.astype(dt)
    if out_step != 1:
        out *= dt.type(out_step)
    if out_base:
        out += dt.type(out_base)
    return out


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

    Frames go in chunks whose float im2col block (a copy of the strided window view) fits
    in cache, each then one BLAS matmul: overlapping windows are not a BLAS-strided matrix,
    and per-offset matmuls on views measured slower on this 2-core machine. Float only
    where `dot_bound` proves the sums exact, else int64; the result has the narrowest type
    holding the bound. Tested equal to the composition.
    """
    kh, kw = kernel
    sh, sw = stride
    x = pad_frames(np.asarray(x), pad, pad_value)
    n, h, w, c = x.shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    wk = np.asarray(weights, dtype=np.int64).reshape(-1, kh, kw, c)
    bound = dot_bound(x, wk)
    ftype = exact_ftype(bound)
    if ftype is None:
        return matvec(sliding_window(x, kernel, stride, (0, 0, 0, 0), pad_value), weights)
    wt = wk.reshape(wk.shape[0], -1).T.astype(ftype)  # (kh*kw*C, MH), columns (kh, kw, c)
    acc = np.empty((n, oh, ow, wk.shape[0]), dtype=int_dtype(-bound, bound))
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
        x = x if x.dtype.kind == "i" else x.astype(np.int64)
        win = _windows(pad_frames(x, pad, np.iinfo(x.dtype).min), kernel, stride)
        return win.max(axis=(3, 4))
    if mode == "sum":
        win = _windows(pad_frames(x.astype(np.int64), pad, 0), kernel, stride)
        return win.sum(axis=(3, 4))
    raise ValueError(f"unknown pool mode {mode!r}")


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
