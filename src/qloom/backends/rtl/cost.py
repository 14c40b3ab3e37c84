"""The RTL backend's cost model: LUT, FF, BRAM18 (RAMB18 equivalents) and DSP per core,
per inter-layer FIFO and width converter, and the DMA side's TLAST queue.

What it counts is what the qloom RTL library builds at a folding, as Yosys `synth_xilinx
-family xc7` maps it (LUT includes LUTs used as LUTRAM, as Vivado's "Slice LUTs" does).
Every constant is in `coeffs.Coefficients`, with the measurement it was fitted to; the
structure of each formula follows the RTL:

MatVec (qloom_mvtu, scheme from `datapath`), per PE:
    sum tree    sum over its adders of the wider operand's bits (a carry-chain adder
                costs one LUT per bit), the tree of `datapath.Dot`'s leaves
    leaves      computed terms (TABLE/POW2 products, PAIRED selects): one LUT per bit for
                the left leaf of each bottom adder (the right one folds into the adder)
    popcount    2 LUTs per 3 lanes (xnor, count), then the tree of the 2-bit counts
    accumulate  ACC_BITS, compare N_THR * ACC_BITS (one carry chain each)
  plus the PAIRED pair sums (2 * LEAF_BITS per lane pair, shared by all PEs), control,
  the output queue, and the memories.
DSP: one DSP48E1 per lane product of the DSP scheme (operands up to 25 x 18 bits).
DepthwiseMatVec (qloom_vvau): the same per-PE lanes over SIMD kernel positions
(`datapath.depthwise_rows`), accumulate and compare, the output queue, the input word
register, and its memories: weight ROM, threshold ROM, and the CF = C/PE partial sums per
PE in a LUTRAM line (asynchronous read) when CF > 1.

Memories (`memories`): weight and threshold ROMs, the MatVec input buffer, the sliding
window's ring of input rows (a copy per KPAR lane), the pool's delay lines. Block RAM
counts replay Yosys `memory_libmap`'s choice for xc7 (`bram18_count`: every RAMB18/RAMB36 width mode, data of
several address ranges packed into one word when that is cheaper; checked against 223
ROM shapes, 16..32768 deep, 1..100 bits wide). LUT costs (`memory_luts`) are per kind:
a ROM is logic (one LUT6 per bit up to 64 words), a RAM is LUTRAM (RAM32M/RAM64M/
RAM128X1D/RAM256X1S packing). "auto" picks LUTs while they cost at most
`auto_luts_per_bram18` per RAMB18 saved; a MatVec's mem_style is its weight ROM's (as
FINN's mem_style), its thresholds are placed by "auto". `fifo_resources` and
`dwc_resources` count the stream glue the top puts in front of a layer, `tlast_resources`
the DMA side's TLAST counters and flag queue. `RtlCostModel` bundles them behind
`qloom.fold.model.CostModel`, the interface the folding reads (fold/ never imports this
module: `qloom.fold.resources` adds the parts up over a graph).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from dataclasses import dataclass

from qloom.backends.rtl import datapath
from qloom.backends.rtl.coeffs import BRAM_CONFIGS, DEFAULT, Coefficients
from qloom.backends.rtl.datapath import Dot
from qloom.backends.rtl.emit import QUEUE_DEPTH, held_words
from qloom.hw import fifo_depth, interface, threshold_compare_type
from qloom.hw.linebuf import ring_rows
from qloom.ir import (AddStreams, Concat, DepthwiseMatVec, Fork, InputQuant, IntType, LabelSelect, Layer, MatVec,
                      MemStyle, Pool, SlidingWindow, Threshold)

KEYS = ("LUT", "FF", "BRAM18", "DSP")

# Memory kinds, as the RTL builds them
ROM = "rom"  # qloom_rom: initialised, registered read
RAM_WF = "ram_wf"  # qloom_ram: single port, write-first registered read (MatVec input buffer)
RAM_SDP = "ram_sdp"  # qloom_sdpram: write port + registered read port (sliding window)
LINE = "line"  # qloom_line: single port, asynchronous read (pool delay lines): no block RAM


@dataclass(frozen=True)
class Memory:
    """`count` identical memories of depth x width bits of a `kind` above. `lanes`: the bit
    columns that are not constant over all words (Yosys opt_mem drops the others from a
    ROM before mapping it: sign bits of small thresholds, say); None: all of them."""

    name: str
    depth: int
    width: int
    kind: str = ROM
    count: int = 1
    style_field: bool = True  # follows the layer's mem_style (False: always auto)
    lanes: int | None = None
    # a one-row-fold MatVec's weights whose read Yosys merges into the datapath's first LUTs:
    # "xnor" (binary, POPCOUNT) or "table" (TABLE products); None: a plain ROM
    merged: str | None = None

    @property
    def rom(self) -> bool:
        return self.kind == ROM

    @property
    def bits(self) -> int:
        """Width as synthesized."""
        return self.width if self.lanes is None else self.lanes


def _bram_geometry(depth: int, width: int, ram: bool) -> tuple[int, int]:
    """(RAMB18 equivalents, address ranges) of Yosys `memory_libmap`'s choice on xc7.

    It picks the cheapest (RAMB18 mode, RAMB36 mode, RAMB36 cascade) x data width; a mode
    of D words covers the memory in ceil(depth / D) address ranges whose data bits are
    packed together into ceil(ranges * width / port width) RAMs; cost = RAM cost * RAMs +
    0.5 per output bit per extra range (read mux) + 0.5 per range when a RAM has more
    than one (write demux). A RAM (`ram`, a write port) packs each range's word padded to
    the write-enable granularity, 9 bits (or the port width below 9). (yosys
    passes/memory/memory_libmap.cc `handle_geom`, techlibs/xilinx/brams_xc4v.txt costs;
    exact on 223 ROM shapes, 16..32768 deep, 1..100 bits wide, and the zoo designs.)
    """
    best = None
    for cost, abits, widths, per in BRAM_CONFIGS:
        for i, unit in enumerate(widths):
            ranges = -(-depth // (1 << (abits - i)))
            word = width
            if ram:  # each range's word starts on a write-enable boundary
                byte = min(9, unit)
                word = -(-width // byte) * byte
            rams = -(-(ranges * word) // unit)
            c = cost * rams + 0.5 * (ranges - 1) * width + (0.5 * ranges if ram and ranges > 1 else 0)
            if best is None or c < best[0]:
                best = (c, rams * per, ranges)
    return best[1], best[2]


def bram18_count(depth: int, width: int, ram: bool = False) -> int:
    """RAMB18 equivalents Yosys uses for one depth x width memory on xc7 (`_bram_geometry`)."""
    if depth <= 0 or width <= 0:
        return 0
    return _bram_geometry(depth, width, ram)[0]


def block_read_mux(depth: int, width: int, ram: bool = False) -> int:
    """Output bits x extra address ranges Yosys multiplexes behind a block RAM mapping."""
    if depth <= 0 or width <= 0:
        return 0
    return (_bram_geometry(depth, width, ram)[1] - 1) * width


def _lutram_bits_per_4luts(depth: int, kind: str) -> float:
    """Bits one 4-LUT LUTRAM group stores at `depth` (Yosys lutrams_xc5v.txt configs)."""
    if kind == RAM_SDP:  # RAM32M/RAM64M as 32x6 / 64x3 simple dual port
        return 6 if depth <= 32 else 3
    return {32: 8, 64: 4, 128: 2, 256: 1}[max(32, 1 << (depth - 1).bit_length())]  # single port


def memory_luts(mem: Memory, coeffs: Coefficients = DEFAULT) -> float:
    """LUTs of one memory in LUTs (ROM logic or LUTRAM), measured on Yosys (see coeffs).

    ROM: a LUT6 per bit up to 64 words, then ceil(depth/64) LUT6 per bit (MUXF7/F8 join
    them up to 256 words, LUT multiplexers beyond). LUTRAM up to 64 words (256 single
    port): the RAM32M/RAM64M/RAM128X1D/RAM256X1S packing; a simple dual port of 65..256 words
    (a sliding window's ring) per bit and 64-word bank; deeper: per word and bit (cells and
    read multiplexer) plus, per word, the write-enable decode (sweep, 1K..8K words).
    """
    d, w = mem.depth, mem.bits
    if d <= 1:
        return 0.0
    if mem.kind == ROM:
        if mem.merged == "xnor" and d <= 16:  # the read merges into the popcount's first LUTs
            # (<= 8 words: 3 address bits and a group's 3 input bits fill one LUT6; 9..16 words: 4
            # address bits and one input bit, a LUT per weight bit for read and XNOR)
            return (coeffs.xnor_rom_lut if d <= 8 else coeffs.xnor_rom_lut_deep) * w
        if d <= 4:
            return coeffs.rom_lut_tiny * w
        if mem.merged == "paired" and d <= 16:  # 2 weight bits of a pair and <= 4 address bits: the
            # read merges into the leaf's select (the select's LUTs are counted with the lanes)
            return coeffs.paired_rom_lut * w
        if mem.merged and d <= 16:  # 4 address bits and the input bits: one LUT for read and product
            return coeffs.table_rom_lut * w
        if d <= 64:
            return float(w)
        return w * math.ceil(d / 64) * (1.0 if d <= 256 else coeffs.rom_lut_deep)
    if mem.kind == RAM_SDP and 64 < d <= 256:
        return coeffs.sdp_mid_lut_per_bank_bit * w * math.ceil(d / 64)
    if mem.kind == RAM_SDP and d > 64:
        return w * (coeffs.sdp_lut_per_word_bit * d + 0.3) + coeffs.sdp_lut_per_word * d
    if d > 256:
        return w * coeffs.sp_lut_per_word_bit * d + coeffs.sp_lut_per_word * d
    return 4 * math.ceil(w / _lutram_bits_per_4luts(d, mem.kind))


def lutram_luts(depth: int, width: int) -> int:
    """LUTs of a depth x width ROM in LUTs (kept for callers of the old name)."""
    return int(round(memory_luts(Memory("rom", depth, width))))


def auto_style(mem: Memory, coeffs: Coefficients = DEFAULT) -> MemStyle:
    """What "auto" resolves to: registers for one word, else LUTs while they are cheap.
    A delay line (asynchronous read) cannot be block RAM."""
    if mem.depth <= 1:
        return MemStyle.REGISTERS
    if mem.kind == LINE:
        return MemStyle.DISTRIBUTED
    ram = mem.kind != ROM
    if memory_luts(mem, coeffs) <= coeffs.auto_luts_per_bram18 * bram18_count(mem.depth, mem.bits, ram):
        return MemStyle.DISTRIBUTED
    return MemStyle.BLOCK


def memory_cost(mem: Memory, style: MemStyle, coeffs: Coefficients = DEFAULT) -> dict:
    """LUT/FF/BRAM18 of `mem` stored in a resolved style (not AUTO)."""
    n, d, w = mem.count, mem.depth, mem.bits
    if d <= 1 or w == 0:  # a constant (ROM) or a register (RAM)
        return {"LUT": 0, "FF": 0 if mem.rom else n * w, "BRAM18": 0}
    if style is MemStyle.BLOCK and mem.kind != LINE:
        bypass = mem.kind == RAM_WF  # Yosys emulates write-first reads: a mux and 2 FF per bit
        mux = coeffs.bram_mux_lut * block_read_mux(d, w, ram=not mem.rom)  # several address ranges
        return {"LUT": n * ((w if bypass else 0) + mux), "FF": 2 * n * w if bypass else 0,
                "BRAM18": n * bram18_count(d, w, ram=not mem.rom)}
    if style is MemStyle.REGISTERS and not mem.rom:  # flip-flops and a read multiplexer
        return {"LUT": n * coeffs.reg_mem_lut_per_bit * d * w, "FF": n * d * w, "BRAM18": 0}
    # output register, or the address register where Yosys moves it: before a RAM_WF read, before
    # a tiny ROM (<= 4 words: a LUT per bit, the register retimed to the 2 address bits) and before
    # a ROM of <= 8 words whose read merges into the datapath (`merged`, see memory_luts).
    # Calibration set, session 8: with the read register counted, cnv-w1a1 zybo's mvu3 (8 x 4562
    # bits, XNOR) was 5,308 FF against Yosys' 985, resnet-w1a1 zybo's PAIRED mvu1 (6 words) 1,892
    # against 443; merged ROMs of 12..16 words keep their read register (tfc-w1a1 zybo's PAIRED
    # mvu0, 14 x 3584: 6,005 FF; resnet-w2a2 zybo's TABLE mvu1, 12 x 1513: 1,783)
    retimed = mem.rom and (d <= 4 or (mem.merged is not None and d <= 8))
    ff = 0 if mem.kind == LINE else (math.ceil(math.log2(d)) if mem.kind == RAM_WF or retimed else w)
    return {"LUT": n * memory_luts(mem, coeffs), "FF": n * ff, "BRAM18": 0}


def compare_bits(layer: Layer) -> int:
    """Width of a stored threshold, as the RTL stores it: the MatVec accumulator
    (`datapath.acc_type`), or for Threshold a signed type covering the input and a
    threshold clipped one above it (qloom_thresh CMP_BITS)."""
    if isinstance(layer, MatVec):
        return datapath.acc_type(layer).bits
    if isinstance(layer, DepthwiseMatVec):
        return datapath.acc_type(datapath.depthwise_rows(layer)).bits
    return threshold_compare_type(layer.in_dtype).bits


def shared_thresholds(layer: Threshold) -> bool:
    """Whether every channel has the same thresholds (a per-tensor quantizer, as the requant
    after a residual add): the ROM image is constant, which Yosys folds into the compares."""
    t = np.asarray(layer.thresholds)
    return t.shape[0] == 1 or bool((t == t[:1]).all())


def memories(layer: Layer) -> list[Memory]:
    """The storage the RTL core of a layer builds at its current folding."""
    h, w, c = layer.in_shape
    if isinstance(layer, MatVec):
        sf, nf = layer.mw // layer.simd, layer.mh // layer.pe
        lanes = datapath.rom_lanes(layer)
        dot = datapath.dot_scheme(layer)
        # POPCOUNT and PAIRED reads merge at any row fold (calibration set: tfc-w1a1 zybo's mvu1, 8 row
        # folds; resnet-w1a1 zybo's mvu1, 2), TABLE's measured at one row fold only
        merge = dot in (Dot.POPCOUNT, Dot.PAIRED) or nf == 1
        mems = [Memory("weights", sf * nf, layer.pe * layer.simd * layer.w_dtype.bits, lanes=lanes["weights"],
                       merged=_merged_rom(layer) if merge else None)]
        if layer.thresholds is not None:  # shared (1, T) thresholds are broadcast to MH rows
            n_thr = datapath.n_thresholds(layer)
            # placed on their own ("auto"), as FINN's ram_style_thresholds: a layer's mem_style is
            # its weights' (a block-RAM weight layer need not put a 4-word threshold ROM in RAMB18s)
            mems.append(Memory("thresholds", nf, layer.pe * n_thr * compare_bits(layer), lanes=lanes["thresholds"],
                               style_field=False))
        if nf > 1:  # the input vector is replayed once per further row fold
            mems.append(Memory("input_buffer", sf, layer.simd * layer.in_dtype.bits, RAM_WF, style_field=False))
        return mems
    if isinstance(layer, DepthwiseMatVec):
        cf, kf = layer.channels // layer.pe, layer.k // layer.simd
        rows = datapath.depthwise_rows(layer)
        lanes = datapath.depthwise_rom_lanes(layer)
        mems = [Memory("weights", kf * cf, layer.pe * layer.simd * layer.w_dtype.bits, lanes=lanes["weights"],
                       merged=_merged_rom(rows))]
        acc = compare_bits(layer)
        if layer.thresholds is not None:
            mems.append(Memory("thresholds", cf, layer.pe * datapath.n_thresholds(rows) * acc,
                               lanes=lanes["thresholds"], style_field=False))
        if cf > 1:  # a pixel's partial sums, read and written back in one clock
            mems.append(Memory("accumulators", cf, layer.pe * acc, LINE, style_field=False))
        return mems
    if isinstance(layer, Threshold):
        n_thr = max(1, layer.thresholds.shape[1])
        return [Memory("thresholds", c // layer.pe, layer.pe * n_thr * compare_bits(layer),
                       lanes=0 if shared_thresholds(layer) else None)]
    if isinstance(layer, SlidingWindow):
        # qloom_swg: a ring of ROWS input rows (`hw.linebuf`), W*C/SIMD words each, a copy per KPAR lane
        # (MMV > 1: the ring in MMV column banks, a copy of one bank per each of the MMV*KPAR lanes)
        return [Memory("line_buffer", ring_rows(layer) * w * c // layer.simd // layer.mmv,
                       layer.simd * layer.in_dtype.bits, RAM_SDP, count=layer.kpar * layer.mmv, style_field=False)]
    if isinstance(layer, Pool):
        # qloom_pool: KW-1 pixel delay lines of C/PE words, KH-1 row delay lines of OW*C/PE
        (kh, kw), ow, cf = layer.kernel, layer.out_shape[1], c // layer.pe
        mems = []
        if kw > 1:
            mems.append(Memory("column_lines", cf, layer.pe * layer.out_dtype.bits, LINE, count=kw - 1, style_field=False))
        if kh > 1:
            mems.append(Memory("row_lines", ow * cf, layer.pe * layer.out_dtype.bits, LINE, count=kh - 1, style_field=False))
        return mems
    return []


def _merged_rom(layer: MatVec) -> str | None:
    """Whether Yosys merges a LUT weight ROM's read into the first LUTs of the lanes."""
    dot = datapath.dot_scheme(layer)
    return {Dot.POPCOUNT: "xnor", Dot.TABLE: "table", Dot.PAIRED: "paired"}.get(dot)


