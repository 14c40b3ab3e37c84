"""qloom_vvau (the depthwise unit) against semantics (via sim.run_layer) under Icarus with
random stalls, then at full rate: one step per clock, every input word taken back to back,
each pixel's C/PE output words leaving together on its last kernel fold."""

import numpy as np
import pytest

from qloom import semantics as sem
from qloom.backends.rtl import layers
from qloom.ir import BIPOLAR, DepthwiseMatVec, IntType, MemStyle

from rtl_helpers import check_layer, random_values, run_core

U = lambda b: IntType(b, False)  # noqa: E731
S = lambda b: IntType(b, True)  # noqa: E731


def random_depthwise(rng, in_t, w_t, c, k, pe, simd, n_thr, hw=(2, 2), base=0, step=1, mem_style=MemStyle.AUTO,
                     shared=False) -> DepthwiseMatVec:
    """Random weights; thresholds up to 2 beyond the accumulator range (the clipping is exercised)."""
    w = random_values(rng, w_t, (c, k))
    lo, hi = sem.accumulator_range(w, in_t.min, in_t.max)
    thr = None if n_thr is None else np.sort(rng.integers(lo - 2, hi + 3, size=(1 if shared else c, n_thr)), axis=1)
    return DepthwiseMatVec(name="dw", in_shape=(*hw, k * c), in_dtype=in_t, weights=w, w_dtype=w_t,
                           acc_dtype=IntType.for_range(lo, hi), thresholds=thr, out_base=base, out_step=step,
                           pe=pe, simd=simd, mem_style=mem_style)


CASES = {
    # name: (in, w, C, K, PE, SIMD, thresholds, extra); SIMD > 1 only at PE = C (fold.rules)
    "u2_s2_table_pe2_of4": (U(2), S(2), 4, 9, 2, 1, 3, {}),
    "u2_s2_pe1_odd_c": (U(2), S(2), 5, 9, 1, 1, 2, dict(mem_style=MemStyle.BLOCK)),
    "binary_pe_c_simd3": (BIPOLAR, BIPOLAR, 3, 9, 3, 3, None, {}),
    "binary_thr1_pe1": (BIPOLAR, BIPOLAR, 6, 4, 1, 1, 1, dict(base=-1, step=2)),
    "binary_whole_window": (BIPOLAR, BIPOLAR, 2, 9, 2, 9, 2, {}),
    "s4_bipolar_w_masked_simd9": (S(4), BIPOLAR, 4, 9, 4, 9, 2, {}),
    "u4_bipolar_w_masked_pe2": (U(4), BIPOLAR, 6, 9, 2, 1, 3, dict(hw=(1, 3))),
    "u8_s2_pow2": (U(8), S(2), 4, 9, 4, 3, 3, dict(mem_style=MemStyle.DISTRIBUTED)),
    "s3_s5_shiftadd_acc": (S(3), S(5), 3, 6, 1, 1, None, dict(base=0)),
    "u8_s8_dsp": (U(8), S(8), 2, 9, 2, 3, None, {}),
    "u3_s3_shared_thr_k1": (U(3), S(3), 4, 1, 2, 1, 4, dict(shared=True, base=-2)),
    "bipolar_in_s4_w_regs": (BIPOLAR, S(4), 4, 9, 4, 1, 2, dict(mem_style=MemStyle.REGISTERS, hw=(3, 1))),
}


@pytest.mark.hw
@pytest.mark.parametrize("case", sorted(CASES))
def test_vvau_matches_semantics_with_stalls(case, tmp_path):
    in_t, w_t, c, k, pe, simd, n_thr, extra = CASES[case]
    seed = sorted(CASES).index(case) + 20
    layer = random_depthwise(np.random.default_rng(seed), in_t, w_t, c, k, pe, simd, n_thr, **extra)
    check_layer(layer, tmp_path / "stall", frames=3, seed=seed, p_valid=0.6, p_ready=0.5)
    run, core = check_layer(layer, tmp_path / "full", frames=3, seed=seed + 1)
    cf, kf = c // pe, k // simd
    assert set(np.diff(run.in_cycles).tolist()) <= {1}, "input bubbles at full rate"
    gaps = np.diff(run.out_cycles).reshape(-1) if len(run.out_cycles) > 1 else np.array([])
    want = {1} if kf == 1 else ({(kf - 1) * cf + 1, 1} if cf > 1 else {kf})
    assert set(gaps.tolist()) <= want, f"output gaps {sorted(set(gaps.tolist()))}, expected {want}"
    assert core.cycles == core.in_words == layer.vectors * cf * kf
    assert run.in_cycles[-1] - run.in_cycles[0] + 1 == 3 * core.cycles  # 3 frames, no bubble anywhere


@pytest.mark.hw
def test_a_wrong_weight_image_is_caught(tmp_path):
    """The other direction: the same bench with one weight bit flipped in the ROM image
    gives different outputs (accumulators out, so every weight shows)."""
    from dataclasses import replace

    from qloom import sim
    from qloom.packing import pack_words, unpack_words

    layer = random_depthwise(np.random.default_rng(3), U(2), S(2), 4, 9, 2, 1, None)
    core = layers.emit(layer, "core")
    x = np.full((2, *layer.in_shape), 3)  # every weight meets a nonzero input
    want = sim.run_layer(layer, x)

    def run(mems, d):
        r = run_core(tmp_path / d, core.module, core.params, pack_words(x, layer.in_dtype, core.in_par),
                     core.in_par * core.in_dtype.bits, len(x) * core.out_words, core.out_par * core.out_dtype.bits,
                     mems=mems)
        return unpack_words(r.outputs, core.out_dtype, core.out_par).reshape(want.shape)

    np.testing.assert_array_equal(run(core.mems, "good"), want)
    words = list(core.mems[0].words)
    words[5] ^= 1  # word 5 = (kf 2, cf 1): channel 2's weight at kernel position 2
    got = run((replace(core.mems[0], words=words),), "bad")
    moved = got != want
    assert moved[..., 2].all() and not np.delete(moved, 2, axis=-1).any()


def test_emitter_refuses_simd_without_whole_pixels():
    layer = random_depthwise(np.random.default_rng(0), U(2), S(2), 4, 9, 2, 3, 1)
    with pytest.raises(ValueError, match="SIMD=3 needs PE=C=4"):
        layers.emit(layer, "core")
