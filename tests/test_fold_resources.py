"""The resource model: Yosys's block RAM packing, the MatVec datapath terms, DSP rule, report layout.

The model's agreement with real Yosys runs is tests/test_calibration.py; these check its
structure and the Yosys facts it encodes, without running Yosys."""

import dataclasses
import json
import math

import numpy as np
import pytest
from fold_graphs import dense, tiny_cnn, zoo
from hypothesis import given, strategies as st

from qloom.backends.rtl import datapath
from qloom.backends.rtl.coeffs import DEFAULT, Coefficients
from qloom.backends.rtl.cost import (LINE, RAM_SDP, Memory, auto_style, bram18_count, compare_bits, lutram_luts,
                                     memories, memory_cost, memory_luts, sum_tree_luts)
from qloom.fold import layer_resources, memory_styles, report, resources, set_folding
from qloom.ir import BIPOLAR, IntType, MemStyle


def finn_bram18(depth: int, width: int) -> int:
    """finn MVAU.bram_estimation's RAMB18 count for one memory (SDP mode)."""
    if width == 1:
        return math.ceil(depth / 16384)
    if width == 2:
        return math.ceil(depth / 8192)
    if width <= 4:
        return math.ceil(depth / 4096) * math.ceil(width / 4)
    if width <= 9:
        return math.ceil(depth / 2048) * math.ceil(width / 9)
    if width <= 18 or depth > 512:
        return math.ceil(depth / 1024) * math.ceil(width / 18)
    return math.ceil(depth / 512) * math.ceil(width / 36)


def test_bram18_known_cases():
    # measured with Yosys synth_xilinx (xc7) on $readmemh ROMs
    assert bram18_count(1024, 64) == 4  # 2 RAMB36E1
    assert bram18_count(512, 32) == 1  # 1 RAMB18E1
    assert bram18_count(64, 784) == 22  # FINN TFC fc0 at (16, 49): 22 RAMB18, as FINN counts
    assert bram18_count(4096, 37) == 9  # FINN's count is 10: Yosys packs 2 x 2K-word halves into 2Kx9 RAMs
    assert bram18_count(8192, 64) == 29  # FINN: 32
    assert bram18_count(16384, 1) == 1 and bram18_count(32768, 1) == 2
    assert bram18_count(16385, 1) == 1  # 9 address ranges of 2K x 1 packed into one 2K x 9 RAMB18
    assert bram18_count(0, 8) == 0


@given(st.integers(1, 70000), st.integers(1, 3000))
def test_bram18_holds_the_bits_and_stays_near_finn(depth, width):
    n = bram18_count(depth, width)
    assert n * 18 * 1024 >= depth * width  # 18 Kbit per RAMB18 (parity bits included)
    # Yosys trades a few more RAMs for less read-multiplexer logic on very deep memories
    assert n <= 1.2 * finn_bram18(depth, width) + 1


def test_memory_luts_and_auto_style():
    assert lutram_luts(64, 10) == 10 and lutram_luts(65, 10) == 20  # a LUT6 per bit, then MUXF7
    assert memory_luts(Memory("w", 512, 16)) == 16 * 8 * DEFAULT.rom_lut_deep  # sweep: 159
    assert memory_luts(Memory("b", 32, 12, RAM_SDP)) == 8  # RAM32M: 32 x 6 simple dual port
    assert memory_luts(Memory("l", 32, 12, LINE)) == 8  # RAM32M: 32 x 8 single port
    assert auto_style(Memory("w", 1, 500)) is MemStyle.REGISTERS  # a constant word
    assert auto_style(Memory("w", 64, 64)) is MemStyle.DISTRIBUTED  # 64 LUT vs 2 RAMB18
    assert auto_style(Memory("w", 4096, 36)) is MemStyle.BLOCK  # 2880 LUT vs 8 RAMB18
    assert auto_style(Memory("l", 4096, 36, LINE)) is MemStyle.DISTRIBUTED  # asynchronous read
    assert memory_cost(Memory("l", 4096, 36, LINE), MemStyle.BLOCK)["BRAM18"] == 0


def test_a_shallow_merged_rom_keeps_no_read_register():
    """Yosys retimes the read register of a merged ROM of <= 8 words (and of any <= 4-word ROM) to
    its address; deeper merged ROMs and plain ones keep a register per data bit."""
    ff = lambda depth, merged: memory_cost(Memory("w", depth, 4562, merged=merged), MemStyle.DISTRIBUTED)["FF"]
    assert ff(4, None) == 2 and ff(8, "xnor") == 3 and ff(6, "paired") == 3 and ff(8, "table") == 3
    assert ff(8, None) == ff(12, "table") == ff(16, "xnor") == 4562


