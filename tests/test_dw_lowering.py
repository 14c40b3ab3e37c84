"""Depthwise convolutions lower to SlidingWindow -> DepthwiseMatVec (one weight vector per channel),
bit-exact against the QONNX reference: the mobilenet zoo family, random depthwise-separable nets
(hypothesis), the old block-diagonal lowering kept behind QLOOM_DEPTHWISE_LOWERING, and checks that
can fail (a corrupted depthwise weight is seen; a correct design is not flagged)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from qloom import sim, streamline
from qloom.errors import QloomError
from qloom.ir import DepthwiseMatVec, MatVec, SlidingWindow
from qloom.models import build_model, model_names
from qloom.streamline.handlers import DEPTHWISE_ENV
from qloom.verify.ir import compare
from qloom.verify.reference import Reference

from equivalence import assert_equivalent
from qnn_factory import LayerSpec, NetSpec, calibrate_and_export, export_calibrated_zoo, random_inputs

NAMES = ["mobilenet-w2a2", "mobilenet-w4a4"]
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
                derandomize=True)


def pixels(n: int, seed: int = 0) -> np.ndarray:
    """Random pixel/256 images plus the extremes (all 0, all 255)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, 1, 28, 28)) / 256
    return np.concatenate([x, np.zeros_like(x[:1]), np.full_like(x[:1], 255 / 256)]).astype(np.float32)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """name -> model.onnx of a zoo mobilenet with random weights and calibrated BN statistics."""
    cache: dict = {}

    def make(name: str):
        if name not in cache:
            cache[name] = export_calibrated_zoo(name, tmp_path_factory.mktemp(name) / "model.onnx")[1]
        return cache[name]

    return make


def lower(path, mode: str | None = None, monkeypatch=None):
    if mode is not None:
        monkeypatch.setenv(DEPTHWISE_ENV, mode)
    return streamline.run(path)


def test_zoo_names_shapes_and_groups():
    assert set(NAMES) <= set(model_names())
    model = build_model("mobilenet-w2a2")
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    dws = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.groups > 1]
    assert [(m.groups, m.in_channels, m.out_channels, m.kernel_size) for m in dws] == \
        [(16, 16, 16, (3, 3)), (32, 32, 32, (3, 3)), (64, 64, 64, (3, 3))]
    assert isinstance(build_model("mobilenet-float")[1], nn.Conv2d)
    with pytest.raises(QloomError, match="too small"):
        build_model("mobilenet-w2a2", input_shape=(1, 4, 4))


@pytest.mark.parametrize("name", NAMES)
def test_mobilenet_lowers_to_depthwise_units_bit_exact(name, exported, monkeypatch):
    """Every depthwise conv is a SlidingWindow -> DepthwiseMatVec with (C, 9) weights (no
    block-diagonal MatVec: each MatVec row reads all columns of a dense conv or FC); IR == QONNX
    on every compared layer, logits and class."""
    monkeypatch.delenv(DEPTHWISE_ENV, raising=False)
    path = exported(name)
    graph = lower(path)
    dws = [l for l in graph.layers if isinstance(l, DepthwiseMatVec)]
    assert [l.weights.shape for l in dws] == [(16, 9), (32, 9), (64, 9)]
    for l in dws:
        (swg,) = graph.producers(l.name)
        assert isinstance(swg, SlidingWindow) and swg.kernel == (3, 3) and swg.out_shape == l.in_shape
        assert l.thresholds is not None and l.ref is not None  # the BN + activation folded into it
    mvs = [l for l in graph.layers if isinstance(l, MatVec)]
    assert len(mvs) == 5 and all(l.mw in (9, 16, 32, 64, 576) for l in mvs)
    result = assert_equivalent(graph, Reference(path), pixels(40))
    assert result["layers_checked"] >= 8


