"""One emitter per IR layer: the library core, its parameters and its memory images.

An emitter turns a folded layer into a `Core`: which hand-written module implements it,
the exact parameter values (accumulator widths, encoded output affine map, ...), the
`$readmemh` images of its weights/thresholds, and its stream interface (elements per word
in and out, words per frame, cycles per frame, bursts): the layer's `qloom.hw.interface`,
the same one the cost model reads. Memory styles: a layer's own `mem_style` (the folding
resolves "auto"), the others as the cost model places them (`cost.memory_styles`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from qloom.backends.rtl import datapath
from qloom.backends.rtl.cost import memory_styles
from qloom.hw import LayerInterface, clip_thresholds, interface, threshold_compare_type
from qloom.hw.linebuf import ring_rows
from qloom.ir import ops
from qloom.ir.types import IntType
from qloom.packing import pack_rows

MEM_STYLE_CODE = {ops.MemStyle.AUTO: 0, ops.MemStyle.BLOCK: 1, ops.MemStyle.DISTRIBUTED: 2,
                  ops.MemStyle.REGISTERS: 3}

# Library files each core needs, in compile order (dependencies first).
LIBRARY_DEPS: dict[str, tuple[str, ...]] = {
    "qloom_fifo": ("qloom_fifo",),
    "qloom_dwc": ("qloom_dwc",),
    "qloom_mvtu": ("qloom_add_tree", "qloom_sum_tree", "qloom_thr_count", "qloom_rom", "qloom_ram", "qloom_credit",
                   "qloom_fifo", "qloom_mvtu_leaf", "qloom_mvtu"),
    "qloom_vvau": ("qloom_add_tree", "qloom_sum_tree", "qloom_thr_count", "qloom_rom", "qloom_line", "qloom_credit",
                   "qloom_fifo", "qloom_mvtu_leaf", "qloom_vvau"),
    "qloom_thresh": ("qloom_add_tree", "qloom_thr_count", "qloom_rom", "qloom_credit", "qloom_fifo", "qloom_thresh"),
    "qloom_swg": ("qloom_credit", "qloom_fifo", "qloom_sdpram", "qloom_swg"),
    "qloom_pool": ("qloom_credit", "qloom_fifo", "qloom_line", "qloom_pool"),
    "qloom_labelselect": ("qloom_labelselect",),
    "qloom_fork": ("qloom_fifo", "qloom_fork"),
    "qloom_add": ("qloom_fifo", "qloom_add"),
    "qloom_concat": ("qloom_fifo", "qloom_concat"),
}


@dataclass(frozen=True)
class Memory:
    """A $readmemh image: `words` of `width` bits, written to `file` (relative name)."""

    file: str
    width: int
    words: list[int]


@dataclass(frozen=True)
class Core:
    module: str  # library module, a key of LIBRARY_DEPS
    params: dict[str, int | str]
    io: LayerInterface  # elements per word, words per frame, cycles, bursts (`qloom.hw.interface`)
    in_dtype: IntType
    out_dtype: IntType
    mems: tuple[Memory, ...] = field(default=())
    in_dtypes: tuple[IntType, ...] = ()  # per input port when there are several (AddStreams, Concat)
    n_out: int = 1  # output streams (a Fork's k consumers)

    in_par = property(lambda self: self.io.in_par)
    out_par = property(lambda self: self.io.out_par)
    in_words = property(lambda self: self.io.in_words)  # words per frame
    out_words = property(lambda self: self.io.out_words)
    cycles = property(lambda self: self.io.cycles)  # clocks per frame when neither starved nor stalled
    in_burst = property(lambda self: self.io.in_burst)  # input words taken back to back after idling
    out_block = property(lambda self: self.io.out_block)  # output words emitted in a run before a gap

    @property
    def port_dtypes(self) -> tuple[IntType, ...]:
        """The element type of each input port."""
        return self.in_dtypes or (self.in_dtype,)


def _flag(b: bool) -> int:
    return 1 if b else 0


def _dtype_params(prefix: str, t: IntType) -> dict[str, int]:
    return {f"{prefix}_BITS": t.bits, f"{prefix}_SIGNED": _flag(t.signed), f"{prefix}_BIPOLAR": _flag(t.bipolar)}


def _out_affine(n_thr: int, base: int, step: int, out: IntType) -> tuple[int, int]:
    """Encoded output = OUT_BASE + OUT_STEP * count (mod 2**bits) for out_base + out_step * count."""
    if out.bipolar:  # only base -1, step 2, one threshold: encode(-1 + 2c) = c
        return 0, 1
    if not (-(2**31) <= base < 2**31 and -(2**31) <= base + step * n_thr < 2**31):
        raise ValueError(f"threshold output {base} + {step} * count does not fit a 32-bit parameter")
    return int(base), int(step)


def _threshold_rows(thresholds: np.ndarray, rows: int, lo: int, hi: int) -> np.ndarray:
    """(rows, T) thresholds, clipped (`hw.clip_thresholds`)."""
    t = np.asarray(thresholds, dtype=np.int64)
    t = np.broadcast_to(t, (rows, t.shape[1])) if t.shape[0] == 1 else t
    return clip_thresholds(t, lo, hi)


def _threshold_image(t: np.ndarray, pe: int, bits: int, file: str) -> Memory:
    """Row-fold f holds PE rows f*PE+p, threshold i of PE p at bits [(p*T + i)*bits, ...)."""
    rows, n = t.shape
    enc = IntType(bits, signed=True).encode(t).reshape(rows // pe, pe * n)
    return Memory(file, pe * n * bits, pack_rows(enc, bits))


def matvec(l: ops.MatVec, prefix: str) -> Core:
    mh, mw, pe, simd = l.mh, l.mw, l.pe, l.simd
    nf, sf = mh // pe, mw // simd
    dot = datapath.dot_scheme(l)
    acc = datapath.acc_type(l, dot)
    styles = memory_styles(l)
    params: dict[str, int | str] = {"MW": mw, "MH": mh, "PE": pe, "SIMD": simd}
    params |= _dtype_params("IN", l.in_dtype)
    params |= {"W_BITS": l.w_dtype.bits, "W_SIGNED": _flag(l.w_dtype.signed), "W_BIPOLAR": _flag(l.w_dtype.bipolar)}
    params |= {"DOT": int(dot), "LEAF_BITS": datapath.leaf_bits(l, dot) if dot is not datapath.Dot.POPCOUNT else 2}
    out = l.out_dtype
    mems = []
    # weight ROM word nf*SF + sf: PE rows x SIMD columns, element (p, s) at (p*SIMD + s)*W_BITS
    enc = l.w_dtype.encode(l.weights).reshape(nf, pe, sf, simd).transpose(0, 2, 1, 3).reshape(nf * sf, pe * simd)
    mems.append(Memory(f"{prefix}_weights.mem", pe * simd * l.w_dtype.bits, pack_rows(enc, l.w_dtype.bits)))
    n_thr, base, step, scale, offset = 0, 0, 1, 1, 0
    thr = datapath.rtl_thresholds(l, dot)
    if thr is not None:
        n_thr = thr.rows.shape[1]
        base, step = _out_affine(n_thr, thr.base, thr.step, out)
        mems.append(_threshold_image(thr.rows, pe, acc.bits, f"{prefix}_thresh.mem"))
    elif dot is datapath.Dot.POPCOUNT:  # the bipolar dot product 2p - MW
        scale, offset = 2, -mw
    params |= {"ACC_BITS": acc.bits, "N_THR": n_thr, "OUT_BITS": out.bits, "OUT_BASE": base, "OUT_STEP": step,
               "ACC_SCALE": scale, "ACC_OFFSET": offset,
               "WEIGHT_FILE": mems[0].file, "THRESH_FILE": mems[1].file if n_thr else "none",
               "W_STYLE": MEM_STYLE_CODE[styles["weights"]],
               "T_STYLE": MEM_STYLE_CODE[styles.get("thresholds", ops.MemStyle.AUTO)],
               "BUF_STYLE": MEM_STYLE_CODE[styles.get("input_buffer", ops.MemStyle.AUTO)]}
    if l.mmv > 1:  # omitted at 1: designs of mmv=1 stay byte-identical
        params["MMV"] = l.mmv
    return Core("qloom_mvtu", params, interface(l), l.in_dtype, out, tuple(mems))


def depthwise_matvec(l: ops.DepthwiseMatVec, prefix: str) -> Core:
    """qloom_vvau: the channels' arithmetic is `datapath.depthwise_rows`' (a C x K MatVec)."""
    if l.simd > 1 and l.pe != l.channels:
        raise ValueError(f"{l.name}: SIMD={l.simd} needs PE=C={l.channels} (see qloom.fold.rules)")
    rows = datapath.depthwise_rows(l)
    dot = datapath.dot_scheme(rows)
    acc = datapath.acc_type(rows, dot)
    styles = memory_styles(l)
    params: dict[str, int | str] = {"C": l.channels, "K": l.k, "PE": l.pe, "SIMD": l.simd}
    params |= _dtype_params("IN", l.in_dtype) | _dtype_params("W", l.w_dtype)
    params |= {"DOT": int(dot), "LEAF_BITS": datapath.leaf_bits(rows, dot) if dot is not datapath.Dot.POPCOUNT else 2}
    out = l.out_dtype
    mems = [Memory(f"{prefix}_weights.mem", l.pe * l.simd * l.w_dtype.bits,
                   pack_rows(datapath.depthwise_weight_words(l), l.w_dtype.bits))]
    n_thr, base, step, scale, offset = 0, 0, 1, 1, 0
    thr = datapath.rtl_thresholds(rows, dot)
    if thr is not None:
        n_thr = thr.rows.shape[1]
        base, step = _out_affine(n_thr, thr.base, thr.step, out)
        mems.append(_threshold_image(thr.rows, l.pe, acc.bits, f"{prefix}_thresh.mem"))
    elif dot is datapath.Dot.POPCOUNT:  # the bipolar dot product 2p - K
        scale, offset = 2, -l.k
    params |= {"ACC_BITS": acc.bits, "N_THR": n_thr, "OUT_BITS": out.bits, "OUT_BASE": base, "OUT_STEP": step,
               "ACC_SCALE": scale, "ACC_OFFSET": offset,
               "WEIGHT_FILE": mems[0].file, "THRESH_FILE": mems[1].file if n_thr else "none",
               "W_STYLE": MEM_STYLE_CODE[styles["weights"]],
               "T_STYLE": MEM_STYLE_CODE[styles.get("thresholds", ops.MemStyle.AUTO)],
               "ACC_STYLE": MEM_STYLE_CODE[styles.get("accumulators", ops.MemStyle.AUTO)]}
    return Core("qloom_vvau", params, interface(l), l.in_dtype, out, tuple(mems))


def threshold(l: ops.Threshold, prefix: str) -> Core:
    h, w, c = l.in_shape
    it, out = l.in_dtype, l.out_dtype
    n = l.thresholds.shape[1]
    t, step_ir = (np.full((1, 1), it.max + 1), 0) if n == 0 else (l.thresholds, l.out_step)
    t = _threshold_rows(t, c, it.min, it.max)
    cmp = threshold_compare_type(it)
    base, step = _out_affine(t.shape[1], l.out_base, step_ir, out)
    mem = _threshold_image(t, l.pe, cmp.bits, f"{prefix}_thresh.mem")
    params: dict[str, int | str] = {"C": c, "PE": l.pe, **_dtype_params("IN", it), "CMP_BITS": cmp.bits,
                                    "N_THR": t.shape[1], "OUT_BITS": out.bits, "OUT_BASE": base, "OUT_STEP": step,
                                    "THRESH_FILE": mem.file, "MEM_STYLE": MEM_STYLE_CODE[memory_styles(l)["thresholds"]]}
    return Core("qloom_thresh", params, interface(l), it, out, (mem,))


def _check_elem_bits(l: ops.Layer, t: IntType) -> None:
    if t.bits > 32:
        raise ValueError(f"{l.name}: {t} elements are wider than the 32-bit parameters of the RTL library")


def sliding_window(l: ops.SlidingWindow, prefix: str) -> Core:
    h, w, c = l.in_shape
    oh, ow, _ = l.out_shape
    (kh, kw), (sh, sw), (pt, pl, pb, pr) = l.kernel, l.stride, l.pad
    it, out = l.in_dtype, l.out_dtype  # out wider than in: a pad value outside the input type
    _check_elem_bits(l, out)
    pad = int(out.encode(np.array(l.pad_value))) if any(l.pad) else 0
    params: dict[str, int | str] = {"H": h, "W": w, "C": c, "KH": kh, "KW": kw, "SH": sh, "SW": sw,
                                    "PT": pt, "PL": pl, "PB": pb, "PR": pr, "SIMD": l.simd,
                                    "BITS": it.bits, "PAD": pad,
                                    "OUT_BITS": out.bits, "IN_SIGNED": _flag(it.signed), "IN_BIPOLAR": _flag(it.bipolar),
                                    "STYLE": MEM_STYLE_CODE[memory_styles(l)["line_buffer"]]}
    if l.kpar > 1:  # omitted at 1: designs of kpar=1 stay byte-identical
        params["KPAR"] = l.kpar
    params["ROWS"] = ring_rows(l)
    if l.mmv > 1:  # likewise
        params["MMV"] = l.mmv
    return Core("qloom_swg", params, interface(l), it, out)


def pool(l: ops.Pool, prefix: str) -> Core:
    h, w, c = l.in_shape
    oh, ow, _ = l.out_shape
    (kh, kw), (sh, sw), (pt, pl, pb, pr) = l.kernel, l.stride, l.pad
    if max(pt, pb) >= kh or max(pl, pr) >= kw:
        raise ValueError(f"{l.name}: pool padding {l.pad} must be smaller than the kernel {l.kernel}")
    _check_elem_bits(l, l.out_dtype)
    it = l.in_dtype
    params: dict[str, int | str] = {"H": h, "W": w, "C": c, "PE": l.pe, "KH": kh, "KW": kw, "SH": sh, "SW": sw,
                                    "PT": pt, "PL": pl, "PB": pb, "PR": pr, **_dtype_params("IN", it),
                                    "MODE": 0 if l.mode is ops.PoolMode.MAX else 1, "OUT_BITS": l.out_dtype.bits}
    styles = memory_styles(l)
    params |= {"COL_STYLE": MEM_STYLE_CODE[styles.get("column_lines", ops.MemStyle.AUTO)],
               "ROW_STYLE": MEM_STYLE_CODE[styles.get("row_lines", ops.MemStyle.AUTO)]}
    return Core("qloom_pool", params, interface(l), it, l.out_dtype)


def label_select(l: ops.LabelSelect, prefix: str) -> Core:
    c = l.in_shape[2]
    it = l.in_dtype
    params: dict[str, int | str] = {"C": c, "K": l.k, "IN_BITS": it.bits, "CMP_SIGNED": _flag(it.signed and not it.bipolar),
                                    "OUT_BITS": l.out_dtype.bits}
    return Core("qloom_labelselect", params, interface(l), it, l.out_dtype)


def fork(l: ops.Fork, prefix: str) -> Core:
    return Core("qloom_fork", {"WIDTH": l.pe * l.in_dtype.bits, "K": l.k}, interface(l), l.in_dtype, l.out_dtype,
                n_out=l.k)


def add_streams(l: ops.AddStreams, prefix: str) -> Core:
    _check_elem_bits(l, l.out_dtype)
    params: dict[str, int | str] = {"PE": l.pe, **_dtype_params("A", l.in_dtype), "SHIFT_A": l.shift_a,
                                    **_dtype_params("B", l.in_dtype_b), "SHIFT_B": l.shift_b,
                                    "OUT_BITS": l.out_dtype.bits}
    return Core("qloom_add", params, interface(l), l.in_dtype, l.out_dtype, in_dtypes=(l.in_dtype, l.in_dtype_b))


def concat(l: ops.Concat, prefix: str) -> Core:
    """Vector parameters: one 32-bit field per port (port i's words per pixel and type)."""
    _check_elem_bits(l, l.out_dtype)
    ts = l.dtypes
    params: dict[str, int | str | tuple[int, ...]] = {
        "K": len(ts), "PE": l.pe, "WORDS": tuple(c // l.pe for c in l.channels),
        "IN_BITS": tuple(t.bits for t in ts), "IN_SIGNED": tuple(_flag(t.signed) for t in ts),
        "IN_BIPOLAR": tuple(_flag(t.bipolar) for t in ts), "OUT_BITS": l.out_dtype.bits}
    return Core("qloom_concat", params, interface(l), l.in_dtype, l.out_dtype, in_dtypes=tuple(ts))


EMITTERS: dict[type, Callable[[ops.Layer, str], Core]] = {
    ops.MatVec: matvec,
    ops.DepthwiseMatVec: depthwise_matvec,
    ops.Threshold: threshold,
    ops.SlidingWindow: sliding_window,
    ops.Pool: pool,
    ops.LabelSelect: label_select,
    ops.Fork: fork,
    ops.AddStreams: add_streams,
    ops.Concat: concat,
}


def emit(layer: ops.Layer, prefix: str) -> Core:
    """The core for one hardware layer; `prefix` names its memory files."""
    try:
        fn = EMITTERS[type(layer)]
    except KeyError:
        raise NotImplementedError(f"no RTL emitter for {layer.kind} ({layer.name})") from None
    return fn(layer, prefix)