def test_popcount_trees_have_their_own_adder_cost():
    """popcount_tree_lut prices a binary core's tree and nothing else (TABLE keeps tree_lut)."""
    binary = set_folding(zoo("tfc_w1a1"), "fc1", pe=4, simd=16).layer("fc1")
    table = dataclasses.replace(dense(mw=8, mh=4, pe=2, simd=4, n_thr=3), mem_style=MemStyle.DISTRIBUTED)
    dear = Coefficients(popcount_tree_lut=DEFAULT.popcount_tree_lut + 1.0)
    assert datapath.dot_scheme(binary) is datapath.Dot.POPCOUNT
    groups = (binary.simd + 2) // 3
    grown = layer_resources(binary, dear)["LUT"] - layer_resources(binary)["LUT"]
    assert grown > 0 and abs(grown - binary.pe * sum_tree_luts(groups, 2)) <= 1
    assert layer_resources(table, dear) == layer_resources(table)


def test_sum_tree_luts_count_each_adder_at_its_wider_operand():
    assert sum_tree_luts(1, 9) == 0
    assert sum_tree_luts(2, 9) == 9
    assert sum_tree_luts(3, 9) == 9 + 10  # (a + b) + c: the second adder has a 10-bit operand
    assert sum_tree_luts(4, 9) == 9 + 9 + 10


def test_matvec_resources_follow_the_rtl_datapath():
    # W=2, A=2, PE=2, SIMD=4, 3 thresholds: TABLE scheme; memories distributed
    l = dense(mw=8, mh=4, pe=2, simd=4, n_thr=3)
    l = dataclasses.replace(l, mem_style=MemStyle.DISTRIBUTED)
    assert datapath.dot_scheme(l) is datapath.Dot.TABLE
    thr_bits = compare_bits(l)  # the RTL stores thresholds at the accumulator width
    assert thr_bits == datapath.acc_type(l).bits
    mem = {  # name -> (depth, width)
        "weights": (2 * 2, 2 * 4 * 2),  # NF*SF words of PE*SIMD*W bits
        "thresholds": (2, 2 * 3 * thr_bits),  # NF words of PE*T thresholds
        "input_buffer": (2, 4 * 2),
    }
    assert {m.name: (m.depth, m.width) for m in memories(l)} == mem
    bigger = dataclasses.replace(l, pe=4)
    assert layer_resources(bigger)["LUT"] > layer_resources(l)["LUT"]
    assert layer_resources(l)["BRAM18"] == 0 and layer_resources(l)["DSP"] == 0


def test_explicit_style_applies_to_the_weights_auto_resolves_the_rest():
    # qloom_mvtu gets one style per memory: an explicit mem_style for the weight ROM (FINN's
    # mem_style), "auto" for the thresholds (FINN's ram_style_thresholds) and the buffer
    rng = np.random.default_rng(0)
    l = dense(mw=128, mh=64, pe=1, simd=1, n_thr=3)
    l = dataclasses.replace(l, thresholds=np.sort(rng.integers(0, 41, size=(64, 3)), axis=1))
    auto = memory_styles(l)
    assert auto["weights"] is MemStyle.BLOCK  # 8192 x 2 bits: 1 RAMB18 beats 320 LUTs
    assert auto["thresholds"] is MemStyle.DISTRIBUTED  # 64 words: a LUT per bit beats a RAMB18
    assert auto["input_buffer"] is MemStyle.DISTRIBUTED
    block = dataclasses.replace(l, mem_style=MemStyle.BLOCK)
    assert memory_styles(block)["weights"] is MemStyle.BLOCK
    assert memory_styles(block)["thresholds"] is MemStyle.DISTRIBUTED  # 64 words: still LUTs
    dist = dataclasses.replace(l, mem_style=MemStyle.DISTRIBUTED)
    assert memory_styles(dist)["weights"] is MemStyle.DISTRIBUTED
    assert memory_styles(block)["input_buffer"] is MemStyle.DISTRIBUTED  # not a ROM: always auto
    thr = {m.name: m for m in memories(l)}["thresholds"]
    assert thr.width == 3 * compare_bits(l) and 0 < thr.bits < thr.width  # constant sign bits dropped
    assert layer_resources(block)["BRAM18"] == bram18_count(8192, 2)
    assert layer_resources(dist)["BRAM18"] == 0


def test_constant_rom_columns_cost_nothing():
    # every row has the same thresholds: the ROM's words are equal, Yosys keeps no bit of it
    same = dataclasses.replace(dense(mw=128, mh=64, pe=1, simd=1, n_thr=3), mem_style=MemStyle.BLOCK)
    thr = {m.name: m for m in memories(same)}["thresholds"]
    assert thr.bits == 0 and memory_cost(thr, MemStyle.BLOCK) == {"LUT": 0, "FF": 0, "BRAM18": 0}