def test_block_diagonal_option_and_equal_outputs(exported, monkeypatch):
    """QLOOM_DEPTHWISE_LOWERING=block-diagonal builds the old dense MatVec (zeros off the block
    diagonal): also exact, and the two graphs compute the same outputs frame for frame."""
    path = exported("mobilenet-w2a2")
    new = lower(path, "vvau", monkeypatch)
    old = lower(path, "block-diagonal", monkeypatch)
    assert not any(isinstance(l, DepthwiseMatVec) for l in old.layers)
    dense = [l for l in old.layers if isinstance(l, MatVec) and l.mw == 9 * l.mh and l.mh > 1]
    assert [l.mh for l in dense] == [16, 32, 64]
    for l in dense:  # row c reads only input channel c of each of the 9 window positions
        w = l.weights.reshape(l.mh, 9, l.mh)
        off = np.broadcast_to(~np.eye(l.mh, dtype=bool)[:, None, :], w.shape)
        assert np.all(w[off] == 0) and np.any(w[~off] != 0)
    x = pixels(20, seed=3)
    assert np.array_equal(sim.execute(new, x), sim.execute(old, x))
    assert_equivalent(old, Reference(path), x)
    monkeypatch.setenv(DEPTHWISE_ENV, "sparse")
    with pytest.raises(QloomError, match=DEPTHWISE_ENV):
        streamline.run(path)


def test_corrupted_depthwise_weight_is_caught(exported, monkeypatch):
    """Both directions: the lowered graph passes; one weight of one channel of the second
    depthwise unit moved by one step fails the comparison with QONNX at that layer."""
    monkeypatch.delenv(DEPTHWISE_ENV, raising=False)
    path = exported("mobilenet-w4a4")
    graph, ref, x = lower(path), Reference(path), pixels(40, seed=1)
    assert compare(graph, ref, x)["mismatches"] == 0
    dw = [l for l in graph.layers if isinstance(l, DepthwiseMatVec)][1]
    w = dw.weights.copy()
    c = int(np.argmax(np.abs(w).sum(axis=1)))
    k = int(np.argmax(np.abs(w[c])))
    w[c, k] -= int(np.sign(w[c, k])) or 1  # one step towards (or away from) zero: still in w_dtype
    result = compare(graph.replace_layer(dw.name, weights=w), ref, x)
    assert result["mismatches"] > 0


def _dw_layer(draw, i: int) -> list[LayerSpec]:
    """A depthwise conv (any kernel 1-3, stride, padding, weight bits incl. bipolar, scales,
    bias, BN, signed or bipolar activation), optionally followed by a pointwise 1x1 conv (to >= 2
    channels: a "depthwise" conv of 1 channel is a plain conv)."""
    wbits = draw(st.sampled_from([1, 2, 3, 4, 8]))
    common = dict(narrow=draw(st.booleans()), per_channel=draw(st.booleans()), bn=draw(st.booleans()),
                  bias=draw(st.booleans()))
    out = [LayerSpec(kind="conv", out=0, wbits=wbits, abits=draw(st.sampled_from([1, 2, 3, 4, 8])),
                     asigned=draw(st.booleans()), kernel=draw(st.sampled_from([1, 2, 3])),
                     stride=draw(st.sampled_from([1, 1, 2])), pad=draw(st.sampled_from([0, 1])),
                     pool=draw(st.booleans()) and i == 0, depthwise=True, **common)]
    if draw(st.booleans()):
        out.append(LayerSpec(kind="conv", out=draw(st.integers(2, 8)), wbits=draw(st.sampled_from([1, 2, 4])),
                             abits=draw(st.sampled_from([1, 2, 4])), asigned=draw(st.booleans()), kernel=1,
                             **common))
    return out


@st.composite
def separable_specs(draw) -> NetSpec:
    """A stem conv (C channels), then one or two depthwise(-separable) blocks, a dense head."""
    in_shape = (draw(st.integers(1, 3)), draw(st.integers(5, 9)), draw(st.integers(5, 9)))
    stem = LayerSpec(kind="conv", out=draw(st.integers(2, 8)), wbits=draw(st.sampled_from([2, 4])),
                     abits=draw(st.sampled_from([1, 2, 4])), asigned=draw(st.booleans()), narrow=False,
                     per_channel=draw(st.booleans()), bn=True, bias=False, kernel=draw(st.sampled_from([1, 3])),
                     pad=draw(st.sampled_from([0, 1])))
    layers = [stem]
    for i in range(draw(st.integers(1, 2))):
        layers += _dw_layer(draw, i)
    return NetSpec(in_shape=in_shape, in_bits=draw(st.sampled_from([2, 4, 8])), in_signed=draw(st.booleans()),
                   layers=layers, out_wbits=draw(st.sampled_from([1, 2, 4])), n_out=draw(st.integers(2, 6)),
                   seed=draw(st.integers(0, 10_000)))


