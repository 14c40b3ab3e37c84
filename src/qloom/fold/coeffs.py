"""Every constant of the cycle-latency and resource models, in one calibratable place.

Defaults come from FINN's analytical models (FINN-R, Blott et al. 2018, as coded in
finn `MVAU_hls.lut_estimation`/`dsp_estimation`, `MVAU.bram_estimation`,
`ConvolutionInputGenerator_hls`, `Thresholding_hls`) where FINN has one; the rest (FF
counts, pool/label-select logic, pipeline depths) are qloom's own first guesses, marked
"qloom". They are meant to be refitted against Yosys `synth_xilinx` counts of the RTL:
build a `Coefficients(...)` and pass it to `resources(graph, coeffs)`.
"""

from __future__ import annotations

from dataclasses import dataclass

# RAMB18E1 aspect ratios in simple-dual-port mode (UG473 table 1-3): (depth, width).
# Physical facts, not calibration: a ROM of depth x width takes the best of these.
RAMB18_SHAPES: tuple[tuple[int, int], ...] = (
    (16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36),
)
LUTRAM_DEPTH = 64  # a SLICEM LUT6 is one 64x1 RAM (RAM64X1S): LUTs = ceil(depth/64) * width


@dataclass(frozen=True)
class Coefficients:
    # --- MatVec (FINN-R): LUT = c0 + c1 * PE * (mult + adder tree + acc + comparators) + memories
    mvau_c0: float = 300.0  # FINN c0: control, stream interfaces
    mvau_c1: float = 1.1  # FINN c1: routing/packing overhead factor
    # a product at least this wide goes to a DSP48E1 (Yosys synth_xilinx xc7 maps $mul with a
    # result of >= 9 bits to DSP: DSP_Y_MINWIDTH=9); narrower products stay in LUTs
    dsp_min_product_bits: int = 9
    dsp_a_bits: int = 25  # DSP48E1 multiplier port widths (25 x 18)
    dsp_b_bits: int = 18
    # --- memories
    # auto mem style: distributed while its LUTs cost no more than this many LUTs per RAMB18
    # it replaces (Zynq-7020 has 53,200 LUT / 280 RAMB18 = 190: equal device share)
    auto_luts_per_bram18: float = 190.0
    # --- SlidingWindow: FINN ConvolutionInputGenerator_hls's 300 LUT of control; the memory is
    # what qloom_swg builds (a double-buffered frame, 2*H*W*C/SIMD words), not FINN's line buffers
    swg_lut: float = 300.0
    # --- Threshold (FINN Thresholding_hls counts comparators only; qloom adds a base)
    thr_lut: float = 50.0  # qloom
    # --- Pool and LabelSelect (no FINN estimate): qloom
    pool_lut: float = 100.0
    pool_lut_per_bit: float = 2.0  # compare + select per PE and output bit
    label_lut: float = 100.0
    label_lut_per_bit: float = 2.0  # per kept (value, index) bit: compare + shift
    # --- flip-flops: FINN has no FF model; qloom, from the datapath registers
    ff_base: float = 100.0  # per layer: stream handshake and counters
    ff_per_lane_bit: float = 0.5  # adder-tree pipeline registers per PE*SIMD*(W+A) bit
    # --- stream glue in front of each layer (qloom_fifo, qloom_dwc), qloom
    fifo_lut: float = 8.0  # pointers and count
    fifo_lut_per_bit: float = 2.0 / 3.0  # async-read LUTRAM: RAM32M stores 32 x 6 bits in 4 LUTs
    fifo_ff: float = 8.0
    dwc_lut_per_bit: float = 1.0  # one shift/hold/load mux per buffered bit
    # --- latency: register stages a layer adds beyond its stream arithmetic (the RTL's LAT)
    mvau_depth: int = 3  # qloom_mvtu: issue (ROM read), add tree + accumulate, threshold
    adder_tree_depth_per_level: int = 0  # qloom_mvtu reduces SIMD terms in one stage
    stream_depth: int = 2  # qloom_swg, qloom_pool, qloom_thresh, qloom_labelselect


DEFAULT = Coefficients()
