"""qloom_swg's ring of input rows (ROWS, `qloom.hw.linebuf`): frames taller than the ring under
Icarus against semantics (strides, padding, rows no window reads, KPAR lanes, back-to-back
frames under random backpressure), the frame period at full rate equal to the model, and
both directions: the row-level schedule's ROWS is the smallest that keeps the period, a ring
one row smaller is measurably slower, and a writer that overwrites a row still in use is
caught by the same contract check."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rtl_helpers
from qloom.backends.rtl import layers
from qloom.hw import interface
from qloom.hw.linebuf import frame_period, ring_rows, ring_rows_for
from qloom.ir import BIPOLAR, IntType, SlidingWindow

from rtl_helpers import check_layer, run_core

U = lambda b: IntType(b, False)  # noqa: E731
S = lambda b: IntType(b, True)  # noqa: E731

LINE_CASES = {
    # name: (in_shape, dtype, kernel, stride, pad, pad_value, simd, kpar)
    "3x3_tall_c1": ((14, 5, 1), U(3), (3, 3), (1, 1), (0, 0, 0, 0), 0, 1, 1),
    "3x3_pad1_simd2": ((12, 4, 4), S(3), (3, 3), (1, 1), (1, 1, 1, 1), -1, 2, 1),
    "3x3_stride2_pad_kpar_pixels": ((13, 6, 2), U(2), (3, 3), (2, 2), (1, 1, 1, 1), 0, 1, 6),
    "3x3_whole_window": ((11, 5, 1), U(4), (3, 3), (1, 1), (0, 0, 0, 0), 0, 1, 9),
    "5x5_pad2_kernel_rows": ((12, 6, 1), U(2), (5, 5), (1, 1), (2, 2, 2, 2), 1, 1, 5),
    "2x3_stride3_unread_rows": ((13, 7, 2), U(3), (2, 3), (3, 2), (0, 1, 0, 1), 2, 2, 1),
    "1x1_stride2_skips_rows": ((10, 4, 3), U(2), (1, 1), (2, 2), (0, 0, 0, 0), 0, 3, 1),
    "bipolar_zero_pad": ((12, 5, 2), BIPOLAR, (3, 3), (1, 1), (1, 1, 1, 1), 0, 2, 3),
}


def _swg(case) -> SlidingWindow:
    shape, t, k, s, pad, pv, simd, kpar = LINE_CASES[case]
    return SlidingWindow(name="swg", in_shape=shape, in_dtype=t, kernel=k, stride=s, pad=pad, pad_value=pv,
                         simd=simd, kpar=kpar)


def _period(run, core) -> int:
    ends = np.array(run.out_cycles)[core.out_words - 1 :: core.out_words]
    return int(ends[-1] - ends[-2])


def _stream(layer, workdir, rows: int, *, frames: int, seed: int, p_valid=1.0, p_ready=1.0):
    """check_layer with the ring forced to `rows`."""
    from qloom import sim
    from qloom.packing import pack_words, unpack_words

    x = rtl_helpers.random_values(np.random.default_rng(seed), layer.in_dtype, (frames, *layer.in_shape))
    core = layers.emit(layer, "core")
    run = run_core(workdir, core.module, {**core.params, "ROWS": rows}, pack_words(x, layer.in_dtype, core.in_par),
                   core.in_par * core.in_dtype.bits, frames * core.out_words, core.out_par * core.out_dtype.bits,
                   seed=seed + 1, p_valid=p_valid, p_ready=p_ready)
    got = unpack_words(run.outputs, core.out_dtype, core.out_par).reshape(frames, *layer.out_shape)
    np.testing.assert_array_equal(got, sim.run_layer(layer, x))
    return run, core


@pytest.mark.hw
@pytest.mark.parametrize("case", sorted(LINE_CASES))
def test_ring_matches_semantics_at_the_model_rate(case, tmp_path):
    layer = _swg(case)
    rows = ring_rows(layer)
    assert rows < 2 * layer.in_shape[0]  # a ring, not two frames
    seed = sorted(LINE_CASES).index(case) + 200
    check_layer(layer, tmp_path / "stall", frames=3, seed=seed, p_valid=0.5, p_ready=0.6)
    check_layer(layer, tmp_path / "slow_in", frames=3, seed=seed + 7, p_valid=0.3, p_ready=0.9)
    run, core = check_layer(layer, tmp_path / "full", frames=4, seed=seed)
    assert core.params["ROWS"] == rows
    assert _period(run, core) == core.cycles == max(core.in_words, core.out_words)


@pytest.mark.hw
@pytest.mark.parametrize("case", ["3x3_tall_c1", "3x3_whole_window", "2x3_stride3_unread_rows"])
@pytest.mark.parametrize("rows", ["tight", "one_less"])
def test_smaller_rings_are_exact_and_as_slow_as_the_schedule_says(case, rows, tmp_path):
    """At the deadlock-free minimum KH + SH - 1 rows, and one row below the folding's ring,
    the handover still never loses a row (random backpressure), and the full-rate period is
    the row-level schedule's, here above the model: the rate check can fail."""
    layer = _swg(case)
    (kh, _), (sh, _) = layer.kernel, layer.stride
    n = kh + sh - 1 if rows == "tight" else ring_rows(layer) - 1
    _stream(layer, tmp_path / "stall", n, frames=3, seed=5, p_valid=0.6, p_ready=0.5)
    run, core = _stream(layer, tmp_path / "full", n, frames=4, seed=6)
    assert _period(run, core) == frame_period(n, *_geometry(layer))
    if rows == "tight":
        assert _period(run, core) > core.cycles


