"""MMV (FINN's idea: several output pixels per cycle). qloom_swg at MMV > 1 (MMV input pixels
and MMV whole windows per word) and qloom_mvtu at MMV > 1 (MMV vectors per word against one
weight read) against semantics under Icarus with random backpressure, the cycle model at full
rate, the legality rules and their errors, and MMV = 1 unchanged."""

import numpy as np
import pytest

from qloom.errors import QloomError
from qloom.fold import legal_values, set_folding
from qloom.hw import interface
from qloom.ir import BIPOLAR, IntType, SlidingWindow

from rtl_helpers import check_layer

U = lambda b: IntType(b, False)  # noqa: E731
S = lambda b: IntType(b, True)  # noqa: E731

SWG_CASES = {
    # name: (in_shape, dtype, kernel, stride, pad, pad_value, mmv)  (simd = C, kpar = KH*KW)
    "c1_mmv2": ((6, 6, 1), U(8), (3, 3), (1, 1), (0, 0, 0, 0), 0, 2),
    "c2_mmv4_pad": ((5, 8, 2), U(2), (3, 3), (1, 1), (1, 1, 1, 1), 0, 4),
    "stride2_pad_mmv3": ((7, 12, 2), S(3), (3, 3), (2, 2), (1, 1, 1, 0), -2, 3),
    "kernel_2x3_mmv2": ((5, 8, 3), S(2), (2, 3), (1, 1), (0, 1, 0, 1), 1, 2),
    "bipolar_zero_pad_mmv2": ((5, 6, 2), BIPOLAR, (3, 3), (1, 1), (1, 1, 1, 1), 0, 2),
    "pl2_stride3_mmv2": ((6, 10, 1), U(3), (3, 2), (1, 3), (0, 2, 0, 1), 0, 2),
}


def _swg(case) -> SlidingWindow:
    shape, t, k, s, pad, pv, mmv = SWG_CASES[case]
    return SlidingWindow(name="swg", in_shape=shape, in_dtype=t, kernel=k, stride=s, pad=pad, pad_value=pv,
                         simd=shape[2], kpar=k[0] * k[1], mmv=mmv)


@pytest.mark.hw
@pytest.mark.parametrize("case", sorted(SWG_CASES))
def test_swg_mmv_matches_semantics(case, tmp_path):
    layer = _swg(case)
    seed = sorted(SWG_CASES).index(case) + 300
    check_layer(layer, tmp_path / "stall", frames=3, seed=seed, p_valid=0.5, p_ready=0.6)
    run, core = check_layer(layer, tmp_path / "full", frames=4, seed=seed)
    assert core.out_par == layer.mmv * layer.simd * layer.kpar and core.params["MMV"] == layer.mmv
    ends = np.array(run.out_cycles)[core.out_words - 1 :: core.out_words]
    assert int(ends[-1] - ends[-2]) == core.cycles


MVTU_CASES = {
    # name: (in, w, MH, MW, thresholds, (H, W) vectors, mmv, extra)  (pe = MH, simd = MW)
    "binary_popcount_mmv2": (BIPOLAR, BIPOLAR, 5, 7, 1, (2, 3), 2, dict(base=-1, step=2)),
    "binary_acc_mmv3": (BIPOLAR, BIPOLAR, 4, 9, None, (2, 3), 3, {}),
    "u2_s2_table_thr3_mmv2": (U(2), S(2), 6, 8, 3, (2, 2), 2, {}),
    "u8_bipolar_w_masked_mmv2": (U(8), BIPOLAR, 3, 7, 1, (1, 4), 2, {}),
    "u8_bipolar_w_paired_mmv3": (U(8), BIPOLAR, 4, 7, 2, (3, 1), 3, {}),
    "u8_s2_pow2_mmv6": (U(8), S(2), 4, 9, 3, (2, 3), 6, {}),
    "s7_in_bipolar_w_shiftadd_mmv2": (S(7), BIPOLAR, 3, 6, None, (2, 2), 2, {}),
    "u8_s8_wide_mmv2": (U(8), S(8), 2, 3, None, (1, 2), 2, {}),
}


@pytest.mark.hw
@pytest.mark.parametrize("case", sorted(MVTU_CASES))
def test_mvtu_mmv_matches_semantics(case, tmp_path):
    """MMV vectors per word through the one weight read: equal to semantics under stalls; at
    full rate one word per clock, out_words = vectors / MMV."""
    from dataclasses import replace

    from test_rtl_mvtu import random_matvec

    in_t, w_t, mh, mw, n_thr, hw, mmv, extra = MVTU_CASES[case]
    seed = sorted(MVTU_CASES).index(case) + 400
    layer = replace(random_matvec(np.random.default_rng(seed), in_t, w_t, mh, mw, mh, mw, n_thr, hw=hw, **extra),
                    mmv=mmv)
    check_layer(layer, tmp_path / "stall", frames=3, seed=seed, p_valid=0.6, p_ready=0.5)
    run, core = check_layer(layer, tmp_path / "full", frames=3, seed=seed + 1)
    assert core.params["MMV"] == mmv and core.in_par == mmv * mw and core.out_par == mmv * mh
    assert core.out_words == hw[0] * hw[1] // mmv == core.cycles
    assert set(np.diff(run.out_cycles).tolist()) == {1}
