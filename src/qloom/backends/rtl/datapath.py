"""How qloom_mvtu computes a MatVec: the dot-product scheme, term and accumulator widths,
and the thresholds in the accumulator's own domain. The RTL generator builds exactly this
and the resource model costs exactly this, so estimate and build agree.

Schemes (`Dot`, the RTL's DOT parameter), first match wins:

    POPCOUNT  bipolar x bipolar          acc = #(x xnor w); thresholds ceil((t + MW) / 2)
    PAIRED    bipolar weights, thresholds, PE >= 4: MASKED over lane pairs, x0 + x1 and
              x0 - x1 shared by the PEs (each PE selects one per pair)
    MASKED    bipolar weights, thresholds  leaf = x or ~x = -x - 1 (a free complement)
    TABLE     IN_BITS + W_BITS <= 6        exact product from a constant table
    POW2      2-bit signed weights, thresholds  leaf = x, 0, ~x or ~(2x)
    SHIFTADD  a bipolar operand, or one <= 4 bits: exact, in LUTs
    DSP       wider products: one `*` per lane

MASKED, PAIRED and POW2 terms are short of the product by a constant per weight, and a MASKED
tree adds one per node whose leftmost leaf is not complemented (qloom_sum_tree) and one per
accumulated step. All of it depends on the weights only, so for each output row the sum of
those constants, K(row), is added to the row's thresholds: acc_rtl = acc + K(row), and
acc >= t  <=>  acc_rtl >= t + K(row). Without thresholds there is no place for a per-row
constant, so those two schemes need thresholds. Thresholds are first clipped into the
accumulator range [lo, hi + 1] (no comparison changes), so the stored values stay small.

A depthwise unit (qloom_vvau) computes each channel's accumulator like one MatVec row of
length K, SIMD lanes per step: `depthwise_rows` is that (C x K) MatVec, so the schemes,
widths and threshold rows here apply to it unchanged (PAIRED never: no lanes to share).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from qloom import semantics as sem
from qloom.hw import clip_thresholds
from qloom.ir import DepthwiseMatVec, IntType, MatVec


class Dot(enum.IntEnum):
    POPCOUNT = 0
    MASKED = 1
    TABLE = 2
    POW2 = 3
    SHIFTADD = 4
    DSP = 5
    PAIRED = 6


TABLE_MAX_BITS = 6  # a LUT6 per product bit
LUT_MUL_MAX_BITS = 4  # qloom_mvtu_leaf shift-add when an operand is this narrow
PAIRED_MIN_PE = 4  # the shared pair sums (~2 LUT per input bit) pay off from 4 PEs


def dot_scheme(l: MatVec) -> Dot:
    """The RTL's dot-product scheme for a MatVec (its types and whether it has thresholds)."""
    w, x = l.w_dtype, l.in_dtype
    thresholds = l.thresholds is not None
    if l.binary:
        return Dot.POPCOUNT
    if w.bipolar and thresholds:
        return Dot.PAIRED if l.pe >= PAIRED_MIN_PE and l.simd >= 2 else Dot.MASKED
    if w.bits + x.bits <= TABLE_MAX_BITS:
        return Dot.TABLE
    if thresholds and w.signed and not w.bipolar and w.bits == 2 and not x.bipolar:
        return Dot.POW2
    if w.bipolar or x.bipolar or min(w.bits, x.bits) <= LUT_MUL_MAX_BITS:
        return Dot.SHIFTADD
    return Dot.DSP


def leaf_bits(l: MatVec, dot: Dot | None = None) -> int:
    """Signed width of one lane's term in the sum tree (unused for POPCOUNT)."""
    dot = dot_scheme(l) if dot is None else dot
    x = l.in_dtype
    if dot is Dot.MASKED:  # x and ~x = -x - 1
        return x.bits + (0 if x.signed else 1)
    if dot is Dot.PAIRED:  # x0 + x1, x0 - x1 and their complements
        return x.bits + (1 if x.signed else 2)
    if dot is Dot.POW2:  # ~(2x) = -2x - 1
        return x.bits + (1 if x.signed else 2)
    ends = [a * b for a in (x.min, x.max) for b in (l.w_dtype.min, l.w_dtype.max)]
    return IntType.for_range(min(min(ends), -1), max(ends)).bits


_RANGES: dict[tuple, tuple[np.ndarray, tuple[int, int]]] = {}


