"""The residual zoo family (resnet-wXaY): builds, shapes, a training step, and a QONNX export
whose quantized Adds read two inputs on power-of-two-aligned scales (what lowers exactly)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from brevitas.nn import QuantIdentity, QuantReLU
from torch import nn

from qloom.errors import QloomError
from qloom.export import export_qonnx_model
from qloom.models import build_model, model_names
from qloom.models.resnet import ResidualBlock

from qnn_factory import calibrate_bn, export_calibrated_zoo
from qnn_factory import zoo_pixels as pixels

NAMES = ["resnet-w2a2", "resnet-w4a4"]


def quant_scale(wrapper, tensor: str) -> float:
    """Scale of the Quant node that produced `tensor`, through scale-preserving ops (MaxPool)."""
    node = wrapper.find_producer(tensor)
    while node is not None and node.op_type == "MaxPool":
        node = wrapper.find_producer(node.input[0])
    assert node is not None and node.op_type == "Quant", f"{tensor} does not come from a Quant node"
    scale = wrapper.get_initializer(node.input[1])
    assert scale is not None and scale.size == 1, f"{node.name}: not a per-tensor constant scale"
    return float(scale.reshape(()))


def add_scale_ratios(path) -> list[float]:
    """log2 of the scale ratio of each Add's two inputs in the QONNX file (an integer: aligned)."""
    from qonnx.core.modelwrapper import ModelWrapper

    w = ModelWrapper(str(path))
    return [math.log2(quant_scale(w, n.input[0]) / quant_scale(w, n.input[1]))
            for n in w.graph.node if n.op_type == "Add"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """name -> (eval-mode model with calibrated BN, its model.onnx), exported once per module."""
    cache: dict = {}

    def make(name: str):
        if name not in cache:
            cache[name] = export_calibrated_zoo(name, tmp_path_factory.mktemp(name) / "model.onnx")
        return cache[name]

    return make


def test_names_and_errors():
    assert set(NAMES) <= set(model_names())
    assert isinstance(build_model("resnet", 2, 2), nn.Sequential)
    with pytest.raises(QloomError, match="too small"):
        build_model("resnet-w2a2", input_shape=(1, 8, 8))
    with pytest.raises(QloomError, match="bad option"):
        build_model("resnet-w2a2", padding=1)


@pytest.mark.parametrize("name", NAMES)
def test_forward_shapes_and_conventions(name):
    torch.manual_seed(0)
    model = build_model(name)
    x = pixels(4)
    for train in (True, False):
        model.train(train)
        assert model(x).shape == (4, 10)
    first = model[0]
    assert isinstance(first, QuantIdentity) and float(first.act_quant.scale()) == 2.0**-8
    assert int(first.act_quant.bit_width()) == 8 and not first.act_quant.is_signed
    blocks = [m for m in model if isinstance(m, ResidualBlock)]
    assert [b.conv1.in_channels for b in blocks] == [32, 64]
    a = int(name[-1])
    shapes, h = [], x
    for m in model:  # each block keeps its input's shape, as a skip path needs
        out = m(h)
        if isinstance(m, ResidualBlock):
            shapes.append(tuple(out.shape))
            assert out.shape == h.shape
        h = out
    assert shapes == [(4, 32, 14, 14), (4, 64, 6, 6)]
    for i, m in enumerate(model):
        if isinstance(m, ResidualBlock):  # the skip comes from an a-bit ReLU (through a max-pool)
            skip = model[i - 1] if isinstance(model[i - 1], QuantReLU) else model[i - 2]
            assert isinstance(skip, QuantReLU) and isinstance(model[i - 1], (QuantReLU, nn.MaxPool2d))
            assert float(m.branch_quant.act_quant.scale()) == float(skip.act_quant.scale()) == 2.0 ** -(a - 1)
            assert m.branch_quant.act_quant.is_signed and int(m.branch_quant.act_quant.bit_width()) == a
            assert isinstance(m.act_out, QuantReLU) and int(m.act_out.act_quant.bit_width()) == a


@pytest.mark.parametrize("name", NAMES)
def test_export_has_aligned_adds(name, exported):
    """Two Adds (one per stage), inputs on one scale, each followed by a requantizing ReLU+Quant;
    the exported graph computes what the Brevitas module does."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    model, path = exported(name)
    assert add_scale_ratios(path) == [0.0, 0.0]
    w = ModelWrapper(str(path))
    for add in (n for n in w.graph.node if n.op_type == "Add"):
        assert all(w.get_initializer(t) is None for t in add.input), "an Add of two streams, not a bias"
        relu = w.find_consumer(add.output[0])
        assert relu.op_type == "Relu" and w.find_consumer(relu.output[0]).op_type == "Quant"
    x = pixels(2, seed=5)
    iname, oname = w.graph.input[0].name, w.graph.output[0].name
    for i in range(len(x)):
        got = execute_onnx(w, {iname: x[i : i + 1].numpy()})[oname]
        np.testing.assert_allclose(got, model(x[i : i + 1]).detach().numpy(), rtol=0, atol=1e-5)


@pytest.fixture(scope="module")
def misaligned(tmp_path_factory):
    """A resnet-w2a2 whose first branch quantizer has a free scale (0.15): its Add is not exact."""
    from brevitas.core.restrict_val import RestrictValueType

    from qloom.models.quant import PoTSignedActQuant

    class FloatScale(PoTSignedActQuant):  # the same quantizer with a free (0.3/2) scale
        restrict_scaling_type = RestrictValueType.FP
        min_val, max_val = -0.3, 0.3

    torch.manual_seed(0)
    model = build_model("resnet-w2a2")
    model[5].branch_quant = QuantIdentity(act_quant=FloatScale, bit_width=2)
    assert float(model[5].branch_quant.act_quant.scale()) == pytest.approx(0.15)
    return export_qonnx_model(calibrate_bn(model), tmp_path_factory.mktemp("bad") / "bad.onnx", (1, 28, 28))


def test_misaligned_add_is_flagged(misaligned):
    """The check above can fail: a branch quantizer with a non-power-of-two scale is seen."""
    ratios = add_scale_ratios(misaligned)
    assert ratios[1] == 0.0 and ratios[0] != round(ratios[0])


def ir_inputs() -> np.ndarray:
    """Random pixels plus the extremes (all 0, all 255): the largest sums the Adds see."""
    return np.concatenate([pixels(6, seed=7).numpy(), np.zeros((1, 1, 28, 28), np.float32),
                           np.full((1, 1, 28, 28), 255 / 256, np.float32)])


@pytest.mark.parametrize("name", NAMES)
def test_lowers_to_the_ir_bit_exact(name, exported):
    """IR: a Fork before each block, an AddStreams (no shifts: one scale) reading the branch and
    the skip, a Threshold requantizing the sum; the simulator equals execute_onnx on every
    compared layer and the logits; a seeded weight error in a residual branch is caught."""
    from qloom import streamline
    from qloom.ir import AddStreams, Fork, Graph, MatVec, Threshold
    from qloom.verify.ir import compare
    from qloom.verify.reference import Reference

    _, path = exported(name)
    graph = streamline.run(path)
    adds = [layer for layer in graph.layers if isinstance(layer, AddStreams)]
    assert len(adds) == 2 and all((a.shift_a, a.shift_b) == (0, 0) for a in adds)
    for add in adds:
        branch, skip = (graph.producers(add.name))
        assert isinstance(branch, MatVec) and isinstance(skip, Fork) and skip.k == 2
        assert [type(c) for c in graph.consumers(add.name)] == [Threshold]
    x, ref = ir_inputs(), Reference(path)
    result = compare(graph, ref, x)
    assert result["mismatches"] == 0, result["first_mismatch"]
    assert result["layers_compared"] >= 10

    branch = graph.producers(adds[0].name)[0]
    w = branch.weights.copy()
    w[0] = -w[0]  # one output channel of the first block's second conv, negated
    bad = Graph(**{**{f.name: getattr(graph, f.name) for f in dataclasses.fields(graph)},
                   "layers": tuple(dataclasses.replace(layer, weights=w) if layer is branch else layer
                                   for layer in graph.layers)})
    assert compare(bad, ref, x)["mismatches"] > 0


def test_misaligned_add_is_refused(misaligned):
    """Lowering names the Add and the two scales instead of building an inexact sum."""
    from qloom import streamline

    with pytest.raises(QloomError, match="power of two"):
        streamline.run(misaligned)


def test_one_training_step():
    from qloom import data
    from qloom.train import Recipe, default_recipe, train_model

    dataset = "fashion-mnist"
    try:
        data.load_dataset(dataset, "val")
    except QloomError as exc:
        pytest.skip(str(exc))
    assert default_recipe("resnet-w2a2", dataset).epochs >= 1
    torch.manual_seed(0)
    model = build_model("resnet-w2a2")
    before = model[5].conv1.weight.detach().clone()
    result = train_model(model, dataset, Recipe(epochs=1, batch_size=32), limit_train=32, limit_eval=32, progress=False)
    assert result.epochs == 1 and 0 <= result.val_accuracy <= 1
    assert not torch.equal(before, model[5].conv1.weight) and model[5].conv1.weight.abs().max() <= 1.0