@pytest.mark.hw
def test_a_writer_that_overwrites_a_row_in_use_is_caught(tmp_path, monkeypatch):
    """The same contract check fails on a qloom_swg whose writer may take one slot too many."""
    lib = tmp_path / "lib"
    lib.mkdir()
    for f in rtl_helpers.library_files("qloom_swg"):
        text = f.read_text()
        if f.name == "qloom_swg.sv":
            assert "used < UB'(ROWS);" in text
            text = text.replace("used < UB'(ROWS);", "used <= UB'(ROWS);")  # one slot too many
        (lib / f.name).write_text(text)
    monkeypatch.setattr(rtl_helpers, "library_files", lambda m: [lib / f.name for f in
                                                                  [*map(lambda n: rtl_helpers.LIB_DIR / f"{n}.sv",
                                                                        layers.LIBRARY_DEPS[m])]])
    layer = _swg("3x3_tall_c1")
    with pytest.raises(AssertionError, match="[Mm]ismatch"):
        check_layer(layer, tmp_path / "run", frames=3, seed=1, p_valid=1.0, p_ready=0.3)


# ---------------------------------------------------------------- the cost model against Yosys

# Yosys synth_xilinx -family xc7 of qloom_swg alone at the memory style the model picks
# (bench/bench_swg_yosys.py; 3x3, no padding): name -> (in_shape, dtype, simd, kpar, ROWS, style,
# slice LUT, BRAM18). ROWS = 2H is the memory of the two frame banks qloom_swg kept before.
YOSYS = {
    "swg0_k3 frames": ((28, 28, 1), U(8), 1, 3, 56, "block", 325, 3),
    "swg0_k3 ring": ((28, 28, 1), U(8), 1, 3, 6, "distributed", 409, 0),
    "swg1_k3 frames": ((26, 26, 32), U(2), 32, 3, 52, "block", 611, 18),
    "swg1_k3 ring": ((26, 26, 32), U(2), 32, 3, 6, "block", 569, 6),
    "swg1_k9 ring": ((26, 26, 32), U(2), 32, 9, 6, "block", 1295, 18),
    "swg2_k1 frames": ((12, 12, 32), U(2), 16, 1, 24, "block", 274, 2),
    "swg2_k1 ring": ((12, 12, 32), U(2), 16, 1, 6, "block", 253, 1),
    "swg3_k1 frames": ((10, 10, 64), U(2), 16, 1, 20, "block", 276, 2),
    "swg3_k1 ring": ((10, 10, 64), U(2), 16, 1, 6, "block", 238, 1),
    "c1_k9 frames": ((28, 28, 1), U(8), 1, 9, 56, "block", 517, 9),
    "c1_k9 ring": ((28, 28, 1), U(8), 1, 9, 6, "distributed", 851, 0),
    "c32_k1 ring": ((26, 26, 32), U(2), 32, 1, 6, "block", 329, 2),
    "c64_k12 ring": ((10, 10, 64), U(2), 16, 12, 6, "block", 906, 12),
}