def memory_styles(layer: Layer, coeffs: Coefficients = DEFAULT) -> dict[str, MemStyle]:
    """Memory name -> the style the backend builds (an explicit mem_style wins, AUTO resolves;
    a delay line never becomes block RAM)."""
    field = getattr(layer, "mem_style", MemStyle.AUTO)
    out = {}
    for m in memories(layer):
        explicit = m.style_field and field is not MemStyle.AUTO
        out[m.name] = field if explicit else auto_style(m, coeffs)
    return out


def _add(a: dict, b: dict) -> dict:
    return {k: a.get(k, 0) + b.get(k, 0) for k in KEYS}


def sum_tree_luts(n: int, w: int) -> int:
    """LUTs of qloom_sum_tree over n leaves of w bits: each adder costs its wider operand's
    bits (the sign or carry bit on top shares a LUT); the left half holds ceil(n/2) leaves."""
    if n <= 1:
        return 0
    nl = (n + 1) // 2
    return sum_tree_luts(nl, w) + sum_tree_luts(n - nl, w) + w + math.ceil(math.log2(nl))


def _bottom_adders(n: int) -> int:
    """Adders of qloom_sum_tree whose two operands are both leaves."""
    if n <= 1:
        return 0
    if n == 2:
        return 1
    nl = (n + 1) // 2
    return _bottom_adders(nl) + _bottom_adders(n - nl)


