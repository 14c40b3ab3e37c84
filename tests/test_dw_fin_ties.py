"""Reference ties of a depthwise unit: sign(acc) of a DepthwiseMatVec with bipolar weights and
inputs, float scales. An even kernel (K = 4 positions) reaches acc = 0, where the exact answer is
+1 and the reference's float32 sum may round to either side: reported as a tie. An odd kernel
(K = 9) never reaches 0: nothing reported, though the layer is analysed. A weight changed by one
step is still a mismatch (the tie analysis excuses rounding, never a wrong accumulator)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from qloom import semantics as sem
from qloom import streamline
from qloom.ir import DepthwiseMatVec
from qloom.verify import ties as T
from qloom.verify.ir import compare, from_onnx
from qloom.verify.reference import Reference

from qnn_factory import LayerSpec, NetSpec, calibrate_and_export, random_inputs


def _spec(kernel: int) -> NetSpec:
    """Input -> 1x1 conv to 4 bipolar channels -> depthwise kxk, bipolar weights, sign, no BN/bias."""
    return NetSpec(in_shape=(3, 7, 7), in_bits=2, in_signed=False, float_scale=True, binary_scale=0.3, seed=5,
                   layers=[LayerSpec("conv", 4, 2, 1, True, False, False, True, False, kernel=1),
                           LayerSpec("conv", 0, 1, 1, True, False, False, False, False, kernel=kernel,
                                     depthwise=True)],
                   out_wbits=4)


@pytest.fixture(scope="module")
def nets(tmp_path_factory):
    cache = {}

    def make(kernel: int):
        if kernel not in cache:
            spec = _spec(kernel)
            path = tmp_path_factory.mktemp(f"dw{kernel}") / "net.onnx"
            calibrate_and_export(spec, path)
            graph = streamline.run(path)
            (dw,) = [l for l in graph.layers if isinstance(l, DepthwiseMatVec)]
            assert dw.binary and dw.k == kernel * kernel and dw.thresholds is not None
            cache[kernel] = (spec, graph, Reference(path), dw)
        return cache[kernel]

    return make


def test_even_kernel_depthwise_sign_tie_is_reported(nets):
    spec, graph, ref, dw = nets(2)
    ties = [t for t in T.find_ties(ref, graph) if t["layer"] == dw.name]
    assert ties and all(t["accumulator"] == 0 and t["threshold"] == 0 for t in ties)
    assert {t["channel"] for t in ties} <= set(range(dw.channels))
    assert all(0 < t["bound"] < t["accumulator_step"] or t["accumulator_step"] == 0 for t in ties)  # 0: unfit
    result = compare(graph, ref, random_inputs(spec, 300, seed=1))
    assert result["mismatches"] == 0, result["first_mismatch"]
    reported = [t for t in result["reference_ties"] if t["layer"] == dw.name]
    assert reported and sum(t["hits"] for t in reported) > 0  # the IR's own run reaches acc = 0


def test_odd_kernel_depthwise_has_no_tie(nets):
    spec, graph, ref, dw = nets(3)
    assert T.dot_site(ref.graphs, dw) is not None  # analysed, not skipped
    assert not [t for t in T.find_ties(ref, graph) if t["layer"] == dw.name]
    assert not compare(graph, ref, random_inputs(spec, 100, seed=1))["reference_ties"]


def test_wrong_depthwise_weight_is_still_a_mismatch(nets):
    spec, graph, ref, dw = nets(2)
    x = random_inputs(spec, 300, seed=1)
    w = dw.weights.copy()
    w[0, 0] = -w[0, 0]  # bipolar: the one other level
    result = compare(graph.replace_layer(dw.name, weights=w), ref, x)
    assert result["mismatches"] > 0 and result["first_mismatch"]["layer"] == dw.name


# ---------------------------------------------------------------- random float-scale depthwise nets


@st.composite
def _dw_specs(draw) -> NetSpec:
    """A stem conv, a depthwise conv (any weight bits incl. bipolar, BN, bias, activation), a dense head."""
    common = dict(narrow=draw(st.booleans()), per_channel=draw(st.booleans()))
    stem = LayerSpec("conv", draw(st.integers(2, 5)), draw(st.sampled_from([2, 4])), draw(st.sampled_from([1, 2, 4])),
                     draw(st.booleans()), bn=True, bias=False, kernel=draw(st.sampled_from([1, 3])), pad=1, **common)
    dw = LayerSpec("conv", 0, draw(st.sampled_from([1, 2, 3, 4])), draw(st.sampled_from([1, 2, 4])),
                   draw(st.booleans()), bn=draw(st.booleans()), bias=draw(st.booleans()),
                   kernel=draw(st.sampled_from([2, 3])), stride=draw(st.sampled_from([1, 2])),
                   pad=draw(st.sampled_from([0, 1])), depthwise=True, **common)
    return NetSpec(in_shape=(draw(st.integers(1, 3)), 6, 6), in_bits=draw(st.sampled_from([2, 4, 8])),
                   in_signed=draw(st.booleans()), layers=[stem, dw], out_wbits=draw(st.sampled_from([2, 4])),
                   n_out=3, seed=draw(st.integers(0, 10_000)), float_scale=True,
                   binary_scale=draw(st.sampled_from([0.37, 0.052, 1.3, 2.71])))


def _fed_accumulators(graph, j, r):
    """Layer j's accumulators fed with the reference's last quantized tensor before it (as verify feeds it)."""
    k = max(i for i in range(j) if graph.layers[i].ref is not None and graph.layers[i].ref.tensor in r)
    return T._accumulators(graph, j, from_onnx(graph.layers[k], r[graph.layers[k].ref.tensor]), k + 1)


@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(spec=_dw_specs(), pick=st.integers(0, 10**6))
def test_random_depthwise_nets_clean_and_seeded(spec, pick, tmp_path):
    """Clean: no mismatch (rounding counted, ties reported only at reachable accumulators).
    Seeded: a depthwise threshold moved by one where the fed accumulators sit exactly on it and
    it is no reported tie, is always a mismatch at the depthwise layer."""
    path = tmp_path / "net.onnx"
    calibrate_and_export(spec, path)
    graph, ref = streamline.run(path), Reference(path)
    (j,) = [i for i, l in enumerate(graph.layers) if isinstance(l, DepthwiseMatVec)]
    dw = graph.layers[j]
    x = random_inputs(spec, 100, seed=spec.seed)
    clean = compare(graph, ref, x)
    assert clean["mismatches"] == 0, clean["first_mismatch"]
    ties = [t for t in clean["reference_ties"] if t["layer"] == dw.name]
    lo, hi = sem.accumulator_bounds_per_row(dw.weights.astype(np.int64), dw.in_dtype.min, dw.in_dtype.max)
    assert all(lo[t["channel"]] <= t["accumulator"] <= hi[t["channel"]] for t in ties)
    event(f"depthwise ties reported: {bool(ties)}")
    if dw.thresholds is None or dw.ref is None:
        event("no thresholds on the depthwise unit")
        return
    acc = _fed_accumulators(graph, j, ref.run(x, full=True)).reshape(-1, dw.channels)
    thr = np.broadcast_to(dw.thresholds, (dw.channels, dw.thresholds.shape[1]))
    tie_set = {(t["channel"], t["threshold"]) for t in ties}
    options = [(c, k) for c in range(dw.channels) for k in range(thr.shape[1])
               if (c, int(thr[c, k])) not in tie_set and np.any(acc[:, c] == thr[c, k])]
    assume(options)
    c, k = options[pick % len(options)]
    new = np.array(thr, copy=True)
    new[c, k] += 1  # accumulators equal to it now fall below it: a different level
    wrong = graph.replace_layer(dw.name, thresholds=np.sort(new, axis=1))
    result = compare(wrong, ref, x)
    assert result["mismatches"] > 0 and result["first_mismatch"]["layer"] == dw.name, result["first_mismatch"]
    event("seeded threshold error caught")
