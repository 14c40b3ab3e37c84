"""Resource model per layer: LUT, FF, BRAM18 (RAMB18 equivalents) and DSP48.

MatVec logic follows FINN-R (finn `MVAU_hls.lut_estimation`), with the accumulator width
and threshold count taken from the IR instead of FINN's bounds:

    LUT  = c0 + c1 * PE * (mult + adder + acc + cmp) + memory LUTs
    mult = SIMD * (2*ceil((W+A)/6) - 1) * (W+A)   (0 when the products go to DSPs)
    adder = (W+A) * (2*SIMD - 1),  acc = accumulator bits,  cmp = T * threshold bits
    DSP  = PE * SIMD * ceil(W/25) * ceil(A/18) when W, A >= 2 and W+A >= 9, else 0

so binary layers (XNOR-popcount) and narrow products never use DSPs. Memories are the ones
the RTL cores build (`memories`: weight and threshold ROMs, the MatVec input buffer, the
sliding window's double frame buffer, the pool's delay lines). Each costs RAMB18s, counted
from depth x width over the RAMB18 aspect ratios (16Kx1 ... 512x36; wider memories tile
ceil(width/36) per 512 words, as finn `MVAU.bram_estimation`), or LUTRAM at
ceil(depth/64) * width LUTs. A ROM of depth 1 is a constant and costs nothing. "auto" picks
LUTRAM while it costs at most `auto_luts_per_bram18` LUTs per RAMB18 saved; a MatVec's
mem_style applies to its weight and threshold ROMs alike (qloom_mvtu passes one MEM_STYLE to
both). `stream_resources` counts the FIFO and width converter in front of each layer. FF
counts are qloom's own (FINN has none). All constants live in `coeffs.Coefficients`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from qloom.fold.coeffs import DEFAULT, LUTRAM_DEPTH, RAMB18_SHAPES, Coefficients
from qloom.fold.cycles import in_par, out_par
from qloom.ir import Graph, InputQuant, IntType, LabelSelect, Layer, MatVec, MemStyle, Pool, SlidingWindow, Threshold

KEYS = ("LUT", "FF", "BRAM18", "DSP")


@dataclass(frozen=True)
class Memory:
    """`count` identical memories of depth x width bits; `rom` if filled at build time."""

    name: str
    depth: int
    width: int
    rom: bool = True
    count: int = 1
    style_field: bool = True  # follows the layer's mem_style (False: always auto)


def bram18_count(depth: int, width: int) -> int:
    """RAMB18s for one depth x width memory: the best RAMB18 aspect ratio, tiled."""
    if depth <= 0 or width <= 0:
        return 0
    return min(math.ceil(depth / d) * math.ceil(width / w) for d, w in RAMB18_SHAPES)


def lutram_luts(depth: int, width: int) -> int:
    """LUTs of a LUTRAM/LUT-ROM: one LUT6 holds 64 x 1 bits."""
    return math.ceil(depth / LUTRAM_DEPTH) * width


def auto_style(mem: Memory, coeffs: Coefficients = DEFAULT) -> MemStyle:
    """What "auto" resolves to: registers for one word, else LUTRAM while it is cheap."""
    if mem.depth <= 1:
        return MemStyle.REGISTERS
    if lutram_luts(mem.depth, mem.width) <= coeffs.auto_luts_per_bram18 * bram18_count(mem.depth, mem.width):
        return MemStyle.DISTRIBUTED
    return MemStyle.BLOCK


def memory_cost(mem: Memory, style: MemStyle) -> dict:
    """LUT/FF/BRAM18 of `mem` stored in a resolved style (not AUTO)."""
    n = mem.count
    if style is MemStyle.BLOCK:
        return {"LUT": 0, "FF": 0, "BRAM18": n * bram18_count(mem.depth, mem.width)}
    if mem.depth <= 1:  # a constant (ROM) or a register (RAM)
        return {"LUT": 0, "FF": 0 if mem.rom else n * mem.width, "BRAM18": 0}
    # LUTRAM or LUT-ROM, registered read port
    return {"LUT": n * lutram_luts(mem.depth, mem.width), "FF": n * mem.width, "BRAM18": 0}


def compare_bits(layer: Layer) -> int:
    """Width of a stored threshold, as the RTL stores it: signed, covering the compared values
    and a threshold clipped one above them (qloom_mvtu ACC_BITS, qloom_thresh CMP_BITS)."""
    t = layer.acc_dtype if isinstance(layer, MatVec) else layer.in_dtype
    return IntType.for_range(min(t.min, -1), t.max + 1).bits


def memories(layer: Layer) -> list[Memory]:
    """The storage the RTL core of a layer builds at its current folding."""
    h, w, c = layer.in_shape
    if isinstance(layer, MatVec):
        sf, nf = layer.mw // layer.simd, layer.mh // layer.pe
        mems = [Memory("weights", sf * nf, layer.pe * layer.simd * layer.w_dtype.bits)]
        if layer.thresholds is not None:  # shared (1, T) thresholds are broadcast to MH rows
            n_thr = max(1, layer.thresholds.shape[1])
            mems.append(Memory("thresholds", nf, layer.pe * n_thr * compare_bits(layer)))
        if nf > 1:  # the input vector is replayed once per further row fold
            mems.append(Memory("input_buffer", sf, layer.simd * layer.in_dtype.bits, rom=False, style_field=False))
        return mems
    if isinstance(layer, Threshold):
        n_thr = max(1, layer.thresholds.shape[1])
        return [Memory("thresholds", c // layer.pe, layer.pe * n_thr * compare_bits(layer))]
    if isinstance(layer, SlidingWindow):
        # qloom_swg: one memory of two frame banks, H*W*C/SIMD words each
        return [Memory("frame_buffer", 2 * h * w * c // layer.simd, layer.simd * layer.in_dtype.bits,
                       rom=False, style_field=False)]
    if isinstance(layer, Pool):
        # qloom_pool: KW-1 pixel delay lines of C/PE words, KH-1 row delay lines of OW*C/PE
        (kh, kw), ow, cf = layer.kernel, layer.out_shape[1], c // layer.pe
        mems = []
        if kw > 1:
            mems.append(Memory("column_lines", cf, layer.pe * layer.out_dtype.bits, rom=False, count=kw - 1, style_field=False))
        if kh > 1:
            mems.append(Memory("row_lines", ow * cf, layer.pe * layer.out_dtype.bits, rom=False, count=kh - 1, style_field=False))
        return mems
    return []


def memory_styles(layer: Layer, coeffs: Coefficients = DEFAULT) -> dict[str, MemStyle]:
    """Memory name -> the style the backend builds (an explicit mem_style wins, AUTO resolves)."""
    field = getattr(layer, "mem_style", MemStyle.AUTO)
    out = {}
    for m in memories(layer):
        out[m.name] = field if (m.style_field and field is not MemStyle.AUTO) else auto_style(m, coeffs)
    return out


def _add(a: dict, b: dict) -> dict:
    return {k: a.get(k, 0) + b.get(k, 0) for k in KEYS}


def _uses_dsp(w: int, a: int, coeffs: Coefficients) -> bool:
    return w >= 2 and a >= 2 and w + a >= coeffs.dsp_min_product_bits


def _matvec_logic(l: MatVec, co: Coefficients) -> dict:
    wb, ab, p, q = l.w_dtype.bits, l.in_dtype.bits, l.pe, l.simd
    acc = l.acc_dtype.bits
    dsp = _uses_dsp(wb, ab, co)
    mult = 0 if dsp else q * (2 * math.ceil((wb + ab) / 6) - 1) * (wb + ab)
    adder = (wb + ab) * (2 * q - 1)
    cmp = max(1, l.thresholds.shape[1]) * compare_bits(l) if l.thresholds is not None else 0
    big, small = max(wb, ab), min(wb, ab)
    return {
        "LUT": co.mvau_c0 + co.mvau_c1 * p * (mult + adder + acc + cmp),
        "FF": co.ff_base + p * (acc + l.out_dtype.bits) + co.ff_per_lane_bit * p * q * (wb + ab),
        "DSP": p * q * math.ceil(big / co.dsp_a_bits) * math.ceil(small / co.dsp_b_bits) if dsp else 0,
    }


def _logic(layer: Layer, co: Coefficients) -> dict:
    """Datapath and control of a layer, memories excluded."""
    if isinstance(layer, MatVec):
        return _matvec_logic(layer, co)
    if isinstance(layer, Threshold):
        t, bits = max(1, layer.thresholds.shape[1]), compare_bits(layer)
        return {"LUT": co.thr_lut + layer.pe * t * bits, "FF": co.ff_base + layer.pe * layer.out_dtype.bits}
    if isinstance(layer, SlidingWindow):
        return {"LUT": co.swg_lut, "FF": co.ff_base + layer.simd * layer.in_dtype.bits}
    if isinstance(layer, Pool):
        bits = layer.pe * layer.out_dtype.bits
        return {"LUT": co.pool_lut + co.pool_lut_per_bit * bits, "FF": co.ff_base + bits}
    if isinstance(layer, LabelSelect):
        kept = layer.k * (layer.in_dtype.bits + layer.out_dtype.bits)
        return {"LUT": co.label_lut + co.label_lut_per_bit * kept, "FF": co.ff_base + kept}
    raise NotImplementedError(f"no resource model for {layer.kind}")


def layer_resources(layer: Layer, coeffs: Coefficients = DEFAULT) -> dict:
    """{"LUT", "FF", "BRAM18", "DSP"} of one layer at its current folding (ints)."""
    if isinstance(layer, InputQuant) or not layer.hardware:
        return dict.fromkeys(KEYS, 0)
    total = _add({}, _logic(layer, coeffs))
    styles = memory_styles(layer, coeffs)
    for m in memories(layer):
        total = _add(total, memory_cost(m, styles[m.name]))
    return {k: int(round(v)) for k, v in total.items()}


def _in_burst(layer: Layer) -> int:
    """Input words a core takes back to back (a MatVec reads a whole vector in fold 0)."""
    if isinstance(layer, MatVec) and layer.mh > layer.pe:
        return layer.mw // layer.simd
    return 1


def _out_block(layer: Layer) -> int:
    """Output words a core may emit in one run (a pool finishes a row of windows at once)."""
    return layer.out_shape[1] * layer.in_shape[2] // layer.pe if isinstance(layer, Pool) else 1


def fifo_resources(layer: Layer, producer_block: int = 1, coeffs: Coefficients = DEFAULT) -> dict:
    """qloom_fifo in front of a layer: max(its input burst + the producer's output block, 2)
    + 2 words of its input width, in asynchronous-read LUTRAM."""
    width = in_par(layer) * layer.in_dtype.bits
    depth = max(_in_burst(layer) + producer_block, 2) + 2
    lut = coeffs.fifo_lut + coeffs.fifo_lut_per_bit * width * math.ceil(depth / 32)
    ff = coeffs.fifo_ff + 3 * math.ceil(math.log2(depth + 1))
    return {"LUT": lut, "FF": ff, "BRAM18": 0, "DSP": 0}


def stream_resources(prev: Layer, layer: Layer, coeffs: Coefficients = DEFAULT) -> dict:
    """The FIFO, and the qloom_dwc width converter when producer PE != consumer SIMD (a shift
    buffer of IN + OUT - 1 + max(IN, OUT) elements), the top level puts before `layer`."""
    total = fifo_resources(layer, _out_block(prev), coeffs)
    a, b = out_par(prev), in_par(layer)
    if a != b:
        cap = (a + b - 1 + max(a, b)) * layer.in_dtype.bits
        total = _add(total, {"LUT": coeffs.dwc_lut_per_bit * cap, "FF": cap + math.ceil(math.log2(a + b + max(a, b)))})
    return {k: int(round(v)) for k, v in total.items()}


def resources(graph: Graph, coeffs: Coefficients = DEFAULT) -> dict:
    """Per layer resources, the stream glue in front of each layer, and totals.

    {"layers": {name: {LUT, FF, BRAM18, DSP}}, "streams": {name: {...}}, "totals": {...}};
    "layers" are the cores alone (what per-module synthesis counts), totals add the glue.
    """
    per = {l.name: layer_resources(l, coeffs) for l in graph.layers}
    hw = graph.hardware_layers
    streams = {b.name: stream_resources(a, b, coeffs) for a, b in zip(hw, hw[1:])}
    totals = dict.fromkeys(KEYS, 0)
    for r in list(per.values()) + list(streams.values()):
        totals = _add(totals, r)
    return {"layers": per, "streams": streams, "totals": totals}


def reported_mem_style(layer: Layer, coeffs: Coefficients = DEFAULT) -> str | None:
    """The style of a layer's main memory (weights, else thresholds) for reports."""
    styles = memory_styles(layer, coeffs)
    for name in ("weights", "thresholds"):
        if name in styles:
            return styles[name].value
    return None
