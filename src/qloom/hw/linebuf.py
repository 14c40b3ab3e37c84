"""How many input rows the sliding window's ring buffer holds (qloom_swg ROWS), so that a frame
still costs max(input words, output words) clocks.

qloom_swg keeps the last ROWS input rows in a ring (ROWS * W * C/SIMD words per KPAR lane; at
MMV > 1 a row is W/MMV words, each lane's copy holds one of MMV column banks).
Handover is per row: the writer takes a row's slot at its first word when fewer than ROWS
slots are in use; output row j of a frame is read once input rows 0..need(j)-1 of that frame
are complete (need(j) = min(H, j*SH - PT + max(KH, SH)), the last output row waits for all
H rows), and its last word frees the rows below the next output row's first one (the last
output row frees the rest of the frame). At ROWS = 2H this is at least the old double
buffer of two frames (its handover was per frame), so 2H is the cap.

`ring_rows` picks the smallest ROWS whose row-level schedule (`frame_period`, exact at full
rate: the core issues a word per clock and sees a handover the clock after it) keeps the
period at max(input, output) words for a producer and a consumer paced at 1, the layer's own
rate or half of it (a paced neighbour that was stalled resumes at its pace, it does not
burst): a line buffer next to a slower layer must not stretch the pipeline's II.
"""

from __future__ import annotations

import functools
import math

MIN_SLACK = 1  # rows beyond the deadlock-free minimum KH + SH - 1


@functools.lru_cache(maxsize=4096)
def _rows_plan(h: int, oh: int, kh: int, sh: int, pt: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(need(j), freed rows of the frame after output row j) for j = 0..OH-1."""
    need = [min(h, max(0, j * sh - pt + max(kh, sh))) for j in range(oh)]
    need[-1] = h
    lo = [min(h, max(0, j * sh - pt)) for j in range(1, oh)] + [h]
    return tuple(need), tuple(lo)


def frame_period(rows: int, h: int, oh: int, kh: int, sh: int, pt: int, row_words: int, out_row_words: int,
                 a: float = 1.0, b: float = 1.0, frames: int = 8) -> float:
    """Steady-state clocks per frame of the ring at `rows` (inf: deadlock), input rows of
    `row_words` words at `a` clocks per word, output rows of `out_row_words` at `b`."""
    need, lo = _rows_plan(h, oh, kh, sh, pt)
    n_w, n_r = frames * h, frames * oh
    w_end = [0.0] * n_w
    r_end = [0.0] * n_r
    freed = [0] * n_r  # rows of the stream freed after reader row J
    gw = jr = 0
    tw = tr = 0.0
    while jr < n_r:
        progressed = False
        if gw < n_w:  # writer row gw needs freed >= gw - rows + 1
            k = gw - rows + 1
            t_free = None
            if k <= 0:
                t_free = 0.0
            elif jr > 0 and freed[jr - 1] >= k:
                t_free = r_end[_first_reader(freed, jr, k)]
            if t_free is not None:
                tw = max(tw, t_free) + row_words * a
                w_end[gw] = tw
                gw += 1
                progressed = True
        f, j = divmod(jr, oh)
        g = f * h + need[j] - 1  # the last input row it needs
        if g < gw:
            tr = max(tr, w_end[g] if g >= 0 and need[j] > 0 else 0.0) + out_row_words * b
            r_end[jr] = tr
            freed[jr] = f * h + lo[j]
            jr += 1
            progressed = True
        if not progressed:
            return math.inf
    ends = [r_end[(f + 1) * oh - 1] for f in range(frames)]
    return (ends[-1] - ends[-3]) / 2


def _first_reader(freed: list[int], n: int, k: int) -> int:
    """First reader row J < n with freed[J] >= k (freed is non-decreasing)."""
    lo, hi = 0, n - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if freed[mid] >= k:
            hi = mid
        else:
            lo = mid + 1
    return lo


def ring_rows_for(h: int, oh: int, kh: int, sh: int, pt: int, row_words: int, out_row_words: int) -> int:
    """Smallest ring (rows) whose period is max(input, output words) for every pacing in the
    module doc; 2H when none smaller does. The schedule scales with the row lengths, so only
    their ratio matters (fewer distinct searches while a folding tries SIMD and KPAR)."""
    g = math.gcd(row_words, out_row_words)
    return _ring_rows(h, oh, kh, sh, pt, row_words // g, out_row_words // g)


@functools.lru_cache(maxsize=4096)
def _ring_rows(h: int, oh: int, kh: int, sh: int, pt: int, row_words: int, out_row_words: int) -> int:
    i, o = h * row_words, oh * out_row_words
    p = max(i, o)
    paces = [(a, b) for a in (1.0, p / i, 2 * p / i) for b in (1.0, p / o, 2 * p / o)]

    def ok(r: int) -> bool:
        return all(frame_period(r, h, oh, kh, sh, pt, row_words, out_row_words, a, b) <= max(i * a, o * b) * (1 + 1e-9)
                   for a, b in paces)

    lo, cap = kh + sh - 1 + MIN_SLACK, 2 * h
    if lo >= cap:
        return cap
    step, prev, r = 1, lo - 1, lo  # galloping search: the answer is usually a few rows above lo
    while not ok(r):
        if r == cap:
            return cap
        prev, r, step = r, min(cap, r + step), 2 * step
    lo, hi = prev + 1, r  # the schedule only improves with more rows: not ok(prev), ok(r)
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def ring_rows(layer) -> int:
    """ROWS of a SlidingWindow's qloom_swg ring at its current folding."""
    h, w, c = layer.in_shape
    oh, ow, _ = layer.out_shape
    (kh, kw), (sh, _), (pt, _, _, _) = layer.kernel, layer.stride, layer.pad
    cf, m = c // layer.simd, layer.mmv  # MMV: a word is m pixels in, m windows out
    return ring_rows_for(h, oh, kh, sh, pt, w * cf // m, ow * kh * kw * cf // (layer.kpar * m))