def test_shared_thresholds_are_broadcast_and_depth_one_roms_are_free():
    shared = dense(mw=8, mh=4, n_thr=3, shared=True)  # the RTL broadcasts (1, T) to MH rows
    assert {m.name: (m.depth, m.width) for m in memories(shared)}["thresholds"] == (4, 3 * compare_bits(shared))
    unrolled = dense(mw=8, mh=4, pe=4, simd=8)  # a single weight word: constants
    assert memory_styles(unrolled)["weights"] is MemStyle.REGISTERS
    assert "input_buffer" not in {m.name for m in memories(unrolled)}  # NF = 1: no re-reads


@pytest.mark.parametrize("w, a, dsps", [
    (BIPOLAR, BIPOLAR, 0),  # XNOR-popcount
    (BIPOLAR, IntType(8, False), 0),  # a +-1 weight is a conditional negate
    (IntType(4, True), IntType(4, False), 0),  # 8-bit products stay in LUTs
    (IntType(4, True), IntType(8, False), 0),  # a 4-bit operand: shift-add in LUTs (qloom_mvtu_leaf)
    (IntType(8, True), IntType(8, False), 2 * 4),  # one DSP48 per product
    (IntType(16, True), IntType(20, False), 2 * 4),  # 20x16 fits the 25x18 multiplier
    (IntType(24, True), IntType(24, False), 2 * 4 * 2),  # 24x24: two DSPs per product
])
def test_dsp_rule(w, a, dsps):
    l = dense(mw=8, mh=4, pe=2, simd=4, w=w, a=a, n_thr=0)
    assert layer_resources(l)["DSP"] == dsps


def test_dsp_products_take_no_multiplier_luts():
    lut = layer_resources(dense(mw=8, mh=4, pe=2, simd=4, w=IntType(4, True), a=IntType(8, False), n_thr=0))["LUT"]
    dsp = layer_resources(dense(mw=8, mh=4, pe=2, simd=4, w=IntType(8, True), a=IntType(8, False), n_thr=0))["LUT"]
    assert dsp < lut  # wider operands, but the products sit in DSP48s


def test_resources_grow_with_parallelism_and_totals_add_up():
    g = zoo("sfc_w1a1")
    small = resources(g)
    big = resources(set_folding(g, "fc1", pe=32, simd=64))
    assert big["layers"]["fc1"]["LUT"] > small["layers"]["fc1"]["LUT"]
    for r in (small, big):
        assert set(r["streams"]) == {"fc1", "fc2", "fc3", "top1"}  # a FIFO before each but the first
        for k in ("LUT", "FF", "BRAM18", "DSP"):
            assert r["totals"][k] == sum(v[k] for v in r["layers"].values()) + sum(v[k] for v in r["streams"].values())
            assert r["totals_with_dma"][k] == r["totals"][k] + r["dma"][k]
    assert small["layers"]["input"] == {"LUT": 0, "FF": 0, "BRAM18": 0, "DSP": 0}


def test_window_pool_threshold_label_have_resources():
    r = resources(tiny_cnn())["layers"]
    for name in ("swg", "pool", "thr", "top"):
        assert r[name]["LUT"] > 0 and r[name]["FF"] > 0 and r[name]["DSP"] == 0
    (buf,) = memories(zoo("cnv_w1a1").layer("swg1"))  # qloom_swg: a ring of 2*KH rows of W*C/SIMD words
    assert (buf.name, buf.count, buf.depth, buf.width) == ("line_buffer", 1, 6 * 30 * 64, 1)
    lines = {m.name: (m.count, m.depth, m.width) for m in memories(tiny_cnn().layer("pool"))}
    assert lines == {"column_lines": (1, 8, 10), "row_lines": (1, 3 * 8, 10)}  # KW-1, KH-1 delay lines


# Yosys synth_xilinx xc7 slice LUTs of qloom_fifo (STYLE 2) measured by a sweep: (width, depth) -> LUT
FIFO_SWEEP = {(2, 6): 23, (16, 20): 38, (40, 20): 54, (16, 34): 52, (40, 40): 84, (16, 66): 89, (40, 66): 161,
              (6, 100): 59, (40, 100): 189, (16, 160): 133, (40, 160): 261, (16, 200): 153, (40, 258): 404,
              (16, 300): 200, (40, 512): 609, (16, 700): 391, (40, 1024): 1233}


