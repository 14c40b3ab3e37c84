"""Branching QONNX graphs lowered to the DAG IR, bit-exact against qonnx's execute_onnx:
random DAGs (hypothesis), Brevitas residual / concat / fork modules exported with
export_qonnx, bnn_pynq's resnet18_4w4a, and the errors and wrong lowerings that must show."""

from __future__ import annotations

import dataclasses

import numpy as np
import onnx
import pytest
import torch
import torch.nn as nn
from hypothesis import HealthCheck, given, settings

from qloom import streamline
from qloom.errors import QloomError
from qloom.ir import AddStreams, Concat, Fork, Threshold, serialize
from qloom.verify.ir import compare
from qloom.verify.reference import Reference

from dag_factory import Builder, T, dag_models, inputs
from equivalence import assert_equivalent

SETTINGS = dict(deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _check(model, shape, tmp_path, frames: int = 32) -> dict:
    path = tmp_path / "dag.onnx"
    onnx.save(model, path)
    graph = streamline.run(path)
    result = assert_equivalent(graph, Reference(path), inputs(shape, frames))
    # every element equal, none excused as the reference's rounding (power-of-two scales; where a
    # wide dynamic range makes float32 rounding possible in principle, it still must not happen)
    assert result["reference_rounding"]["elements"] == 0
    assert serialize.from_json(serialize.to_json(graph)).edges() == graph.edges()
    return graph


@settings(max_examples=120, **SETTINGS)  # ~0.2 s each
@given(m=dag_models())
def test_random_dag_networks_are_bit_exact(m, tmp_path):
    model, shape, _ = m
    _check(model, shape, tmp_path)


@pytest.mark.slow
@settings(max_examples=300, **SETTINGS)
@given(m=dag_models(max_steps=8, max_hw=8))
def test_bigger_random_dag_networks_are_bit_exact(m, tmp_path):
    model, shape, _ = m
    _check(model, shape, tmp_path, frames=64)


def test_a_chain_lowers_to_the_linear_ir_of_before(tmp_path):
    """No branch, no names: every layer reads the previous one and the IR file has no `inputs` key
    (the same bytes as before DAGs: checked against main's lowering when this landed)."""
    b = Builder(4, 4, np.random.default_rng(0))
    t = b.quant(T("x", 2, np.ones(2), -1, 1), 8, True, 2.0 ** -7)
    for bits in (4, 2):
        t = b.requant(b.conv(t, 3, 3, 4), bits, False, relu=True)
    g = _check(b.model((1, 2, 4, 4), t, (1, 3, 4, 4)), (1, 2, 4, 4), tmp_path)
    assert g.linear and all(l.inputs == () for l in g.layers)
    assert '"inputs"' not in serialize.to_json(g)


# ---------------------------------------------------------------- Brevitas modules


def _brevitas():
    from brevitas.nn import QuantConv2d, QuantIdentity, QuantReLU
    from brevitas.quant import (Int8ActPerTensorFixedPoint, Int8WeightPerTensorFixedPoint,
                                Uint8ActPerTensorFixedPoint)

    def conv(cin, cout, k=3, wbits=4):
        return QuantConv2d(cin, cout, k, padding=k // 2, bias=False, weight_quant=Int8WeightPerTensorFixedPoint,
                           weight_bit_width=wbits)

    def act(bits, signed=False, **kw):
        q = Int8ActPerTensorFixedPoint if signed else Uint8ActPerTensorFixedPoint
        return (QuantIdentity if signed else QuantReLU)(act_quant=q, bit_width=bits, **kw)

    return conv, act


class ResidualBlock(nn.Module):
    """conv-bn-relu-conv-bn-quant + skip (identity or a 1x1 conv-bn-quant shortcut), add, quant relu."""

    def __init__(self, c=4, bits=4, skip_bits=6, shortcut=False):
        super().__init__()
        conv, act = _brevitas()
        self.inq = act(8, signed=True)
        self.stem = nn.Sequential(conv(3, c), nn.BatchNorm2d(c), act(bits))
        self.body = nn.Sequential(conv(c, c), nn.BatchNorm2d(c), act(bits, signed=True), conv(c, c),
                                  nn.BatchNorm2d(c), act(bits, signed=True))
        self.skip = nn.Sequential(conv(c, c, 1), nn.BatchNorm2d(c), act(skip_bits, signed=True)) if shortcut else None
        self.out = act(bits)

    def forward(self, x):
        y = self.stem(self.inq(x))
        skip = self.skip(y) if self.skip is not None else y
        return self.out(self.body(y) + skip)


class ConcatForkBlock(nn.Module):
    """One quantized map read by three layers (two convs and a concat), concatenated on channels."""

    def __init__(self, c=3, bits=(2, 4)):
        super().__init__()
        conv, act = _brevitas()
        self.inq = act(8)
        self.a = nn.Sequential(conv(c, 2, 1), act(bits[0]))
        self.b = nn.Sequential(conv(c, 3, 3), nn.BatchNorm2d(3), act(bits[1]))
        self.head = nn.Sequential(conv(c + 5, 4), nn.BatchNorm2d(4), act(4))

    def forward(self, x):
        x = self.inq(x)
        return self.head(torch.cat([self.a(x), x, self.b(x)], dim=1))


def _export(module, path, shape=(1, 3, 6, 6), seed=0):
    from brevitas.export import export_qonnx

    torch.manual_seed(seed)
    module.train()
    with torch.no_grad():  # BN statistics and activation ranges from a few batches
        for i in range(3):
            module(torch.rand((16,) + shape[1:]) * 2 - 1)
    module.eval()
    export_qonnx(module, torch.rand(shape), str(path), dynamo=False)
    return path


def _lower_and_compare(path, frames=64, shape=(1, 3, 6, 6)):
    graph = streamline.run(path)
    x = inputs(shape, frames, seed=1)
    result = compare(graph, Reference(path), x)
    return graph, result, x


@pytest.mark.parametrize("bits, skip_bits, shortcut", [(4, 6, False), (2, 4, True), (4, 8, True), (3, 3, False)])
def test_brevitas_residual_block(bits, skip_bits, shortcut, tmp_path):
    path = _export(ResidualBlock(bits=bits, skip_bits=skip_bits, shortcut=shortcut), tmp_path / "res.onnx")
    graph, result, _ = _lower_and_compare(path)
    assert result["mismatches"] == 0, result["first_mismatch"]
    assert result["exact_reference"]
    adds = [l for l in graph.layers if isinstance(l, AddStreams)]
    assert len(adds) == 1 and adds[0].ref is not None and adds[0].name in result["layers"]
    assert [type(l) for l in graph.layers].count(Fork) == 1
    fork = next(l for l in graph.layers if isinstance(l, Fork))
    assert fork.k == 2 and len(graph.consumers(fork.name)) == 2
    # the requantization after the add: a Threshold reading the sum
    (reader,) = graph.consumers(adds[0].name)
    assert isinstance(reader, Threshold) and reader.in_dtype == adds[0].out_dtype


def test_brevitas_concat_with_a_three_way_fork(tmp_path):
    path = _export(ConcatForkBlock(), tmp_path / "cat.onnx")
    graph, result, _ = _lower_and_compare(path)
    assert result["mismatches"] == 0 and result["exact_reference"], result["first_mismatch"]
    (cat,) = [l for l in graph.layers if isinstance(l, Concat)]
    assert cat.channels == (2, 3, 3)
    (fork,) = [l for l in graph.layers if isinstance(l, Fork)]
    assert fork.k == 3 and graph.producers(fork.name)[0].kind == "InputQuant"
    assert cat.name in result["layers"]


def test_a_wrong_shift_is_caught(tmp_path):
    """The comparison can fail: the add with its shifts swapped gives mismatches, named at the add."""
    path = _export(ResidualBlock(bits=4, skip_bits=6, shortcut=True), tmp_path / "res.onnx")
    graph, result, x = _lower_and_compare(path)
    assert result["mismatches"] == 0
    (add,) = [l for l in graph.layers if isinstance(l, AddStreams)]
    wrong = dataclasses.replace(add, shift_a=add.shift_a + 1)
    layers = [wrong if l.name == add.name else l for l in graph.layers]
    (reader,) = graph.consumers(add.name)
    layers = [dataclasses.replace(l, in_dtype=wrong.out_dtype) if l.name == reader.name else l for l in layers]
    bad = compare(graph.with_layers(layers), Reference(path), x)
    assert bad["mismatches"] > 0 and bad["first_mismatch"]["layer"] == add.name
    assert bad["layers"][add.name]["mismatching_elements"] > 0


# ---------------------------------------------------------------- errors


def _two_branches(scale_a: float, scale_b: float):
    b = Builder(3, 3, np.random.default_rng(0))
    x = b.quant(T("x", 2, np.ones(2), -1, 1), 8, True, 2.0 ** -7)
    a1 = b.quant(b.conv(x, 2, 1, 4), 4, True, scale_a)
    a2 = b.quant(b.conv(x, 2, 3, 4), 4, True, scale_b)
    return b, a1, a2


def test_add_of_scales_not_a_power_of_two_apart_is_a_one_line_error(tmp_path):
    b, a1, a2 = _two_branches(0.5, 0.3)
    s = b.add(a1, a2)
    onnx.save(b.model((1, 2, 3, 3), s, (1, 2, 3, 3)), tmp_path / "m.onnx")
    with pytest.raises(QloomError, match=r'Add node "Add_0".*not a power of two apart') as e:
        streamline.run(tmp_path / "m.onnx")
    assert "\n" not in str(e.value)
    # a power of two apart (0.5 = 4 * 0.125) lowers, with the shift on the coarser input
    b, a1, a2 = _two_branches(0.5, 0.125)
    s = b.requant(b.add(a1, a2), 4, True)
    g = _check(b.model((1, 2, 3, 3), s, (1, 2, 3, 3)), (1, 2, 3, 3), tmp_path)
    (add,) = [l for l in g.layers if isinstance(l, AddStreams)]
    assert (add.shift_a, add.shift_b) == (2, 0)


def test_an_accumulator_plus_the_skip_is_exact(tmp_path):
    """conv (no quantizer) + skip: the MatVec keeps its accumulator, the add reads it and the
    quantizer after the sum becomes a Threshold."""
    b = Builder(3, 3, np.random.default_rng(1))
    x = b.quant(T("x", 2, np.ones(2), -1, 1), 8, True, 2.0 ** -7)
    t = b.quant(b.conv(x, 2, 3, 4), 4, True, 2.0 ** -3)
    y = b.requant(b.add(b.conv(t, 2, 3, 3), t), 3, False, relu=True)
    g = _check(b.model((1, 2, 3, 3), y, (1, 2, 3, 3)), (1, 2, 3, 3), tmp_path)
    (add,) = [l for l in g.layers if isinstance(l, AddStreams)]
    acc, skip = g.producers(add.name)
    assert acc.kind == "MatVec" and acc.thresholds is None and add.in_dtype == acc.acc_dtype
    assert skip.kind == "Fork" and isinstance(g.consumers(add.name)[0], Threshold)


def test_an_accumulator_quantized_on_two_paths_is_refused(tmp_path):
    b = Builder(3, 3, np.random.default_rng(0))
    x = b.quant(T("x", 2, np.ones(2), -1, 1), 8, True, 2.0 ** -7)
    acc = b.conv(x, 2, 1, 4)
    out = b.concat([b.quant(acc, 4, True, 0.5), b.quant(acc, 2, False, 0.25)])
    onnx.save(b.model((1, 2, 3, 3), out, (1, 4, 3, 3)), tmp_path / "m.onnx")
    with pytest.raises(QloomError, match="accumulator of mvu0.*quantize the accumulator once"):
        streamline.run(tmp_path / "m.onnx")


# ---------------------------------------------------------------- a model from the field


def _pow2_scales(src, dst) -> None:
    """The same model with every quantizer's (and Trunc's) scale rounded to a power of two:
    the reference's float32 arithmetic is then exact and the comparison strict equality."""
    m = onnx.load(str(src))
    inits = {i.name: i for i in m.graph.initializer}
    names = set()
    for n in m.graph.node:
        if n.op_type in ("Quant", "BipolarQuant", "Trunc"):
            names.add(n.input[1])
        if n.op_type == "Trunc" and len(n.input) == 6:
            names.add(n.input[5])
    for name in names:
        v = onnx.numpy_helper.to_array(inits[name]).astype(np.float64)
        inits[name].CopyFrom(onnx.numpy_helper.from_array(np.exp2(np.round(np.log2(v))).astype(np.float32), name))
    onnx.save(m, str(dst))


@pytest.mark.slow
def test_bnn_pynq_resnet18_4w4a_lowers_and_matches(tmp_path):
    """bnn_pynq's resnet18_4w4a (CIFAR-10, 8 residual blocks, 4 with a downsampling shortcut;
    random weights and BN statistics) behind an 8-bit input quantizer (its first conv reads a
    float input). As exported its scales are float, so the reference's float32 convolutions
    round: zero mismatches under the rounding model. With its scales rounded to powers of two,
    every element of every layer is equal (~2 min, most of it the export and the lowering)."""
    pytest.importorskip("brevitas_examples.bnn_pynq")
    from brevitas.export import export_qonnx
    from brevitas.nn import QuantIdentity
    from brevitas.quant import Uint8ActPerTensorFixedPoint
    from brevitas_examples.bnn_pynq.models import model_with_cfg

    torch.manual_seed(0)
    model, _ = model_with_cfg("resnet18_4w4a", pretrained=False)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(torch.randn(c, generator=g) * 0.5)
                m.running_var.copy_(torch.rand(c, generator=g) * 2 + 0.5)
                m.weight.copy_(torch.rand(c, generator=g) + 0.3)
                m.bias.copy_(torch.randn(c, generator=g) * 0.3)
    net = nn.Sequential(QuantIdentity(act_quant=Uint8ActPerTensorFixedPoint, bit_width=8, return_quant_tensor=True),
                        model).eval()
    path = tmp_path / "resnet18.onnx"
    export_qonnx(net, torch.rand(1, 3, 32, 32), str(path), dynamo=False)
    x = np.random.default_rng(0).random((4, 3, 32, 32)).astype(np.float32)
    _pow2_scales(path, tmp_path / "resnet18_pow2.onnx")
    for p, exact in ((tmp_path / "resnet18_pow2.onnx", True), (path, False)):
        graph = streamline.run(p)
        kinds = [l.kind for l in graph.layers]
        assert kinds.count("AddStreams") == 8 and kinds.count("Fork") == 8 and graph.ends_in_labels is False
        result = compare(graph, Reference(p), x)
        assert result["mismatches"] == 0, result["first_mismatch"]
        assert all(l.name in result["layers"] for l in graph.layers if l.ref is not None)
        if exact:
            assert result["reference_rounding"]["elements"] == 0