def dsp_per_product(x: IntType, w: IntType, coeffs: Coefficients = DEFAULT) -> int:
    """DSP48E1s per lane product of the DSP scheme: operands signed-extended (an unsigned
    one gains a bit), split into 25 x 18 pieces."""
    a = x.bits + (0 if x.signed else 1)
    b = w.bits + (0 if w.signed else 1)
    big, small = max(a, b), min(a, b)
    return math.ceil(big / coeffs.dsp_a_bits) * math.ceil(small / coeffs.dsp_b_bits)


def _lane_luts(l: MatVec, dot: Dot, co: Coefficients) -> float:
    """LUTs of one PE's SIMD lanes and their sum tree (PAIRED's shared sums excluded)."""
    q = l.simd
    if dot is Dot.POPCOUNT:
        groups = (q + 2) // 3
        return co.popcount_group_lut * groups + co.popcount_tree_lut * sum_tree_luts(groups, 2)
    lb = datapath.leaf_bits(l, dot)
    leaves = (q + 1) // 2 if dot is Dot.PAIRED else q
    lanes = co.tree_lut * sum_tree_luts(leaves, lb)
    if dot in (Dot.TABLE, Dot.POW2, Dot.PAIRED):  # computed leaves not folded into an adder
        lanes += co.leaf_lut * lb * (leaves - _bottom_adders(leaves))
    elif dot is Dot.SHIFTADD:  # per lane: partial products and their adders
        nb = min(l.w_dtype.bits, l.in_dtype.bits)
        lanes += q * nb * (lb + 1)
    return lanes


