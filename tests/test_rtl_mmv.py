"""MMV (FINN's idea: several output pixels per cycle). qloom_swg at MMV > 1 (MMV input pixels
and MMV whole windows per word) and qloom_mvtu at MMV > 1 (MMV vectors per word against one
weight read) against semantics under Icarus with random backpressure, the cycle model at full
rate, the legality rules and their errors, and MMV = 1 unchanged."""

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

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


# ---------------------------------------------------------------- legality and MMV = 1


def test_mmv_cycles_and_widths():
    base = dict(name="swg", in_shape=(28, 28, 1), in_dtype=U(8), kernel=(3, 3), simd=1, kpar=9)
    assert interface(SlidingWindow(**base)).cycles == 28 * 28  # input bound at kpar = KH*KW
    io = interface(SlidingWindow(**base, mmv=2))
    assert (io.in_par, io.out_par, io.in_words, io.out_words, io.cycles) == (2, 18, 392, 338, 392)


def test_mmv_legality_errors_name_the_layer():
    from fold_graphs import tiny_cnn

    g = tiny_cnn()  # swg (8, 8, 4) -> (6, 6, 36), conv 8 x 36 over 36 vectors
    assert legal_values(g.layer("swg"))["mmv"] == (1, 2)
    with pytest.raises(QloomError, match=r"'swg'.*mmv=2 is not legal at simd=1, kpar=1; mmv > 1 needs simd=4"):
        set_folding(g, "swg", mmv=2)
    with pytest.raises(QloomError, match=r"'swg'.*mmv=3 is not legal; valid choices: 1, 2"):
        set_folding(g, "swg", simd=4, kpar=9, mmv=3)
    g2 = set_folding(g, "swg", simd=4, kpar=9, mmv=2)
    assert interface(g2.layer("swg")).out_par == 72
    with pytest.raises(QloomError, match=r"'conv'.*mmv=4 is not legal at pe=1, simd=1; mmv > 1 needs pe=8 \(MH\)"):
        set_folding(g, "conv", mmv=4)
    with pytest.raises(QloomError, match=r"'conv'.*mmv=5 is not legal; valid choices: 1, 2, 3, 4, 6, 9"):
        set_folding(g, "conv", pe=8, simd=36, mmv=5)
    with pytest.raises(ValueError, match=r"conv: MMV=2 is not legal at PE=1"):
        from dataclasses import replace

        replace(g.layer("conv"), mmv=2)


def test_folding_file_mmv_round_trip_and_old_files(tmp_path):
    from fold_graphs import tiny_cnn

    from qloom.fold import apply_folding_file, folding_dict, save_folding
    from qloom.ir.serialize import from_json, to_json

    g = tiny_cnn()
    assert all("mmv" not in v for v in folding_dict(g)["layers"].values())  # old files stay as they were
    assert '"mmv"' not in to_json(g)
    g2 = set_folding(set_folding(g, "swg", simd=4, kpar=9, mmv=2), "conv", pe=8, simd=36, mmv=3)
    assert folding_dict(g2)["layers"]["swg"] == {"simd": 4, "kpar": 9, "mmv": 2}
    back = apply_folding_file(g, save_folding(g2, tmp_path / "folding.json"))
    assert (back.layer("swg").mmv, back.layer("conv").mmv) == (2, 3)
    assert from_json(to_json(g2)).layer("conv").mmv == 3


def test_auto_fold_spends_mmv_on_a_window_bottleneck():
    """tiny_cnn's window at SIMD = C, kpar = KH*KW is input bound (64 pixels); a 40-cycle target
    needs two pixels per cycle in the window (the MatVec's 36 vectors fit at MMV 1; the pool
    after it bounds the graph at 36)."""
    from fold_graphs import tiny_cnn

    from qloom.fold import auto_fold
    from qloom.hw import layer_cycles

    g = tiny_cnn()
    f = auto_fold(g, target_fps=100e6 / 40, clock_mhz=100.0)
    assert (f.layer("swg").mmv, f.layer("conv").mmv) == (2, 1)
    assert max(layer_cycles(l) for l in f.hardware_layers) <= 40
    assert auto_fold(g, target_fps=100e6 / 64, clock_mhz=100.0).layer("swg").mmv == 1  # not needed: not bought


