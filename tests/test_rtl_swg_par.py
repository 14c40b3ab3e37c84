"""qloom_swg at KPAR > 1 (several window words per output word) against semantics under
Icarus: every kind of lane group (channel words, pixels of a kernel row, kernel rows),
strides, padding (also the bipolar zero padding that widens to INT2), random backpressure,
and the cycle model at full rate."""

import numpy as np
import pytest

from qloom.errors import QloomError
from qloom.fold import legal_values, set_folding
from qloom.hw import interface
from qloom.ir import BIPOLAR, IntType, SlidingWindow

from rtl_helpers import check_layer

U = lambda b: IntType(b, False)  # noqa: E731
S = lambda b: IntType(b, True)  # noqa: E731

PAR_CASES = {
    # name: (in_shape, dtype, kernel, stride, pad, pad_value, simd, kpar)
    "row_of_pixels_c1": ((6, 6, 1), U(8), (3, 3), (1, 1), (0, 0, 0, 0), 0, 1, 3),
    "whole_window_c1": ((5, 6, 1), U(4), (3, 3), (1, 1), (0, 0, 0, 0), 0, 1, 9),
    "channel_words": ((4, 5, 4), S(3), (3, 3), (1, 1), (1, 1, 1, 1), -2, 1, 2),
    "pixels_simd2_pad": ((5, 4, 4), U(2), (3, 3), (1, 1), (1, 1, 1, 1), 0, 2, 6),
    "kernel_rows_stride2": ((7, 6, 2), S(2), (4, 2), (2, 1), (0, 1, 1, 0), 1, 2, 4),
    "bipolar_zero_pad_window": ((5, 5, 2), BIPOLAR, (3, 3), (1, 1), (1, 1, 1, 1), 0, 2, 9),
    "bipolar_zero_pad_row": ((4, 6, 3), BIPOLAR, (2, 3), (1, 2), (1, 0, 0, 2), 0, 1, 9),
}


def _swg(case) -> SlidingWindow:
    shape, t, k, s, pad, pv, simd, kpar = PAR_CASES[case]
    return SlidingWindow(name="swg", in_shape=shape, in_dtype=t, kernel=k, stride=s, pad=pad, pad_value=pv,
                         simd=simd, kpar=kpar)


@pytest.mark.hw
@pytest.mark.parametrize("case", sorted(PAR_CASES))
def test_swg_par_matches_semantics(case, tmp_path):
    layer = _swg(case)
    seed = sorted(PAR_CASES).index(case) + 100
    check_layer(layer, tmp_path / "stall", frames=3, seed=seed, p_valid=0.5, p_ready=0.6)
    run, core = check_layer(layer, tmp_path / "full", frames=4, seed=seed)
    assert core.out_par == layer.simd * layer.kpar and core.params["KPAR"] == layer.kpar
    ends = np.array(run.out_cycles)[core.out_words - 1 :: core.out_words]
    assert int(ends[-1] - ends[-2]) == core.cycles


def test_kpar_cycles_and_output_width():
    base = SlidingWindow(name="swg", in_shape=(28, 28, 1), in_dtype=U(8), kernel=(3, 3))
    assert interface(base).cycles == 26 * 26 * 9
    io = interface(SlidingWindow(name="swg", in_shape=(28, 28, 1), in_dtype=U(8), kernel=(3, 3), kpar=3))
    assert (io.in_par, io.out_par, io.out_words, io.cycles) == (1, 3, 26 * 26 * 3, 26 * 26 * 3)
    io = interface(SlidingWindow(name="swg", in_shape=(28, 28, 1), in_dtype=U(8), kernel=(3, 3), kpar=9))
    assert io.cycles == 28 * 28  # input bound


def test_kpar_choices():
    l = SlidingWindow(name="swg", in_shape=(6, 6, 4), in_dtype=U(2), kernel=(3, 3))
    assert l.kpar_choices(1) == (1, 2, 4, 12, 36)
    assert l.kpar_choices(4) == (1, 3, 9)
    assert legal_values(l)["kpar"] == (1, 2, 3, 4, 6, 9, 12, 18, 36)
    with pytest.raises(ValueError, match="KPAR=3 is not legal at SIMD=1"):
        SlidingWindow(name="swg", in_shape=(6, 6, 4), in_dtype=U(2), kernel=(3, 3), kpar=3)