@settings(max_examples=30, **SETTINGS)
@given(spec=separable_specs())
def test_random_depthwise_separable_nets_are_bit_exact(spec, tmp_path, monkeypatch):
    """Random nets: every depthwise conv is a DepthwiseMatVec and the IR equals QONNX (bipolar
    depthwise weights included: the block-diagonal path could not hold their zeros)."""
    monkeypatch.delenv(DEPTHWISE_ENV, raising=False)
    path = tmp_path / "net.onnx"
    calibrate_and_export(spec, path)
    graph = streamline.run(path)
    n_dw = sum(l.depthwise for l in spec.layers)
    assert sum(isinstance(l, DepthwiseMatVec) for l in graph.layers) == n_dw
    x = random_inputs(spec, 64, seed=spec.seed)
    x = np.concatenate([x, np.zeros_like(x[:1]), np.ones_like(x[:1]), -np.ones_like(x[:1])])
    assert_equivalent(graph, Reference(path), x)


def test_channel_multiplier_stays_block_diagonal(tmp_path):
    """A depthwise conv with 2 outputs per channel (groups = C_in, C_out = 2 C_in) keeps the
    block-diagonal MatVec (DepthwiseMatVec is multiplier 1), exactly."""
    from brevitas.nn import QuantConv2d, QuantIdentity, QuantLinear, QuantReLU
    from brevitas.quant import Int8WeightPerTensorFixedPoint, Uint8ActPerTensorFixedPoint

    torch.manual_seed(1)
    q = dict(weight_quant=Int8WeightPerTensorFixedPoint, weight_bit_width=4, bias=False)
    model = nn.Sequential(QuantIdentity(act_quant=Uint8ActPerTensorFixedPoint, bit_width=8),
                          QuantConv2d(1, 3, 3, **q), QuantReLU(act_quant=Uint8ActPerTensorFixedPoint, bit_width=4),
                          QuantConv2d(3, 6, 3, groups=3, **q),
                          QuantReLU(act_quant=Uint8ActPerTensorFixedPoint, bit_width=4), nn.Flatten(),
                          QuantLinear(6 * 4 * 4, 4, **q)).eval()
    from brevitas.export import export_qonnx

    x = np.random.default_rng(0).uniform(0, 1, (30, 1, 8, 8)).astype(np.float32)
    export_qonnx(model, torch.from_numpy(x[:1]), str(tmp_path / "m.onnx"), dynamo=False)
    graph = streamline.run(tmp_path / "m.onnx")
    assert not any(isinstance(l, DepthwiseMatVec) for l in graph.layers)
    assert [l.weights.shape for l in graph.layers if isinstance(l, MatVec)][1] == (6, 27)
    assert_equivalent(graph, Reference(tmp_path / "m.onnx"), x)


def test_one_training_step():
    from qloom import data
    from qloom.train import Recipe, default_recipe, train_model

    try:
        data.load_dataset("fashion-mnist", "val")
    except QloomError as exc:
        pytest.skip(str(exc))
    assert default_recipe("mobilenet-w2a2", "fashion-mnist").epochs >= 1
    torch.manual_seed(0)
    model = build_model("mobilenet-w2a2")
    dw = next(m for m in model.modules() if isinstance(m, nn.Conv2d) and m.groups > 1)
    before = dw.weight.detach().clone()
    result = train_model(model, "fashion-mnist", Recipe(epochs=1, batch_size=32), limit_train=32, limit_eval=32,
                         progress=False)
    assert result.epochs == 1 and 0 <= result.val_accuracy <= 1
    assert not torch.equal(before, dw.weight) and dw.weight.abs().max() <= 1.0
