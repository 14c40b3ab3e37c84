"""A stitched design with a depthwise unit, through qloom's Verilator bench (`verify_rtl`):
window -> depthwise -> pointwise MatVec, zero mismatches under random backpressure and the
measured II equal to the model, at a channel-folded and at a whole-pixel folding."""

import numpy as np
import pytest

from qloom import semantics as sem
from qloom.fold import performance
from qloom.fold.rules import match_windows
from qloom.ir import DepthwiseMatVec, Graph, InputQuant, IntType, OutputSpec, SlidingWindow
from qloom.testing.layers import random_matvec, random_values
from qloom.verify import rtl


def dw_graph(pe: int, simd: int, mv_pe: int, mv_simd: int, seed: int = 0) -> Graph:
    """8x8x4 UINT2 -> 3x3 pad 1 window -> depthwise (3 thresholds, UINT2) -> 4 -> 6 MatVec (logits)."""
    rng = np.random.default_rng(seed)
    u2, s2 = IntType(2, False), IntType(2, True)
    inq = InputQuant(name="inq", in_shape=(8, 8, 4), in_dtype=u2, scale=np.array(1 / 3), zero_point=np.array(0.0),
                     out_type=u2)
    swg = SlidingWindow(name="dw_swg", in_shape=(8, 8, 4), in_dtype=u2, kernel=(3, 3), pad=(1, 1, 1, 1))
    w = random_values(rng, s2, (4, 9))
    lo, hi = sem.accumulator_range(w, 0, 3)
    mid, span = (lo + hi) // 2, max(1, (hi - lo) // 3)
    thr = np.sort(rng.integers(mid - span, mid + span + 1, size=(4, 3)), axis=1)
    dw = DepthwiseMatVec(name="dw", in_shape=swg.out_shape, in_dtype=u2, weights=w, w_dtype=s2,
                         acc_dtype=IntType.for_range(lo, hi), thresholds=thr, pe=pe, simd=simd)
    pw = random_matvec(rng, "pw", (8, 8, 4), dw.out_dtype, s2, 6, None, pe=mv_pe, simd=mv_simd)
    g = Graph(name=f"dw_pe{pe}_simd{simd}", layers=(inq, swg, dw, pw),
              output=OutputSpec(scale=np.ones(6), bias=np.zeros(6)))
    return match_windows(g)


@pytest.mark.hw
@pytest.mark.parametrize("fold", [(2, 1, 2, 2), (4, 3, 3, 4)], ids=["pe2_simd1", "pe4_simd3"])
def test_depthwise_design_is_exact_with_the_modelled_ii(fold, tmp_path):
    from qloom.backends.rtl import generate

    g = dw_graph(*fold)
    swg, dw = g.layer("dw_swg"), g.layer("dw")
    assert swg.simd * swg.kpar == dw.pe * dw.simd  # the window emits the unit's word: no converter
    design = generate(g, tmp_path)
    assert rtl.lint(tmp_path) == []
    model = performance(g, 100.0)["cycles_per_frame"]
    assert design["cycles_per_frame_model"] == model == dw.vectors * (4 // dw.pe) * (9 // dw.simd)
    x = np.random.default_rng(1).random((24, 4, 8, 8)).astype(np.float32)
    entry = rtl.verify_rtl(g, tmp_path, x, seed=5, stall_prob=0.3)
    assert entry["error"] is None, entry["error"]
    assert entry["mismatches"] == 0 and entry["steady_mismatches"] == 0, entry["first_mismatch"]
    assert entry["protocol_errors"] == 0 and entry["extra_words"] == 0
    assert entry["cycles_per_frame"] == model, (entry["cycles_per_frame"], model)
    assert entry["passed"]
