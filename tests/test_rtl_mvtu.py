"""qloom_mvtu against semantics (via sim.run_layer), under Icarus with random stalls.

Each case is a hand-picked awkward folding (1-bit, PE=1, PE=MH, SIMD=MW, non-power-of-2
folds) with random weights, inputs and thresholds; a second run at full rate checks the
schedule: one step per clock, so consecutive output words are exactly MW/SIMD clocks apart.
"""

import numpy as np
import pytest

from qloom.ir import BIPOLAR, IntType, MatVec, MemStyle
from qloom.testing.layers import random_matvec as _random_matvec

from rtl_helpers import check_layer

U = lambda b: IntType(b, False)  # noqa: E731
S = lambda b: IntType(b, True)  # noqa: E731


def random_matvec(rng, in_t, w_t, mh, mw, pe, simd, n_thr, hw=(1, 1), shared=False, base=0, step=1,
                  mem_style=MemStyle.AUTO, name="mv") -> MatVec:
    """Thresholds up to 2 beyond the accumulator range on each side: the clipping is exercised."""
    return _random_matvec(rng, name, (*hw, mw), in_t, w_t, mh, n_thr, spread="beyond", shared=shared,
                          out_base=base, out_step=step, pe=pe, simd=simd, mem_style=mem_style)


CASES = {
    # name: (in, w, MH, MW, PE, SIMD, thresholds, extra)
    "binary_bipolar_out": (BIPOLAR, BIPOLAR, 4, 6, 2, 3, 1, dict(base=-1, step=2)),
    "binary_acc_pe_mh_simd_mw": (BIPOLAR, BIPOLAR, 5, 7, 5, 7, None, {}),
    "binary_thr3_pe1_simd1": (BIPOLAR, BIPOLAR, 3, 5, 1, 1, 3, {}),
    "u2_s2_thr3": (U(2), S(2), 6, 8, 2, 4, 3, dict(mem_style=MemStyle.BLOCK)),
    "s4_s3_acc_conv": (S(4), S(3), 6, 10, 3, 5, None, dict(hw=(2, 2), mem_style=MemStyle.DISTRIBUTED)),
    "bipolar_in_s4_w": (BIPOLAR, S(4), 4, 6, 4, 2, 2, dict(mem_style=MemStyle.REGISTERS)),
    "u3_in_bipolar_w": (U(3), BIPOLAR, 4, 6, 2, 6, None, {}),
    "u1_in_u2_w_shared_thr": (U(1), U(2), 6, 9, 3, 3, 4, dict(shared=True, base=-2, step=1)),
    "s2_u1_step2": (S(2), U(1), 2, 4, 1, 4, 2, dict(base=1, step=2)),
    "no_thresholds_columns": (U(2), S(2), 2, 4, 2, 2, 0, dict(base=3)),
    "u8_s8_wide": (U(8), S(8), 8, 12, 4, 3, None, {}),
    # bipolar weights with thresholds: complemented leaves, thresholds moved per row (MASKED)
    "u8_bipolar_w_masked_odd_simd": (U(8), BIPOLAR, 6, 21, 3, 7, 1, {}),
    "s5_bipolar_w_masked_thr3": (S(5), BIPOLAR, 4, 12, 2, 12, 3, dict(hw=(1, 2))),
    "u4_bipolar_w_masked_simd1": (U(4), BIPOLAR, 2, 3, 1, 1, 2, {}),
    # ... with 4+ PEs, over lane pairs whose sum and difference the PEs share (PAIRED)
    "u8_bipolar_w_paired_odd_simd": (U(8), BIPOLAR, 8, 14, 4, 7, 1, dict(hw=(1, 2))),
    "s3_bipolar_w_paired_thr3": (S(3), BIPOLAR, 12, 8, 6, 4, 3, {}),
    # 2-bit weights, wide inputs, thresholds: one-LUT-per-bit leaves (POW2)
    "u8_s2_pow2": (U(8), S(2), 4, 10, 2, 5, 3, dict(hw=(2, 1))),
    "s6_s2_pow2_simd1": (S(6), S(2), 3, 6, 1, 1, 1, {}),
    # shift-add in LUTs: a bipolar operand negates the other, or over the narrow input's bits
    "bipolar_in_s7_w_shiftadd": (BIPOLAR, S(7), 4, 6, 2, 3, None, {}),
    "s7_in_bipolar_w_shiftadd": (S(7), BIPOLAR, 4, 6, 2, 3, None, {}),
    "u3_s6_shiftadd_by_x": (U(3), S(6), 4, 6, 2, 3, 2, {}),
}


@pytest.mark.hw
@pytest.mark.parametrize("case", sorted(CASES))
def test_mvtu_matches_semantics_with_stalls(case, tmp_path):
    in_t, w_t, mh, mw, pe, simd, n_thr, extra = CASES[case]
    seed = sorted(CASES).index(case) + 10
    layer = random_matvec(np.random.default_rng(seed), in_t, w_t, mh, mw, pe, simd, n_thr, **extra)
    check_layer(layer, tmp_path / "stall", frames=3, seed=seed, p_valid=0.6, p_ready=0.5)
    run, core = check_layer(layer, tmp_path / "full", frames=3, seed=seed + 1)
    sf = mw // simd
    gaps = np.diff(run.out_cycles)
    assert set(gaps.tolist()) == {sf}, f"bubbles in the schedule: output gaps {gaps.tolist()}"
    assert core.cycles == core.out_words * sf
