"""What every IR layer computes, once: exact integer numpy functions.

The simulator, the equivalence tests and the golden models of the RTL/HLS blocks all call
these. Arrays are channels-last: a batch of frames is (N, H, W, C); values are int64.
Nothing here rounds or saturates implicitly: where a result could overflow its declared
type, the caller proves it cannot (see `accumulator_range`).
"""

from __future__ import annotations

import numpy as np
from qonnx.custom_op.general.quant import max_int, min_int, resolve_rounding_mode

# ---------------------------------------------------------------- host-side input quantizer


def quantize(x: np.ndarray, scale, zero_point, bits: int, signed: bool, narrow: bool,
             rounding: str = "ROUND", bipolar: bool = False) -> np.ndarray:
    """Float -> integer exactly as qonnx's Quant/BipolarQuant: returns q - zero_point (int64).

    qonnx clips first, then rounds (`int_quant`); a 1-bit signed Quant and BipolarQuant give
    +1 for x >= 0 and -1 otherwise. Rounding "ROUND" is half-to-even (np.round).
    """
    x = np.asarray(x, dtype=np.float32)
    scale = np.asarray(scale, dtype=np.float32)
    zero_point = np.asarray(zero_point, dtype=np.float32)
    if bipolar:
        return np.where(x / scale >= 0, 1, -1).astype(np.int64)
    y = x / scale + zero_point
    if bits == 1 and signed:
        return np.where(y >= 0.0, 1, -1).astype(np.int64)
    lo = np.float32(min_int(signed, narrow, bits))
    hi = np.float32(max_int(signed, narrow, bits))
    y = np.clip(y, lo, hi)
    q = resolve_rounding_mode(rounding)(y)
    return (q - zero_point).astype(np.int64)


# ---------------------------------------------------------------- matrix-vector unit