def _matvec_logic(l: MatVec, co: Coefficients) -> dict:
    dot = datapath.dot_scheme(l)
    acc = datapath.acc_type(l, dot).bits
    p, q = l.pe, l.simd
    n_thr = datapath.n_thresholds(l)
    shared = 0.0
    lanes = _lane_luts(l, dot, co)
    if dot is not Dot.POPCOUNT:
        lb = datapath.leaf_bits(l, dot)
        leaves = (q + 1) // 2 if dot is Dot.PAIRED else q
        if dot is Dot.PAIRED:  # x0 + x1 and x0 - x1 per lane pair; a leaf is a select and a
            # complement (4 inputs), so the one an adder takes too costs part of a LUT per bit
            shared = co.pair_lut * 2 * lb * (q // 2)
            # the right leaf of a bottom adder does not fold into it: with weights from a LUT ROM
            # (its register retimed to the address), constant weights, or block-RAM weights at one
            # row fold (calibration set: sfc-w1a1 zybo's mvu0, PE 256 x SIMD 16, 13% under without
            # it; cnv-w1a1 / mobilenet-w1a1 zybo's constant-weight mvu0 10%). The one layer measured
            # without it: block-RAM weights replayed over row folds (lfc-w1a1 zybo's mvu0, 64 folds)
            nf = l.mh // l.pe
            if not (memory_styles(l, co)["weights"] is MemStyle.BLOCK and nf > 1):
                lanes += co.paired_leaf_lut * lb * _bottom_adders(leaves)
    per_pe = lanes + co.acc_lut * acc + co.cmp_lut * n_thr * acc
    queue = fifo_luts(p * l.out_dtype.bits, QUEUE_DEPTH["qloom_mvtu"], co)
    dsp = p * q * dsp_per_product(l.in_dtype, l.w_dtype, co) if dot is Dot.DSP else 0
    nf = l.mh // l.pe
    ff = co.mvau_ff + 2 * p * acc + (q * l.in_dtype.bits if nf == 1 else 0)  # acc, result, input word
    return {"LUT": co.mvau_c0 + shared + p * per_pe + queue, "FF": ff, "DSP": dsp}


def _depthwise_logic(l: DepthwiseMatVec, co: Coefficients) -> dict:
    """qloom_vvau without its memories: per PE the lanes of `datapath.depthwise_rows`, the
    accumulator (its clear on the first kernel fold folds into the adder) and compare;
    control, the output queue, the input word and result registers."""
    rows = datapath.depthwise_rows(l)
    dot = datapath.dot_scheme(rows)
    acc = datapath.acc_type(rows, dot).bits
    p, q = l.pe, l.simd
    cf, kf = l.channels // p, l.k // q
    # one kernel fold: the sum starts from 0 every step (no adder, no partial sum); a single
    # DSP lane takes the accumulate into its post-adder
    adder = kf > 1 and not (dot is Dot.DSP and q == 1)
    lanes = _lane_luts(rows, dot, co)
    if dot in (Dot.TABLE, Dot.POW2):  # every computed leaf bit its own LUT (coeffs.vvau_leaf_lut)
        lanes += datapath.leaf_bits(rows, dot) * (co.vvau_leaf_lut * q - co.leaf_lut * (q - _bottom_adders(q)))
    if dot is Dot.MASKED:  # binary weights over a PE's own channel: per PE the masked accumulate
        # (acc - (dot ^ mask), a carry chain whatever the kernel fold) and per lane bit its select
        lanes += co.vvau_masked_acc_lut * acc + co.vvau_masked_leaf_lut * datapath.leaf_bits(rows, dot) * q
    per_pe = lanes + (co.acc_lut * acc if adder else 0) + co.cmp_lut * datapath.n_thresholds(rows) * acc
    queue = fifo_luts(p * l.out_dtype.bits, QUEUE_DEPTH["qloom_vvau"], co)
    dsp = p * q * dsp_per_product(l.in_dtype, l.w_dtype, co) if dot is Dot.DSP else 0
    ff = co.mvau_ff + p * acc * (2 if cf == 1 and kf > 1 else 1) + p * q * l.in_dtype.bits  # result (+ sum), input
    return {"LUT": co.mvau_c0 + p * per_pe + queue, "FF": ff, "DSP": dsp}


def fifo_luts(width: int, depth: int, coeffs: Coefficients = DEFAULT) -> float:
    """qloom_fifo (STYLE distributed): pointers, count and flags, and its words in LUTRAM
    with an asynchronous read. Up to 32 words one bank of RAM32M (32 x 6 bits in 4 LUTs,
    counted per bit), plus address decode per word beyond 6. Deeper, Yosys banks RAM32M (32 x 6) or RAM64M (64 x 3) cells behind a
    bank:1 read multiplexer (a LUT6 per 3 further banks and bit), whichever is cheaper;
    control grows with the address width (sweep: 2..40 bits x 6..1024 words, within 10%).
    Beyond 1024 words as a deep simple dual-port LUTRAM."""
    if depth <= 32:
        return coeffs.fifo_lut + coeffs.fifo_lut_per_bit * width + coeffs.fifo_lut_per_word * max(0, depth - 6)
    if depth <= 1024:
        store, banks = min((4 * b * math.ceil(width / bits) + width * math.ceil((b - 1) / 3), b)
                           for b, bits in ((math.ceil(depth / 32), 6), (math.ceil(depth / 64), 3)))
        return (coeffs.fifo_deep_lut + coeffs.fifo_lut_per_addr_bit * math.ceil(math.log2(depth))
                + coeffs.fifo_lut_per_bank * (banks - 1) + store)
    # beyond 1024 words: a deep simple dual-port LUTRAM (its sweep), but never below what the 1- and
    # 2-bit FIFOs of the calibration set cost per word (their control and read decode)
    narrow = width * (coeffs.fifo_huge_lut_per_word_bit * depth + 0.3) + coeffs.fifo_huge_lut_per_word * depth
    return coeffs.fifo_lut + max(memory_luts(Memory("fifo", depth, width, RAM_SDP), coeffs), narrow)


def _logic(layer: Layer, co: Coefficients) -> dict:
    """Datapath and control of a layer, memories excluded."""
    if isinstance(layer, MatVec):
        return _matvec_logic(layer, co)
    if isinstance(layer, DepthwiseMatVec):
        return _depthwise_logic(layer, co)
    if isinstance(layer, Threshold):
        t, bits = max(1, layer.thresholds.shape[1]), compare_bits(layer)
        queue = fifo_luts(layer.pe * layer.out_dtype.bits, QUEUE_DEPTH["qloom_thresh"], co)
        if shared_thresholds(layer):  # constants: Yosys drops the ROM, its address counter and control
            # (sweep PE 1..4 x T 1..15 x 5..9-bit compares, Yosys synth_xilinx: within 16%)
            ff = co.fifo_ff + 3 * math.ceil(math.log2(QUEUE_DEPTH["qloom_thresh"] + 1))
            return {"LUT": co.cmp_lut * layer.pe * t * bits + queue, "FF": ff + layer.pe * layer.in_dtype.bits}
        return {"LUT": co.thr_lut + co.cmp_lut * layer.pe * t * bits + queue,
                "FF": co.ff_base + layer.pe * layer.in_dtype.bits}
    if isinstance(layer, SlidingWindow):
        bits = layer.simd * layer.in_dtype.bits  # pad mux and output queue, per distinct output bit
        if layer.widens:  # a widened bipolar element is {!b, 1} or the pad 00: its low bit is the
            # pad flag, one bit for all lanes after Yosys merges the copies (measured: +0..3 LUT)
            extra = layer.out_dtype.bits - layer.in_dtype.bits
            bits += 1 if layer.in_dtype.bipolar else layer.simd * extra
        lut = co.swg_lut + co.swg_lut_per_bit * bits + fifo_luts(bits, QUEUE_DEPTH["qloom_swg"], co)
        ff = co.swg_ff  # counters only: the read word is registered in its memory
        if layer.kpar > 1:  # each further lane: its read address, pad mux and queue bits
            lut += (layer.kpar - 1) * (co.swg_lane_lut + co.swg_lane_lut_per_bit * bits)
            ff += co.swg_par_ff
        return {"LUT": lut, "FF": ff}
    if isinstance(layer, Pool):
        bits = layer.pe * layer.out_dtype.bits
        k = layer.kernel[0] + layer.kernel[1] - 2  # reduce2 operators per element
        return {"LUT": co.pool_lut + co.pool_lut_per_bit * k * bits + 2 * fifo_luts(bits, QUEUE_DEPTH["qloom_pool"], co),
                "FF": co.pool_ff + 3 * bits}
    if isinstance(layer, LabelSelect):
        kept = layer.k * (layer.in_dtype.bits + layer.out_dtype.bits)
        return {"LUT": co.label_lut + co.label_lut_per_bit * kept, "FF": co.ff_base + kept}
    if isinstance(layer, (Fork, AddStreams, Concat)):
        return _dag_logic(layer, co)
    raise NotImplementedError(f"no resource model for {layer.kind}")


def mmv_logic(layer: Layer, co: Coefficients = DEFAULT) -> dict:
    """What MMV > 1 (`ops.MatVec.mmv`, `ops.SlidingWindow.mmv`) adds to `_logic` (which counts
    the layer at MMV = 1; the memories count their banks themselves): a MatVec replicates its
    lanes, sum trees, accumulators and compares per further vector (the weight read is shared;
    at PE = MH, SIMD = MW it is one constant word) and widens its output queue; a window adds
    (MMV - 1) * KPAR read lanes (address, pad mux, queue bits) of the KPAR model. Not yet
    calibrated against Yosys at MMV > 1 (tests/test_rtl_mmv.py measures a few points)."""
    m = getattr(layer, "mmv", 1)
    if m == 1:
        return {}
    if isinstance(layer, MatVec):
        one = _matvec_logic(layer, co)
        queue = fifo_luts(layer.pe * layer.out_dtype.bits, QUEUE_DEPTH["qloom_mvtu"], co)
        wide = fifo_luts(m * layer.pe * layer.out_dtype.bits, QUEUE_DEPTH["qloom_mvtu"], co)
        acc = datapath.acc_type(layer, datapath.dot_scheme(layer)).bits
        ff = 2 * layer.pe * acc + layer.simd * layer.in_dtype.bits
        return {"LUT": (m - 1) * (one["LUT"] - co.mvau_c0 - queue) + wide - queue, "FF": (m - 1) * ff,
                "DSP": (m - 1) * one["DSP"]}
    if isinstance(layer, SlidingWindow):
        bits = layer.simd * layer.in_dtype.bits
        if layer.widens:
            bits += 1 if layer.in_dtype.bipolar else layer.simd * (layer.out_dtype.bits - layer.in_dtype.bits)
        return {"LUT": (m - 1) * layer.kpar * (co.swg_lane_lut + co.swg_lane_lut_per_bit * bits)}
    return {}


def _dag_logic(layer: Layer, co: Coefficients) -> dict:
    """qloom_fork / qloom_add / qloom_concat: a 2-word register buffer per stream (2W + 5 FF,
    a 2:1 read mux per bit), then an output register (add, concat) or none (fork)."""
    pe = layer.pe
    if isinstance(layer, Fork):
        w = pe * layer.in_dtype.bits
        per_out = co.fork_lut_per_out if layer.k <= 3 else co.fork_lut_per_out_many
        return {"LUT": layer.k * (w + per_out), "FF": layer.k * (2 * w + 5)}
    ins = [pe * t.bits for t in layer.in_dtypes]
    out = pe * layer.out_dtype.bits
    ff = sum(2 * w + 5 for w in ins) + out + 1
    if isinstance(layer, AddStreams):
        return {"LUT": co.add_lut + sum(ins), "FF": ff}
    k = len(ins)
    words = max(c // pe for c in layer.channels)
    counters = math.ceil(math.log2(k)) + max(1, math.ceil(math.log2(words)))
    return {"LUT": co.concat_lut + co.concat_lut_per_port * (k - 2) + sum(ins) + (k - 2) * out / 2,
            "FF": ff + counters}


def layer_resources(layer: Layer, coeffs: Coefficients = DEFAULT) -> dict:
    """{"LUT", "FF", "BRAM18", "DSP"} of one layer at its current folding (ints)."""
    if isinstance(layer, InputQuant) or not layer.hardware:
        return dict.fromkeys(KEYS, 0)
    total = _add(_add({}, _logic(layer, coeffs)), mmv_logic(layer, coeffs))
    styles = memory_styles(layer, coeffs)
    for m in memories(layer):
        total = _add(total, memory_cost(m, styles[m.name], coeffs))
    return {k: int(round(v)) for k, v in total.items()}


def block_fifo_luts(width: int, depth: int, coeffs: Coefficients = DEFAULT) -> float:
    """qloom_fifo STYLE block: pointers, counts and flags (growing with the address width),
    the 2-word output queue's load multiplexer (a LUT per bit) and Yosys' read multiplexer
    behind a RAM of several address ranges."""
    aw = max(1, math.ceil(math.log2(depth)))
    return (coeffs.bfifo_lut + coeffs.bfifo_lut_per_addr_bit * aw + width
            + coeffs.bram_mux_lut * block_read_mux(depth, width, ram=True))


def fifo_style(depth: int, width: int, coeffs: Coefficients = DEFAULT) -> MemStyle:
    """The style of a depth x width stream FIFO: LUTRAM while it costs at most
    `auto_luts_per_bram18` LUTs per RAMB18 that block RAM would take (the rule of `auto_style`),
    else block RAM."""
    brams = bram18_count(depth, width, ram=True)
    if depth < 4 or fifo_luts(width, depth, coeffs) - block_fifo_luts(width, depth, coeffs) \
            <= coeffs.auto_luts_per_bram18 * brams:
        return MemStyle.DISTRIBUTED
    return MemStyle.BLOCK


def fifo_resources(layer: Layer, producer_block: int = 1, coeffs: Coefficients = DEFAULT, depth: int | None = None,
                   port: int = 0, par: int | None = None, style: MemStyle = MemStyle.DISTRIBUTED) -> dict:
    """qloom_fifo in front of a layer's input `port`, `hw.fifo_depth` words of its input width
    (or `depth` words of `par` elements in `style`: a DAG edge's, `fold.cycles.edge_fifos`)."""
    io = interface(layer)
    width = (io.in_par if par is None else par) * layer.in_dtypes[port].bits
    if depth is None:
        depth = fifo_depth(io, producer_block)
    cw = math.ceil(math.log2(depth + 1))
    if style is MemStyle.BLOCK:  # four counters and the queue's two words (the read register is the RAM's latch)
        return {"LUT": block_fifo_luts(width, depth, coeffs), "FF": coeffs.bfifo_ff + 4 * cw + 2 * width,
                "BRAM18": bram18_count(depth, width, ram=True), "DSP": 0}
    ff = coeffs.fifo_ff + 3 * cw
    return {"LUT": fifo_luts(width, depth, coeffs), "FF": ff, "BRAM18": 0, "DSP": 0}


def dwc_resources(a: int, b: int, bits: int, coeffs: Coefficients = DEFAULT, frame: int = 0) -> dict:
    """qloom_dwc from a to b elements per word of `bits` (frames of `frame` elements, 0: whole
    words): narrowing by an integer factor alternates two word registers behind a 2K:1
    output multiplexer, widening a gathering register and an output word; a < b otherwise
    a gearbox (a shift register and a log2(a)-stage shifter per output bit);
    anything else a barrel-shifted buffer of a + b - 1 + max(a, b) elements (sweep of 15
    ratios)."""
    if a == b:
        return dict.fromkeys(KEYS, 0)
    whole = frame == 0 or frame % a == 0
    words = max(1, -(-frame // a))
    counter = math.ceil(math.log2(words)) if not whole else 0  # the frame's input word
    if a % b == 0 and whole:  # narrowing
        return {"LUT": coeffs.dwc_narrow_lut + coeffs.dwc_lut_per_bit * a * bits,
                "FF": 2 * a * bits + math.ceil(math.log2(a // b + 1)) + 1, "BRAM18": 0, "DSP": 0}
    if b % a == 0 and whole:  # widening
        return {"LUT": coeffs.dwc_lut, "FF": (2 * b - a) * bits + math.ceil(math.log2(b // a)) + 1,
                "BRAM18": 0, "DSP": 0}
    if a < b and frame:  # gearbox (the DMA side's converter)
        # the fill level moves in steps of gcd(a, b) elements (the frame's last word aside), so the
        # low bits of the shift are constant and Yosys drops those stages (8 -> 196 elements: one of
        # three; calibration set, sfc-w2a2 zybo: 1,585 LUT, 4,240 with all three)
        step = math.gcd(a, b, frame % a or a)
        stages = max(1, math.ceil(math.log2(a)) - ((step & -step).bit_length() - 1))
        return {"LUT": coeffs.dwc_lut + counter + coeffs.dwc_gear_lut * b * bits * stages,
                "FF": (2 * b - 1) * bits + math.ceil(math.log2(b)) + counter + 1, "BRAM18": 0, "DSP": 0}
    cap = a + b - 1 + max(a, b)
    # the fill level moves in steps of gcd(a, b) elements; Yosys drops the barrel shifter
    # stages below the largest power of two dividing that step (in bits)
    step = math.gcd(a, b, frame % a or a) * bits
    grain = step & -step
    return {"LUT": coeffs.dwc_narrow_lut + counter
            + coeffs.dwc_shift_lut * cap * bits * math.log2(max(2, cap * bits / grain)),
            "FF": cap * bits + math.ceil(math.log2(cap * bits + 1)) + counter, "BRAM18": 0, "DSP": 0}


def tlast_resources(depth: int, in_words: int, out_words: int, coeffs: Coefficients = DEFAULT) -> dict:
    """qloom_tlast: two word counters (frames of `in_words` in, `out_words` out) and a 1-bit
    flag FIFO of `depth`."""
    cnt = math.ceil(math.log2(max(2, in_words))) + math.ceil(math.log2(max(2, out_words)))
    return {"LUT": fifo_luts(1, depth, coeffs) + cnt + 4,
            "FF": cnt + coeffs.fifo_ff + 3 * math.ceil(math.log2(depth + 1)), "BRAM18": 0, "DSP": 0}


def pipeline_depth(layer: Layer, coeffs: Coefficients = DEFAULT) -> int:
    """Register stages a core adds beyond its stream arithmetic (its LAT), for the latency model."""
    if isinstance(layer, (MatVec, DepthwiseMatVec)):  # qloom_vvau: qloom_mvtu's three stages
        return coeffs.mvau_depth + coeffs.adder_tree_depth_per_level * math.ceil(math.log2(layer.simd))
    return coeffs.stream_depth


@dataclass(frozen=True)
class RtlCostModel:
    """`qloom.fold.model.CostModel` for the qloom RTL library, at calibration `coeffs`."""

    coeffs: Coefficients = DEFAULT
    name: str = "rtl"

    def layer(self, layer: Layer) -> dict:
        return layer_resources(layer, self.coeffs)

    def fifo(self, layer: Layer, producer_block: int = 1, depth: int | None = None, port: int = 0,
             par: int | None = None, style: MemStyle = MemStyle.DISTRIBUTED) -> dict:
        return fifo_resources(layer, producer_block, self.coeffs, depth, port, par, style)

    def fifo_style(self, depth: int, width: int) -> MemStyle:
        return fifo_style(depth, width, self.coeffs)

    def queue_words(self, layer: Layer) -> int:
        return held_words()

    def converter(self, a: int, b: int, bits: int, frame: int = 0) -> dict:
        return dwc_resources(a, b, bits, self.coeffs, frame)

    def tlast(self, depth: int, in_words: int, out_words: int) -> dict:
        return tlast_resources(depth, in_words, out_words, self.coeffs)

    def memory_styles(self, layer: Layer) -> dict[str, MemStyle]:
        return memory_styles(layer, self.coeffs)

    def depth(self, layer: Layer) -> int:
        return pipeline_depth(layer, self.coeffs)


@functools.lru_cache(maxsize=16)
def cost_model(coeffs: Coefficients = DEFAULT) -> RtlCostModel:
    """The RTL cost model at `coeffs` (what `qloom.fold.model.cost_model` asks the backend for)."""
    return RtlCostModel(coeffs)