def test_set_folding_kpar(tmp_path):
    from rtl_helpers import graph_conv_pool

    g = graph_conv_pool()
    swg = next(l for l in g.hardware_layers if isinstance(l, SlidingWindow))
    c = swg.in_shape[2]
    g2 = set_folding(g, swg.name, simd=c, kpar=swg.kernel[1])
    assert g2.layer(swg.name).kpar == swg.kernel[1]
    with pytest.raises(QloomError, match=r"kpar=5 is not legal"):
        set_folding(g, swg.name, kpar=5)
    if c > 1:
        with pytest.raises(QloomError, match=r"is not legal at simd=1"):
            set_folding(g, swg.name, simd=1, kpar=swg.kernel[1])


@pytest.mark.hw
def test_cnn_at_kpar_end_to_end(tmp_path):
    """A small CNN whose windows emit a kernel row / several pixels per word, with a width
    converter where the MatVec takes fewer: Verilator, random backpressure, zero mismatches,
    steady-state II within 2% of the model."""
    from qloom import sim
    from qloom.backends.rtl import generate
    from qloom.verify import rtl

    from rtl_helpers import graph_conv_pool, random_values

    g = graph_conv_pool()
    g = set_folding(g, "conv1_swg", kpar=3)  # 3 pixels of 2 channels: 6 = conv1's SIMD
    g = set_folding(g, "conv2_swg", kpar=6)  # 3 pixels of 4 channels: 12 -> conv2 SIMD 6 (a converter)
    g = set_folding(g, "conv2", simd=6)
    assert interface(g.layer("conv1_swg")).out_par == 6 and interface(g.layer("conv2_swg")).out_par == 12
    design = generate(g, tmp_path)
    dwc = {l["name"]: l["dwc"] for l in design["layers"] if l.get("dwc")}
    assert dwc.get("conv2") == {"in": 12, "out": 6}, dwc
    first = g.layers.index(g.hardware_layers[0])
    frames = 8
    x = random_values(np.random.default_rng(11), g.hardware_layers[0].in_dtype, (frames, *design["dma"]["in"]["shape"]))
    expect = sim.execute(g, x, start=first)
    r = rtl.run_rtl(tmp_path, x, seed=3, stall_prob=0.4, steady_frames=frames)
    np.testing.assert_array_equal(r["outputs"].reshape(expect.shape), expect)
    np.testing.assert_array_equal(r["steady_outputs"].reshape(expect.shape), expect)
    assert r["protocol_errors"] == 0 and r["extra_words"] == 0 and r["tlast_errors"] == 0
    model = design["cycles_per_frame_model"]
    assert abs(r["cycles_per_frame"] - model) <= rtl.II_TOLERANCE * model, (r["cycles_per_frame"], model)


def test_auto_fold_spends_kpar_on_a_window_bottleneck():
    """At one window word per cycle the window of tiny_cnn needs 6*6*9 = 324 cycles even at
    SIMD = C: a 100-cycle target is reachable only with kpar > 1, and the folder finds it."""
    from fold_graphs import tiny_cnn

    from qloom.fold import auto_fold
    from qloom.hw import layer_cycles

    g = tiny_cnn()
    assert min(layer_cycles(SlidingWindow(name="s", in_shape=(8, 8, 4), in_dtype=U(4), kernel=(3, 3), simd=s))
               for s in (1, 2, 4)) == 324
    f = auto_fold(g, target_fps=1e6, clock_mhz=100.0)
    swg = f.layer("swg")
    assert swg.kpar > 1 and layer_cycles(swg) <= 100
    assert max(layer_cycles(l) for l in f.hardware_layers) <= 100


def test_folding_file_round_trip_keeps_kpar(tmp_path):
    """kpar is written when it is not 1 (files of kpar=1 windows are unchanged) and read back."""
    from fold_graphs import tiny_cnn

    from qloom.fold import apply_folding_file, folding_dict, save_folding

    g = tiny_cnn()
    assert "kpar" not in folding_dict(g)["layers"]["swg"]
    g2 = set_folding(g, "swg", simd=4, kpar=3)
    assert folding_dict(g2)["layers"]["swg"] == {"simd": 4, "kpar": 3}
    back = apply_folding_file(g, save_folding(g2, tmp_path / "folding.json"))
    assert (back.layer("swg").simd, back.layer("swg").kpar) == (4, 3)


def test_ir_json_keeps_kpar_and_omits_the_default():
    from fold_graphs import tiny_cnn

    from qloom.ir.serialize import from_json, to_json

    g = tiny_cnn()
    assert '"kpar"' not in to_json(g)
    g2 = set_folding(g, "swg", simd=2, kpar=6)
    assert from_json(to_json(g2)).layer("swg").kpar == 6