def matvec(x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Accumulators of every input vector: (N, H, W, MW) x (MH, MW) -> (N, H, W, MH).

    Bipolar values are -1/+1 here, so the XNOR-popcount form is the same dot product:
    acc = 2 * popcount(xnor(x_bits, w_bits)) - MW (see `popcount_threshold`).
    """
    x = np.asarray(x)
    w = np.asarray(weights, dtype=np.int64)
    return exact_dot(x, w.T, _max_abs(x) * int(np.abs(w).sum(axis=1).max(initial=0)))


def _max_abs(x: np.ndarray) -> int:
    return int(np.abs(x).max(initial=0)) if x.size else 0


def exact_dot(x: np.ndarray, w_t: np.ndarray, bound: int) -> np.ndarray:
    """x @ w_t on integers, exactly, through float BLAS where the sums cannot round.

    `bound` >= |any partial sum| (sum of |w| times max |x|). Every integer below 2**24
    (float32) or 2**53 (float64) is exact, and so is every partial sum, in any order.
    """
    if bound < 2**24:
        return (x.astype(np.float32) @ w_t.astype(np.float32)).astype(np.int64)
    if bound < 2**53:
        return (x.astype(np.float64) @ w_t.astype(np.float64)).astype(np.int64)
    return np.asarray(x, dtype=np.int64) @ np.asarray(w_t, dtype=np.int64)


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

    count = #{t : x >= t}; thresholds sorted ascending per channel.
    """
    return _count_reached(np.asarray(x, dtype=np.int64), np.asarray(thresholds, dtype=np.int64))


def float_multithreshold(x: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """`multithreshold` on float32 values and thresholds: the input quantizer in threshold form.

    Exact for finite x (a NaN input has no defined level)."""
    return _count_reached(np.asarray(x, dtype=np.float32), np.asarray(thresholds, dtype=np.float32))


def _count_reached(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    if t.shape[1] == 0:
        return np.zeros(x.shape, dtype=np.int64)
    if t.shape[0] == 1:
        return np.searchsorted(t[0], x, side="right").astype(np.int64)
    if t.shape[1] <= 16:  # few levels: one vectorized comparison per level
        count = np.zeros(x.shape, dtype=np.int64)
        for k in range(t.shape[1]):
            count += x >= t[:, k]
        return count
    flat = x.reshape(-1, x.shape[-1])
    out = np.empty(flat.shape, dtype=np.int64)
    for c in range(flat.shape[1]):  # searchsorted per channel: O(N log T), fast for T = 255
        out[:, c] = np.searchsorted(t[c], flat[:, c], side="right")
    return out.reshape(x.shape)


def threshold_activation(x: np.ndarray, thresholds: np.ndarray, out_base: int, out_step: int) -> np.ndarray:
    """The activation of MatVec/Threshold: out_base + out_step * multithreshold(x)."""
    return out_base + out_step * multithreshold(x, thresholds)


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
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))  # N, OH', OW', C, kh, kw
    win = win[:, ::sh, ::sw]
    return np.moveaxis(win, 3, 5)  # N, OH, OW, kh, kw, C


def sliding_window(x: np.ndarray, kernel, stride, pad, pad_value: int) -> np.ndarray:
    """im2col: (N, H, W, C) -> (N, OH, OW, kh*kw*C), window order (kh, kw, c)."""
    x = pad_frames(np.asarray(x, dtype=np.int64), pad, pad_value)
    win = _windows(x, kernel, stride)
    n, oh, ow = win.shape[:3]
    return win.reshape(n, oh, ow, -1)


def conv_matvec(x: np.ndarray, weights: np.ndarray, kernel, stride, pad, pad_value: int) -> np.ndarray:
    """matvec(sliding_window(x), weights) without building the im2col tensor.

    One matmul per kernel offset (kh, kw) on strided views: the same integers, far less
    memory for a batch of feature maps. Tested equal to the composition.
    """
    kh, kw = kernel
    sh, sw = stride
    x = pad_frames(np.asarray(x), pad, pad_value)
    n, h, w, c = x.shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    wk = np.asarray(weights, dtype=np.int64).reshape(-1, kh, kw, c)
    bound = _max_abs(x) * int(np.abs(wk).reshape(wk.shape[0], -1).sum(axis=1).max(initial=0))
    ftype = np.float32 if bound < 2**24 else (np.float64 if bound < 2**53 else None)
    if ftype is None:
        return matvec(sliding_window(x, kernel, stride, (0, 0, 0, 0), pad_value), weights)
    wt = wk.reshape(wk.shape[0], -1).T.astype(ftype)  # (kh*kw*C, MH), columns (kh, kw, c)
    acc = np.empty((n, oh, ow, wk.shape[0]), dtype=np.int64)
    step = max(1, (1 << 26) // max(1, oh * ow * kh * kw * c))  # ~256 MB of float32 im2col per chunk
    for b in range(0, n, step):
        win = _windows(x[b:b + step].astype(ftype), kernel, stride)  # (n', OH, OW, kh, kw, C) view
        cols = win.reshape(win.shape[0], oh, ow, -1)  # one copy, then a single BLAS matmul
        acc[b:b + step] = cols @ wt
    return acc


def pool(x: np.ndarray, mode: str, kernel, stride, pad) -> np.ndarray:
    """Max or sum over windows per channel: (N, H, W, C) -> (N, OH, OW, C).

    Max pads with the int64 minimum (acts as -inf, like ONNX MaxPool); sum pads with 0.
    """
    x = np.asarray(x, dtype=np.int64)
    mode = getattr(mode, "value", mode)
    if mode == "max":
        win = _windows(pad_frames(x, pad, np.iinfo(np.int64).min), kernel, stride)
        return win.max(axis=(3, 4))
    if mode == "sum":
        win = _windows(pad_frames(x, pad, 0), kernel, stride)
        return win.sum(axis=(3, 4))
    raise ValueError(f"unknown pool mode {mode!r}")


# ---------------------------------------------------------------- classification head


def label_select(x: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest values along the last axis, largest first, ties to the lower index."""
    x = np.asarray(x, dtype=np.int64)
    order = np.argsort(-x, axis=-1, kind="stable")
    return order[..., :k].astype(np.int64)