# ---------------------------------------------------------------- end to end (Verilator)


def _conv_graph(rng, h, w, c, k, stride, pad, mh, in_t, w_t, swg_mmv, mv_mmv, mv_fold=None, pool=False):
    """window -> MatVec(thresholds) [-> max pool 2x2 or a second window + MatVec], the window at
    SIMD = C, KPAR = KH*KW, MMV swg_mmv; the MatVec at PE = MH, SIMD = MW, MMV mv_mmv, or at
    mv_fold = (pe, simd) with MMV 1 (a width converter from the wide window word)."""
    from dataclasses import replace

    from qloom.ir import Pool, PoolMode

    from rtl_helpers import _graph, _mv

    s = SlidingWindow(name="swg", in_shape=(h, w, c), in_dtype=in_t, kernel=k, stride=stride, pad=pad, simd=c,
                      kpar=k[0] * k[1])
    s = replace(s, mmv=swg_mmv)
    mw = s.out_shape[2]
    pe, simd = mv_fold or (mh, mw)
    m = _mv(rng, "conv", s.out_shape, s.out_dtype, w_t, mh, 2, pe=pe, simd=simd)
    m = replace(m, mmv=mv_mmv)
    layers_ = [s, m]
    if pool:
        layers_.append(Pool(name="pool", in_shape=m.out_shape, in_dtype=m.out_dtype, mode=PoolMode.MAX,
                            kernel=(2, 2), stride=(2, 2), pe=mh))
    return _graph("mmv_conv", layers_)


def _check_rtl(g, tmp_path, frames=4, seed=0, stall=0.4):
    from qloom import sim
    from qloom.backends.rtl import generate
    from qloom.verify import rtl

    from rtl_helpers import random_values

    design = generate(g, tmp_path)
    first = g.layers.index(g.hardware_layers[0])
    x = random_values(np.random.default_rng(seed), g.hardware_layers[0].in_dtype,
                      (frames, *design["dma"]["in"]["shape"]))
    expect = sim.execute(g, x, start=first)
    r = rtl.run_rtl(tmp_path, x, seed=seed + 1, stall_prob=stall, steady_frames=max(frames, 6))
    np.testing.assert_array_equal(r["outputs"].reshape(expect.shape), expect)
    steady = r["steady_outputs"].reshape((-1, *expect.shape[1:]))
    np.testing.assert_array_equal(steady[:frames], expect)
    assert r["protocol_errors"] == 0 and r["extra_words"] == 0 and r["tlast_errors"] == 0
    model = design["cycles_per_frame_model"]
    assert abs(r["cycles_per_frame"] - model) <= rtl.II_TOLERANCE * model, (r["cycles_per_frame"], model)
    return design, r


@pytest.mark.hw
def test_conv_mmv_end_to_end(tmp_path):
    """window MMV 2 -> MatVec MMV 2, through generate(): Verilator, random backpressure, 0
    mismatches, II measured = the model (half the MMV = 1 design's)."""
    g = _conv_graph(np.random.default_rng(5), 8, 10, 2, (3, 3), (1, 1), (1, 1, 1, 1), 4, U(2), S(2), 2, 2)
    design, r = _check_rtl(g, tmp_path, seed=7)
    assert design["cycles_per_frame_model"] == 40  # 80 pixels / 2


@pytest.mark.hw
@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck),
          phases=(Phase.explicit, Phase.generate))  # no shrinking: a Verilator build per example