@pytest.mark.parametrize("name", sorted(YOSYS))
def test_cost_model_against_yosys(name, monkeypatch):
    """BRAM18 exact, LUT within 25% of Yosys (the README's bound per core)."""
    from qloom.backends.rtl import cost

    shape, t, simd, kpar, rows, style, lut, bram = YOSYS[name]
    l = SlidingWindow(name="swg", in_shape=shape, in_dtype=t, kernel=(3, 3), simd=simd, kpar=kpar)
    monkeypatch.setattr(cost, "ring_rows", lambda layer: rows)
    assert cost.memory_styles(l)["line_buffer"].value == style
    est = cost.layer_resources(l)
    assert est["BRAM18"] == bram
    assert abs(est["LUT"] - lut) <= 0.25 * lut, (est["LUT"], lut)


# ---------------------------------------------------------------- the row-level schedule


def _geometry(layer):
    h, w, c = layer.in_shape
    oh, ow, _ = layer.out_shape
    (kh, kw), (sh, _), (pt, _, _, _) = layer.kernel, layer.stride, layer.pad
    cf = c // layer.simd
    return h, oh, kh, sh, pt, w * cf, ow * kh * kw * cf // layer.kpar


def test_cnv_windows_keep_two_kernels_of_rows():
    """An unpadded 3x3 window holds KH rows in use plus KH rows of the next frame (per-row
    handover): 6 rows of a 28-row frame instead of 56; padded, fewer rows are read ahead."""
    for shape, simd, kpar in (((28, 28, 1), 1, 3), ((26, 26, 32), 32, 9), ((10, 10, 64), 16, 1)):
        l = SlidingWindow(name="s", in_shape=shape, in_dtype=U(2), kernel=(3, 3), simd=simd, kpar=kpar)
        assert ring_rows(l) == 6
    l = SlidingWindow(name="s", in_shape=(28, 28, 1), in_dtype=U(2), kernel=(3, 3), pad=(1, 1, 1, 1))
    assert ring_rows(l) == 4


def test_ring_rows_is_the_smallest_that_keeps_the_rate():
    """One row less and some pacing in the module doc is slower than max(in, out)."""
    for case in LINE_CASES:
        g = _geometry(_swg(case))
        h, oh, kh, sh, pt, rw, orw = g
        rows = ring_rows_for(*g)
        i, o = h * rw, oh * orw
        p = max(i, o)
        assert frame_period(rows, *g) == p
        if rows - 1 >= kh + sh - 1:
            slower = [frame_period(rows - 1, *g, a, b) > max(i * a, o * b)
                      for a in (1.0, p / i, 2 * p / i) for b in (1.0, p / o, 2 * p / o)]
            assert any(slower), case


def test_a_ring_below_kernel_plus_stride_deadlocks():
    g = _geometry(_swg("3x3_tall_c1"))
    assert frame_period(2, *g) == math.inf
    assert frame_period(3, *g) < math.inf


@settings(max_examples=60, deadline=None)
@given(h=st.integers(1, 16), kh=st.integers(1, 5), sh=st.integers(1, 3), pt=st.integers(0, 2), pb=st.integers(0, 2),
       rw=st.integers(1, 12), kpar=st.sampled_from([1, 3, 9]))
def test_ring_never_exceeds_two_frames_and_keeps_the_rate(h, kh, sh, pt, pb, rw, kpar):
    if h + pt + pb < kh:
        return
    oh = (h + pt + pb - kh) // sh + 1
    orw = max(1, ((h + 2) * kh * kh) // kpar)
    rows = ring_rows_for(h, oh, kh, sh, pt, rw, orw)
    assert rows <= 2 * h
    assert frame_period(rows, h, oh, kh, sh, pt, rw, orw) == max(h * rw, oh * orw)


def test_the_cycle_model_is_unchanged():
    """A frame costs max(input words, output words) at any ring the folding builds."""
    l = _swg("3x3_stride2_pad_kpar_pixels")
    io = interface(l)
    assert io.cycles == max(io.in_words, io.out_words)
