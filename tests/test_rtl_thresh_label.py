"""qloom_thresh and qloom_labelselect against semantics under Icarus, with random stalls."""

import numpy as np
import pytest

from qloom.ir import BIPOLAR, IntType, LabelSelect, MemStyle, Threshold

from rtl_helpers import check_layer

U = lambda b: IntType(b, False)  # noqa: E731
S = lambda b: IntType(b, True)  # noqa: E731

THRESH_CASES = {
    # name: (in_shape, dtype, n_thresholds, shared, out_base, out_step, pe)
    "u8_to_u2_pe1": ((2, 3, 3), U(8), 3, False, 0, 1, 1),
    "s6_to_bipolar_pe_c": ((1, 2, 4), S(6), 1, False, -1, 2, 4),
    "s4_shared_neg_base_pe2": ((3, 1, 6), S(4), 5, True, -3, 1, 2),
    "u1_step3": ((1, 1, 5), U(1), 2, False, 2, 3, 5),
    "bipolar_in": ((2, 2, 2), BIPOLAR, 1, False, 0, 1, 1),
    "no_thresholds": ((1, 1, 4), U(3), 0, False, 5, 1, 2),
    "s16_15thr": ((1, 1, 4), S(16), 15, False, -7, 1, 4),
}


def _thresh(case, rng) -> Threshold:
    shape, t, n, shared, base, step, pe = THRESH_CASES[case]
    thr = np.sort(rng.integers(t.min - 2, t.max + 3, size=(1 if shared else shape[2], n)), axis=1)
    style = [MemStyle.AUTO, MemStyle.BLOCK, MemStyle.DISTRIBUTED, MemStyle.REGISTERS][len(case) % 4]
    return Threshold(name="thr", in_shape=shape, in_dtype=t, thresholds=thr, out_base=base, out_step=step, pe=pe,
                     mem_style=style)


@pytest.mark.hw
@pytest.mark.parametrize("case", sorted(THRESH_CASES))
def test_threshold_matches_semantics(case, tmp_path):
    seed = sorted(THRESH_CASES).index(case) + 100
    layer = _thresh(case, np.random.default_rng(seed))
    check_layer(layer, tmp_path / "stall", frames=3, seed=seed, p_valid=0.6, p_ready=0.5)
    run, core = check_layer(layer, tmp_path / "full", frames=3, seed=seed)
    assert set(np.diff(run.out_cycles).tolist()) == {1}  # one word per clock
    assert core.cycles == core.in_words


LABEL_CASES = {
    # name: (C, k, dtype)
    "top1_of_10_s8": (10, 1, S(8)),
    "top3_of_5_u2_many_ties": (5, 3, U(2)),
    "all_of_4": (4, 4, S(3)),
    "top2_of_2_bipolar": (2, 2, BIPOLAR),
    "top1_of_1": (1, 1, U(4)),
    "top5_of_17_u1": (17, 5, U(1)),
}


@pytest.mark.hw
@pytest.mark.parametrize("case", sorted(LABEL_CASES))
def test_label_select_matches_semantics(case, tmp_path):
    c, k, t = LABEL_CASES[case]
    layer = LabelSelect(name="top", in_shape=(1, 1, c), in_dtype=t, k=k)
    seed = sorted(LABEL_CASES).index(case) + 200
    check_layer(layer, tmp_path / "stall", frames=6, seed=seed, p_valid=0.6, p_ready=0.4)
    run, core = check_layer(layer, tmp_path / "full", frames=5, seed=seed)
    ends = np.array(run.out_cycles)[k - 1 :: k]
    assert set(np.diff(ends).tolist()) == {c}  # one element per clock
