"""The stream interface of a folded layer, computed once: what its cost model, the cycle
model and every emitter read (so the Pool cycle formula, the FIFO rule, in_par/out_par and
the threshold compare width each have one home).

Per frame, with the layer's folding (PE, SIMD):

    kind           in_par  out_par  cycles
    MatVec         SIMD*MMV PE*MMV  vectors/MMV * (MH/PE) * (MW/SIMD)  vectors = H*W of the input
    DepthwiseMatVec PE*SIMD PE      vectors * (C/PE) * (K/SIMD)        every input word once
    SlidingWindow  SIMD*MMV SIMD*KPAR*MMV  max(input words, output words)
    Pool           PE      PE       max(H * XCOLS, YROWS * OW) * C/PE (*)
    Threshold      PE      PE       H*W*C/PE
    LabelSelect    1       1        C                                  one element per cycle
    Fork           PE      PE       H*W*C/PE                           every output, each word once
    AddStreams     PE      PE       H*W*C/PE                           both ports together
    Concat         PE      PE       H*W*sum(C_i)/PE                    in_words: all ports together
    InputQuant     1       1        0                                  host side

MMV (output pixels per cycle, `ops.MatVec.mmv_choices`, `ops.SlidingWindow.mmv_choices`) is
legal only where a word of MMV pixels is plain stream order: a MatVec at PE = MH, SIMD = MW
(MMV vectors per word against one weight read), a window at SIMD = C, KPAR = KH*KW (MMV input
pixels and MMV whole windows per word). At MMV = 1 every row above is as before.

A SlidingWindow's qloom_swg keeps a ring of `linebuf.ring_rows` input rows, chosen so its
cycles stay max(input words, output words) (the row-level schedule in qloom.hw.linebuf).

(*) a pool walks virtual columns/rows for windows that end in right/bottom padding: XCOLS,
YROWS are the real ones plus those up to the last window end, so without padding this is
the input words H*W*C/PE.

Bursts (for FIFO sizing): a MatVec with NF = MH/PE > 1 takes a whole input vector (SF =
MW/SIMD words) back to back, then idles while the further row folds replay it; a pool
emits one row of windows (OW*C/PE words) at once, then nothing while rows end no window;
a depthwise unit with KF = K/SIMD > 1 emits a pixel's CF = C/PE words on its last kernel
fold, back to back, then nothing for (KF-1)*CF cycles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qloom.ir import (AddStreams, Concat, DepthwiseMatVec, Fork, InputQuant, IntType, LabelSelect, Layer, MatVec, Pool,
                      SlidingWindow, Threshold)

FIFO_SLACK = 2  # words beyond burst + block in every inter-layer FIFO
FIFO_MIN_FILL = 2  # ... and at least this many before the slack


@dataclass(frozen=True)
class LayerInterface:
    """Elements per word in and out, words per frame in and out, clocks per frame (neither
    starved nor stalled), the input burst and the output block (see the module doc)."""

    in_par: int
    out_par: int
    in_words: int
    out_words: int
    cycles: int
    in_burst: int = 1
    out_block: int = 1


def _pool_walk(l: Pool) -> tuple[int, int]:
    """(XCOLS, YROWS): columns/rows a qloom_pool pass walks, virtual ones included."""
    h, w, _ = l.in_shape
    oh, ow, _ = l.out_shape
    (kh, kw), (sh, sw), (pt, pl, _, _) = l.kernel, l.stride, l.pad
    return max(w, (ow - 1) * sw + kw - pl), max(h, (oh - 1) * sh + kh - pt)


def interface(layer: Layer) -> LayerInterface:
    """The stream interface of one layer at its current folding."""
    h, w, c = layer.in_shape
    if isinstance(layer, MatVec):
        nf, sf, m = layer.mh // layer.pe, layer.mw // layer.simd, layer.mmv
        v = layer.vectors // m  # words of m vectors
        return LayerInterface(layer.simd * m, layer.pe * m, v * sf, v * nf, v * nf * sf, in_burst=sf if nf > 1 else 1)
    if isinstance(layer, DepthwiseMatVec):
        cf, kf = layer.channels // layer.pe, layer.k // layer.simd
        v = layer.vectors
        return LayerInterface(layer.pe * layer.simd, layer.pe, v * kf * cf, v * cf, v * kf * cf,
                              out_block=cf if kf > 1 else 1)
    if isinstance(layer, SlidingWindow):
        oh, ow, oc = layer.out_shape  # oc = kh*kw*C
        m = layer.mmv
        par = layer.simd * layer.kpar * m
        i, o = h * w * c // (layer.simd * m), oh * ow * oc // par
        return LayerInterface(layer.simd * m, par, i, o, max(i, o))
    if isinstance(layer, Pool):
        oh, ow, _ = layer.out_shape
        cf = c // layer.pe
        xcols, yrows = _pool_walk(layer)
        return LayerInterface(layer.pe, layer.pe, h * w * cf, oh * ow * cf, max(h * xcols, yrows * ow) * cf,
                              out_block=ow * cf)
    if isinstance(layer, Threshold):
        words = h * w * c // layer.pe
        return LayerInterface(layer.pe, layer.pe, words, words, words)
    if isinstance(layer, LabelSelect):
        return LayerInterface(1, 1, c, layer.k, c)
    if isinstance(layer, (Fork, AddStreams, Concat)):
        words = h * w * layer.out_shape[2] // layer.pe
        return LayerInterface(layer.pe, layer.pe, words, words, words)
    if isinstance(layer, InputQuant):
        n = h * w * c
        return LayerInterface(1, 1, n, n, 0)
    raise NotImplementedError(f"no hardware interface for {layer.kind}")


def port_words(layer: Layer) -> tuple[int, ...]:
    """Words per frame on each input port (a Concat's ports carry their own channels)."""
    if isinstance(layer, Concat):
        h, w, _ = layer.in_shape
        return tuple(h * w * c // layer.pe for c in layer.channels)
    return (interface(layer).in_words,) * len(layer.in_shapes)


def layer_cycles(layer: Layer) -> int:
    """Cycles one frame occupies this layer (its initiation interval alone)."""
    return interface(layer).cycles


def fifo_depth(consumer: LayerInterface, producer_block: int = 1) -> int:
    """Words of the FIFO in front of a consumer: its input burst plus the producer's output
    block (1 for the DMA input converter), at least 2, plus 2 words of slack."""
    return max(consumer.in_burst + producer_block, FIFO_MIN_FILL) + FIFO_SLACK


def threshold_compare_type(in_dtype: IntType) -> IntType:
    """Signed type a Threshold layer compares and stores its thresholds in: the input and a
    threshold clipped one above it (`clip_thresholds`)."""
    return IntType.for_range(min(in_dtype.min, -1), in_dtype.max + 1)


def clip_thresholds(t: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Thresholds clipped into [lo, hi + 1]: `x >= t` is unchanged for every x in [lo, hi], and
    the stored values fit `IntType.for_range(min(lo, -1), hi + 1)`."""
    return np.clip(np.asarray(t, dtype=np.int64), lo, hi + 1)
