"""Random MatVec layers, the one builder the tests and benches share.

Weights are uniform over their type (bipolar: -1/+1), drawn first; then thresholds, sorted
per row, uniform over a window of the exact accumulator range [lo, hi] that `spread` names
(a test that needs every output level to occur wants them near the middle; one that checks
clipping wants some outside the range):

    exact      [lo, hi]            middle   mid +- (hi - lo) // 3
    reachable  [lo, hi + 1]        zero     0 +- (hi - lo) // 8  (near the typical accumulator)
    beyond     [lo - 2, hi + 2]
"""

from __future__ import annotations

import numpy as np

from qloom import semantics as sem
from qloom.ir import IntType, MatVec, MemStyle


def random_values(rng: np.random.Generator, t: IntType, shape) -> np.ndarray:
    """Uniform random values of IntType `t` (bipolar: -1/+1)."""
    if t.bipolar:
        return rng.choice([-1, 1], size=shape)
    return rng.integers(t.min, t.max + 1, size=shape)


def _window(spread: str, lo: int, hi: int) -> tuple[int, int]:
    """[a, b) thresholds are drawn from."""
    if spread == "exact":
        return lo, hi + 1
    if spread == "reachable":
        return lo, hi + 2
    if spread == "beyond":
        return lo - 2, hi + 3
    if spread == "middle":
        mid, span = (lo + hi) // 2, max(1, (hi - lo) // 3)
        return mid - span, mid + span + 1
    if spread == "zero":
        span = max(1, (hi - lo) // 8)
        return -span, span + 1
    raise ValueError(f"unknown threshold spread {spread!r}")


def random_matvec(rng: np.random.Generator, name: str, in_shape, in_dtype: IntType, w_dtype: IntType, mh: int,
                  n_thr: int | None = None, *, spread: str = "reachable", shared: bool = False,
                  acc_with_zero: bool = False, out_base: int = 0, out_step: int = 1, pe: int = 1, simd: int = 1,
                  mem_style: MemStyle = MemStyle.AUTO) -> MatVec:
    """A MatVec over `in_shape` (H, W, MW) to `mh` rows: random weights, and `n_thr` random
    thresholds per row (one shared row if `shared`; None: it outputs accumulators).
    acc_dtype covers the accumulator range (and 0 if `acc_with_zero`)."""
    w = random_values(rng, w_dtype, (mh, in_shape[2]))
    lo, hi = sem.accumulator_range(w, in_dtype.min, in_dtype.max)
    thr = None
    if n_thr is not None:
        a, b = _window(spread, lo, hi)
        thr = np.sort(rng.integers(a, b, size=(1 if shared else mh, n_thr)), axis=1)
    acc = IntType.for_range(min(lo, 0), max(hi, 0)) if acc_with_zero else IntType.for_range(lo, hi)
    return MatVec(name=name, in_shape=tuple(in_shape), in_dtype=in_dtype, weights=w, w_dtype=w_dtype, acc_dtype=acc,
                  thresholds=thr, out_base=out_base, out_step=out_step, pe=pe, simd=simd, mem_style=mem_style)