def test_fifo_luts_follow_the_yosys_sweep():
    from qloom.backends.rtl.cost import fifo_luts

    for (width, depth), luts in FIFO_SWEEP.items():
        assert abs(fifo_luts(width, depth) - luts) <= 0.10 * luts, (width, depth, fifo_luts(width, depth), luts)
    # deeper FIFOs never cost less
    assert all(fifo_luts(16, d + 1) >= fifo_luts(16, d) - 1e-9 for d in range(2, 1100))


def test_stream_glue_fifo_and_width_converter():
    from qloom.fold.resources import stream_resources
    g = zoo("tfc_w1a1")
    a, b = set_folding(g, "fc0", pe=16).layer("fc0"), set_folding(g, "fc1", simd=8).layer("fc1")
    same = stream_resources(set_folding(g, "fc0", pe=8).layer("fc0"), b)
    dwc = stream_resources(a, b)  # 16 -> 8 elements per word needs a qloom_dwc
    assert dwc["LUT"] > same["LUT"] and dwc["FF"] > same["FF"] and dwc["BRAM18"] == 0


def test_coefficients_are_the_calibration_knob():
    g = zoo("tfc_w1a1")
    base = resources(g)["totals"]["LUT"]
    assert resources(g, Coefficients(mvau_c0=0.0))["totals"]["LUT"] == base - round(4 * DEFAULT.mvau_c0)


def test_tfc_at_finn_folding_is_below_finn_estimate():
    # FINN's estimate for this folding: 9,678 LUT and 26 RAMB18 (issue 5: ours at most that)
    g = zoo("tfc_w1a1")
    for name, pe, simd, style in [("fc0", 16, 49, "block"), ("fc1", 8, 8, "auto"), ("fc2", 8, 8, "auto"), ("fc3", 10, 8, "distributed")]:
        g = set_folding(g, name, pe=pe, simd=simd, mem_style=style)
    tot = resources(g)["totals"]
    assert tot["LUT"] <= 9678
    # block RAM only for fc0's weights: 22 RAMB18 (FINN: 26); its 4-word thresholds stay in LUTs
    fc0 = {m.name: m for m in memories(g.layer("fc0"))}
    assert bram18_count(64, 784) == 22 and memory_styles(g.layer("fc0"))["thresholds"] is MemStyle.DISTRIBUTED
    assert fc0["thresholds"].depth == 4
    assert tot["BRAM18"] == 22 < 26
    assert tot["DSP"] == 0


def test_report_layout_and_board_utilization():
    g = zoo("tfc_w1a1")
    rep = report(g, 100.0, board="PYNQ-Z2")
    json.dumps(rep)  # report.json must serialise as is
    assert [l["name"] for l in rep["layers"]] == [l.name for l in g.layers]
    fc0 = rep["layers"][1]
    assert set(fc0) >= {"name", "kind", "in_shape", "out_shape", "pe", "simd", "cycles", "resources", "mem_style"}
    assert fc0["kind"] == "MatVec" and fc0["in_shape"] == [1, 1, 784] and fc0["out_shape"] == [1, 1, 64]
    assert set(fc0["resources"]) == {"LUT", "FF", "BRAM18", "DSP"}
    for k in ("totals", "cycles_per_frame", "latency_cycles", "fps", "clock_mhz", "bottleneck"):
        assert k in rep
    b = rep["board"]
    assert b["name"] == "PYNQ-Z2" and b["part"] == "xc7z020clg400-1" and b["capacity"]["LUT"] == 53200
    assert b["utilization"]["LUT"] == pytest.approx(rep["totals"]["LUT"] / 53200)
    assert report(g, 100.0)["board"] is None


def test_dma_side_resources_follow_the_converter():
    """A 392-bit first layer needs the 8 -> 49 gearbox on its DMA side; a byte-wide one none."""
    from qloom.fold.cycles import dma_geometry
    from qloom.fold.resources import dma_resources, dwc_resources

    g = zoo("tfc_w1a1")
    wide = set_folding(g, "fc0", pe=16, simd=49)  # BIPOLAR x 49: not a DMA width
    byte = set_folding(g, "fc0", pe=16, simd=8)   # 8 bits: the DMA word as it is
    assert dma_geometry(wide)[0].converter and not dma_geometry(byte)[0].converter
    assert dma_resources(wide)["LUT"] > dma_resources(byte)["LUT"] > 0  # TLAST costs a little always
    # the gearbox (a DMA-side frame) is cheaper than the barrel-shifted general form
    assert dwc_resources(8, 49, 8, frame=784)["LUT"] < dwc_resources(8, 49, 8)["LUT"]
    assert dwc_resources(8, 16, 8, frame=784) == dwc_resources(8, 16, 8)  # whole words: plain widening