def _acc_range(l: MatVec) -> tuple[int, int]:
    """(lo, hi) of the true accumulator (bipolar x bipolar: of 2p - MW). Cached per weight
    array: refoldings share it, and the folding search asks for every candidate."""
    if l.binary:
        return -l.mw, l.mw
    key = (id(l.weights), l.in_dtype.min, l.in_dtype.max)
    hit = _RANGES.get(key)
    if hit is None or hit[0] is not l.weights:
        if len(_RANGES) > 256:
            _RANGES.clear()
        hit = _RANGES[key] = (l.weights, sem.accumulator_range(l.weights, l.in_dtype.min, l.in_dtype.max))
    return hit[1]


def acc_type(l: MatVec, dot: Dot | None = None) -> IntType:
    """Signed type of the RTL accumulator and of every stored threshold (ACC_BITS).

    Covers the accumulator, thresholds clipped to one above it, and the per-row constants
    (|K| <= MW: one per lane at most), so it is the same at every folding.
    """
    dot = dot_scheme(l) if dot is None else dot
    lo, hi = _acc_range(l)
    if dot is Dot.POPCOUNT:
        lo, hi = min(lo, 0), max(hi, l.mw)
    elif dot in (Dot.MASKED, Dot.PAIRED, Dot.POW2):
        lo, hi = lo - l.mw, hi + l.mw
    return IntType.for_range(min(lo, -1), hi + 1)


def masked_tree_ones(plus: np.ndarray) -> np.ndarray:
    """qloom_sum_tree's MASKED excess: per leading index, the number of internal nodes whose
    leftmost leaf has mask 0 (`plus` True), for the tree over the last axis (left half =
    ceil(n/2) leaves, as the RTL splits)."""
    plus = np.asarray(plus, dtype=np.int64)

    def count(lo: int, n: int) -> np.ndarray:
        if n == 1:
            return np.zeros(plus.shape[:-1], dtype=np.int64)
        nl = (n + 1) // 2
        return plus[..., lo] + count(lo, nl) + count(lo + nl, n - nl)

    return count(0, plus.shape[-1])


def row_constants(l: MatVec, dot: Dot | None = None) -> np.ndarray:
    """K(row): what the RTL accumulator holds beyond the true accumulator, per output row."""
    dot = dot_scheme(l) if dot is None else dot
    w = np.asarray(l.weights, dtype=np.int64)
    if dot in (Dot.MASKED, Dot.PAIRED):
        sf = l.mw // l.simd
        lanes = w.reshape(l.mh, sf, l.simd)
        # a leaf's mask is its (first) lane's weight: every lane, or lanes 0, 2, 4, ... in pairs
        first = lanes if dot is Dot.MASKED else lanes[:, :, ::2]
        tree = masked_tree_ones(first > 0).sum(axis=1)  # per row, over its SF steps
        return tree + sf - (first < 0).sum(axis=(1, 2))  # + 1 per step, - 1 per complemented leaf
    if dot is Dot.POW2:
        return -(w < 0).sum(axis=1)
    return np.zeros(l.mh, dtype=np.int64)


@dataclass(frozen=True)
class Thresholds:
    """Thresholds as the RTL stores them: (MH, T) in the accumulator domain, plus the
    encoded output map (out = base + step * count)."""

    rows: np.ndarray
    base: int
    step: int


def rtl_thresholds(l: MatVec, dot: Dot | None = None) -> Thresholds | None:
    """The RTL's threshold rows (None without thresholds). A layer with zero thresholds
    (a constant output) gets one never-reached threshold and step 0."""
    if l.thresholds is None:
        return None
    dot = dot_scheme(l) if dot is None else dot
    lo, hi = _acc_range(l)
    t = np.asarray(l.thresholds, dtype=np.int64)
    step = l.out_step
    if dot is Dot.POPCOUNT:
        t, lo, hi = sem.popcount_threshold(t, l.mw), 0, l.mw
    if t.shape[1] == 0:
        t, step = np.full((1, 1), hi + 1), 0
    t = np.broadcast_to(t, (l.mh, t.shape[1])) if t.shape[0] == 1 else t
    t = clip_thresholds(t, lo, hi) + row_constants(l, dot)[:, None]
    return Thresholds(t, l.out_base, step)


def n_thresholds(l: MatVec) -> int:
    """Thresholds per row the RTL stores (0 without thresholds, at least 1 with)."""
    return 0 if l.thresholds is None else max(1, l.thresholds.shape[1])


_LANES: dict[tuple, tuple[MatVec, dict[str, int]]] = {}


def _varying_columns(words: np.ndarray, bits: int) -> int:
    """Bit columns of a ROM image (words, elements) of `bits`-bit codes that are not the
    same in every word."""
    if words.shape[0] <= 1:
        return 0
    b = (words[..., None] >> np.arange(bits, dtype=np.uint64)) & np.uint64(1)
    return int(np.count_nonzero(np.any(b != b[:1], axis=0)))