@given(data=st.data())
def test_random_conv_mmv_end_to_end(data, tmp_path_factory):
    """Hypothesis-generated conv layers (shape, kernel, stride, padding, types) with a random
    MMV in the window, and in the MatVec either a random MMV at PE = MH, SIMD = MW or a random
    (PE, SIMD) at MMV 1 (a width converter from the wide window word), optionally a pool after
    it: Verilator, random backpressure, 0 mismatches, II measured = the model."""
    from qloom.fold.rules import divisors

    d = data.draw
    kh, kw = d(st.integers(1, 3), label="kh"), d(st.integers(1, 3), label="kw")
    sh, sw = d(st.integers(1, 2), label="sh"), d(st.integers(1, 2), label="sw")
    pad = tuple(d(st.integers(0, k - 1), label="pad") if k > 1 else 0 for k in (kh, kw, kh, kw))
    h, c = d(st.integers(kh + 1, 7), label="h"), d(st.sampled_from([1, 2, 3]), label="c")
    in_t = d(st.sampled_from([U(2), S(3), U(8), BIPOLAR]), label="in_t")
    w_t = d(st.sampled_from([S(2), BIPOLAR, S(4)]), label="w_t")
    mh = d(st.sampled_from([2, 3, 4]), label="mh")
    # (MMV, W): MMV > 1 divides W and OW (none for some kernels, e.g. KW 2, stride 1, no padding)
    pairs = [(m, x) for m in (2, 3, 4) for x in range(max(kw, m), 13)
             if x % m == 0 and ((x + pad[1] + pad[3] - kw) // sw + 1) % m == 0]
    assume(pairs)
    mmv, w = d(st.sampled_from(pairs), label="swg_mmv, w")
    probe = SlidingWindow(name="p", in_shape=(h, w, c), in_dtype=in_t, kernel=(kh, kw), stride=(sh, sw),
                          pad=pad if in_t is not BIPOLAR or not any(pad) else pad)
    vectors = probe.out_shape[0] * probe.out_shape[1]
    mw = probe.out_shape[2]
    if d(st.booleans(), label="matvec_mmv"):
        mv_mmv, fold = d(st.sampled_from([m for m in divisors(vectors) if m <= 6]), label="mv_mmv"), None
    else:
        mv_mmv, fold = 1, (d(st.sampled_from(divisors(mh)), label="pe"), d(st.sampled_from(divisors(mw)), label="simd"))
    pool = d(st.booleans(), label="pool") and min(probe.out_shape[:2]) >= 2
    g = _conv_graph(np.random.default_rng(d(st.integers(0, 99), label="seed")), h, w, c, (kh, kw), (sh, sw), pad,
                    mh, in_t, w_t, mmv, mv_mmv, fold, pool)
    _check_rtl(g, tmp_path_factory.mktemp("mmv"), frames=3, seed=1)


@pytest.mark.hw
@pytest.mark.slow
def test_trained_cnv_first_layers_mmv(trained_qonnx, tmp_path):
    """A (briefly) trained cnv-w2a2's first conv (swg0 -> mvu0) at MMV 2 on real Fashion-MNIST
    test images: Verilator with random backpressure, 0 mismatches against the IR, II measured =
    the model (392: the window's 784 input pixels, two per cycle)."""
    import dataclasses

    from qloom import sim, streamline
    from qloom.backends.rtl import generate
    from qloom.ir import OutputSpec
    from qloom.verify import rtl
    from qloom.verify.inputs import dataset_inputs

    g = streamline.run(trained_qonnx("cnv-w2a2", "fashion-mnist"), name="cnv-w2a2")
    names = [l.name for l in g.layers]
    stop = names.index("mvu0")
    c = g.layer("mvu0").mh
    g = dataclasses.replace(g, layers=g.layers[:stop + 1], output=OutputSpec(scale=np.ones(c), bias=np.zeros(c)))
    g = set_folding(g, "swg0", simd=1, kpar=9, mmv=2)
    g = set_folding(g, "mvu0", pe=c, simd=9, mmv=2)
    design = generate(g, tmp_path)
    assert design["cycles_per_frame_model"] == 392
    x, _ = dataset_inputs(g, "fashion-mnist", 20)
    ints = sim.execute(g, x, stop=0)
    expect = sim.execute(g, ints, start=1)
    r = rtl.run_rtl(tmp_path, ints, seed=3, stall_prob=0.3, steady_frames=8)
    np.testing.assert_array_equal(r["outputs"].reshape(expect.shape), expect)
    assert r["protocol_errors"] == 0 and r["extra_words"] == 0 and r["tlast_errors"] == 0
    assert abs(r["cycles_per_frame"] - 392) <= rtl.II_TOLERANCE * 392, r["cycles_per_frame"]
