"""qloom_swg and qloom_pool against semantics under Icarus: strides, padding, odd sizes.

Full-rate runs also check the cycle model: frames leave the core exactly `core.cycles`
clocks apart in steady state.
"""

import numpy as np
import pytest

from qloom.ir import BIPOLAR, IntType, Pool, PoolMode, SlidingWindow

from rtl_helpers import check_layer

U = lambda b: IntType(b, False)  # noqa: E731
S = lambda b: IntType(b, True)  # noqa: E731

SWG_CASES = {
    # name: (in_shape, dtype, kernel, stride, pad, pad_value, simd)
    "3x3_s1_nopad": ((5, 5, 2), U(2), (3, 3), (1, 1), (0, 0, 0, 0), 0, 1),
    "3x3_pad1_simd2": ((4, 5, 4), S(3), (3, 3), (1, 1), (1, 1, 1, 1), -2, 2),
    "2x3_stride2_asym_pad": ((6, 7, 3), U(3), (2, 3), (2, 2), (0, 1, 1, 2), 5, 3),
    "1x1_bipolar": ((3, 3, 4), BIPOLAR, (1, 1), (1, 1), (0, 0, 0, 0), 0, 4),
    "kernel_is_frame": ((3, 2, 1), U(1), (3, 2), (1, 1), (0, 0, 0, 0), 0, 1),
    "stride3_bipolar_pad": ((7, 5, 2), BIPOLAR, (3, 2), (3, 1), (1, 0, 1, 1), -1, 1),
}

POOL_CASES = {
    # name: (in_shape, dtype, mode, kernel, stride, pad, pe)
    "max2x2_s2": ((4, 6, 2), U(2), PoolMode.MAX, (2, 2), (2, 2), (0, 0, 0, 0), 1),
    "max3x3_s2_signed_pe2": ((7, 7, 4), S(4), PoolMode.MAX, (3, 3), (2, 2), (0, 0, 0, 0), 2),
    "max_bipolar_pe_c": ((4, 4, 3), BIPOLAR, PoolMode.MAX, (2, 2), (2, 2), (0, 0, 0, 0), 3),
    "max3x3_s1_pad1": ((5, 4, 2), S(3), PoolMode.MAX, (3, 3), (1, 1), (1, 1, 1, 1), 1),
    "sum2x2_s2_unsigned": ((4, 4, 2), U(3), PoolMode.SUM, (2, 2), (2, 2), (0, 0, 0, 0), 2),
    "sum3x2_s1_signed_pad": ((4, 5, 1), S(2), PoolMode.SUM, (3, 2), (1, 1), (1, 0, 1, 1), 1),
    "sum_bipolar_global": ((3, 3, 2), BIPOLAR, PoolMode.SUM, (3, 3), (1, 1), (0, 0, 0, 0), 1),
    "max_odd_stride_no_cover": ((5, 6, 1), U(4), PoolMode.MAX, (2, 2), (3, 3), (0, 0, 0, 0), 1),
}


def _swg(case) -> SlidingWindow:
    shape, t, k, s, pad, pv, simd = SWG_CASES[case]
    return SlidingWindow(name="swg", in_shape=shape, in_dtype=t, kernel=k, stride=s, pad=pad, pad_value=pv, simd=simd)


def _pool(case) -> Pool:
    shape, t, mode, k, s, pad, pe = POOL_CASES[case]
    return Pool(name="pool", in_shape=shape, in_dtype=t, mode=mode, kernel=k, stride=s, pad=pad, pe=pe)


def _frame_period(run, core, frames: int) -> int:
    """Clocks between the last output words of the last two frames."""
    ends = np.array(run.out_cycles)[core.out_words - 1 :: core.out_words]
    assert len(ends) == frames
    return int(ends[-1] - ends[-2])


@pytest.mark.hw
@pytest.mark.parametrize("case", sorted(SWG_CASES))
def test_swg_matches_semantics(case, tmp_path):
    layer = _swg(case)
    seed = sorted(SWG_CASES).index(case)
    check_layer(layer, tmp_path / "stall", frames=3, seed=seed, p_valid=0.5, p_ready=0.6)
    run, core = check_layer(layer, tmp_path / "full", frames=4, seed=seed)
    assert _frame_period(run, core, 4) == core.cycles


@pytest.mark.hw
@pytest.mark.parametrize("case", sorted(POOL_CASES))
def test_pool_matches_semantics(case, tmp_path):
    layer = _pool(case)
    seed = sorted(POOL_CASES).index(case) + 50
    check_layer(layer, tmp_path / "stall", frames=3, seed=seed, p_valid=0.6, p_ready=0.5)
    run, core = check_layer(layer, tmp_path / "full", frames=4, seed=seed)
    assert _frame_period(run, core, 4) == core.cycles
    if not any(layer.pad):
        assert core.cycles == core.in_words