def rom_lanes(l: MatVec) -> dict[str, int]:
    """Varying bit columns of the weight and threshold ROM images qloom_mvtu gets (Yosys
    drops constant columns). Cached per weights/thresholds and folding."""
    key = (id(l.weights), id(l.thresholds), l.in_dtype, l.pe, l.simd)
    hit = _LANES.get(key)
    if hit is not None and hit[0].weights is l.weights and hit[0].thresholds is l.thresholds:
        return hit[1]
    nf, sf = l.mh // l.pe, l.mw // l.simd
    enc = l.w_dtype.encode(l.weights).reshape(nf, l.pe, sf, l.simd).transpose(0, 2, 1, 3)
    out = {"weights": _varying_columns(enc.reshape(nf * sf, l.pe * l.simd), l.w_dtype.bits), "thresholds": 0}
    thr = rtl_thresholds(l)
    if thr is not None:
        acc = acc_type(l)
        codes = acc.encode(thr.rows).reshape(nf, l.pe * thr.rows.shape[1])
        out["thresholds"] = _varying_columns(codes, acc.bits)
    if len(_LANES) > 256:
        _LANES.clear()
    _LANES[key] = (l, out)
    return out


_ROWS: dict[tuple, tuple[DepthwiseMatVec, MatVec]] = {}


def depthwise_rows(l: DepthwiseMatVec) -> MatVec:
    """The depthwise unit's arithmetic as the (C x K) MatVec of its channel rows over one
    vector, SIMD lanes per step and PE = 1 (so `dot_scheme` never picks PAIRED). Cached per
    layer fields (the folding search asks for every candidate)."""
    key = (id(l.weights), id(l.thresholds), l.in_dtype, l.w_dtype, l.acc_dtype, l.out_base, l.out_step, l.simd)
    hit = _ROWS.get(key)
    if hit is not None and hit[0].weights is l.weights and hit[0].thresholds is l.thresholds:
        return hit[1]
    rows = MatVec(name=l.name, in_shape=(1, 1, l.k), in_dtype=l.in_dtype, weights=l.weights, w_dtype=l.w_dtype,
                  acc_dtype=l.acc_dtype, thresholds=l.thresholds, out_base=l.out_base, out_step=l.out_step,
                  simd=l.simd)
    if len(_ROWS) > 256:
        _ROWS.clear()
    _ROWS[key] = (l, rows)
    return rows


def depthwise_weight_words(l: DepthwiseMatVec) -> np.ndarray:
    """qloom_vvau's weight ROM as (KF*CF, PE*SIMD) codes: word kf*CF + cf holds channel
    cf*PE + p at kernel position kf*SIMD + s as element p*SIMD + s."""
    cf, kf = l.channels // l.pe, l.k // l.simd
    enc = l.w_dtype.encode(l.weights).reshape(cf, l.pe, kf, l.simd)
    return enc.transpose(2, 0, 1, 3).reshape(kf * cf, l.pe * l.simd)


def _distinct_columns(words: np.ndarray, bits: int) -> int:
    """Distinct bit columns of a ROM image that are not constant: Yosys merges equal columns
    (one register and LUT each), so a ROM of d words has at most 2**d - 2 of them."""
    if words.shape[0] <= 1:
        return 0
    b = ((words[..., None] >> np.arange(bits, dtype=np.uint64)) & np.uint64(1)).reshape(len(words), -1)
    cols = np.unique(b[:, np.any(b != b[:1], axis=0)], axis=1)
    return int(cols.shape[1])


def depthwise_rom_lanes(l: DepthwiseMatVec) -> dict[str, int]:
    """Distinct varying bit columns of qloom_vvau's weight and threshold ROM images (what Yosys
    keeps of them: constant columns dropped, equal ones merged; a shallow threshold ROM of
    many thresholds is mostly duplicates). Cached per weights/thresholds and folding."""
    key = (id(l.weights), id(l.thresholds), l.in_dtype, l.pe, l.simd, "dw")
    hit = _LANES.get(key)
    if hit is not None and hit[0].weights is l.weights and hit[0].thresholds is l.thresholds:
        return hit[1]
    rows = depthwise_rows(l)
    out = {"weights": _distinct_columns(depthwise_weight_words(l), l.w_dtype.bits), "thresholds": 0}
    thr = rtl_thresholds(rows)
    if thr is not None:
        acc = acc_type(rows)
        codes = acc.encode(thr.rows).reshape(l.channels // l.pe, l.pe * thr.rows.shape[1])
        out["thresholds"] = _distinct_columns(codes, acc.bits)
    if len(_LANES) > 256:
        _LANES.clear()
    _LANES[key] = (l, out)
    return out
