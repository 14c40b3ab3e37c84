"""Streamline on hand-picked networks: corner cases, errors, and that the checker can fail."""


import numpy as np
import onnx
import pytest
import torch
from onnx import helper

from qloom import frontend, semantics as sem, sim, streamline
from qloom.errors import QloomError
from qloom.ir import MatVec, serialize
from qloom.verify.reference import Reference

from equivalence import assert_equivalent
from qnn_factory import LayerSpec, NetSpec, calibrate_and_export, random_inputs


def _dense(**kw) -> LayerSpec:
    base = dict(kind="dense", out=8, wbits=2, abits=2, asigned=False, narrow=False, per_channel=False,
                bn=True, bias=False)
    return LayerSpec(**{**base, **kw})


@pytest.fixture(scope="module")
def small_net(tmp_path_factory):
    spec = NetSpec(in_shape=(20,), in_bits=8, in_signed=False,
                   layers=[_dense(out=12, wbits=4, abits=4, bias=True), _dense(abits=1, wbits=1)], seed=3)
    path = tmp_path_factory.mktemp("net") / "net.onnx"
    calibrate_and_export(spec, path)
    return spec, path


def test_small_net_equivalent_and_widths_proven(small_net):
    spec, path = small_net
    g = streamline.run(path)
    x = random_inputs(spec, 300)
    assert assert_equivalent(g, Reference(path), x)["layers_checked"] >= 3
    for layer in g.layers:
        if isinstance(layer, MatVec):
            lo, hi = sem.accumulator_range(layer.weights, layer.in_dtype.min, layer.in_dtype.max)
            assert layer.acc_dtype.contains(np.array([lo, hi]))
            assert layer.acc_dtype == type(layer.acc_dtype).for_range(lo, hi)  # minimal


def test_checker_detects_a_wrong_threshold(small_net):
    spec, path = small_net
    g = streamline.run(path)
    mv = next(l for l in g.layers if isinstance(l, MatVec) and l.thresholds is not None)
    x = random_inputs(spec, 300)
    acc = sem.matvec(sim.execute(g, x, trace=True)[1][g.layers[0].name].reshape(len(x), -1), mv.weights)
    # move one threshold onto an accumulator value the data actually hits
    thr = mv.thresholds.copy()
    c = int(np.argmax(np.ptp(acc, axis=0)))
    thr[c, 0] = int(np.median(acc[:, c])) + 1 if thr[c, 0] <= np.median(acc[:, c]) else int(np.median(acc[:, c]))
    thr = np.sort(thr, axis=1)
    bad = g.replace_layer(mv.name, thresholds=thr)
    with pytest.raises(AssertionError):
        assert_equivalent(bad, Reference(path), x)


def test_negative_batchnorm_gamma_flips_weights(tmp_path):
    spec = NetSpec(in_shape=(10,), in_bits=4, in_signed=True, layers=[_dense(out=6, abits=3)], seed=5)
    model = calibrate_and_export(spec, tmp_path / "a.onnx")
    bn = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d))
    with torch.no_grad():
        bn.weight[:3] = -bn.weight[:3].abs() - 0.5
    from brevitas.export import export_qonnx
    export_qonnx(model, torch.from_numpy(random_inputs(spec, 1)), str(tmp_path / "b.onnx"), dynamo=False)
    g = streamline.run(tmp_path / "b.onnx")
    assert_equivalent(g, Reference(tmp_path / "b.onnx"), random_inputs(spec, 400))


def test_ir_json_roundtrip_of_streamlined_graph(small_net, tmp_path):
    spec, path = small_net
    g = streamline.run(path)
    g2 = serialize.load(serialize.save(g, tmp_path / "ir.json"))
    x = random_inputs(spec, 50)
    assert np.array_equal(sim.execute(g, x), sim.execute(g2, x))


def _onnx_file(tmp_path, nodes, inits, name="m.onnx"):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 4])],
                              initializer=[onnx.numpy_helper.from_array(v, k) for k, v in inits.items()])
    path = tmp_path / name
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    return path


def test_unsupported_op_names_the_node(tmp_path):
    path = _onnx_file(tmp_path, [helper.make_node("Sigmoid", ["x"], ["y"], name="squash")], {})
    with pytest.raises(QloomError, match=r'unsupported Sigmoid node "squash".*Supported ops: .*MatMul'):
        frontend.load(path)


def test_float_model_points_to_quantization(tmp_path):
    w = np.random.default_rng(0).random((4, 4)).astype(np.float32)
    path = _onnx_file(tmp_path, [helper.make_node("MatMul", ["x", "w"], ["y"], name="fc")], {"w": w})
    with pytest.raises(QloomError, match="float.*quantization-aware training"):
        frontend.load(path)


def test_malformed_and_missing_files(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not a protobuf")
    with pytest.raises(QloomError, match="not a readable ONNX file|not a valid ONNX model"):
        frontend.load(bad)
    with pytest.raises(QloomError, match="does not exist"):
        frontend.load(tmp_path / "missing.onnx")


def test_attribute_shown_in_error(tmp_path):
    node = helper.make_node("LeakyRelu", ["x"], ["y"], name="lr", alpha=0.1)
    path = _onnx_file(tmp_path, [node], {})
    with pytest.raises(QloomError, match=r"LeakyRelu node \"lr\" \(alpha=0.1"):
        frontend.load(path)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_trunc_average_pool_is_bit_exact(seed, tmp_path):
    """Brevitas TruncAvgPool2d exports AveragePool + Trunc (qonnx Trunc v2): sum pool + thresholds."""
    import torch.nn as nn
    from brevitas.export import export_qonnx
    from brevitas.nn import QuantConv2d, QuantIdentity, QuantLinear, QuantReLU, TruncAvgPool2d
    from brevitas.quant import Int8WeightPerTensorFixedPoint, Uint8ActPerTensorFixedPoint

    torch.manual_seed(seed)
    model = nn.Sequential(
        QuantIdentity(act_quant=Uint8ActPerTensorFixedPoint, bit_width=4, return_quant_tensor=True),
        QuantConv2d(1, 4, 3, bias=False, weight_quant=Int8WeightPerTensorFixedPoint, weight_bit_width=3),
        nn.BatchNorm2d(4),
        QuantReLU(act_quant=Uint8ActPerTensorFixedPoint, bit_width=3, return_quant_tensor=True),
        TruncAvgPool2d(kernel_size=2, stride=2, bit_width=3, float_to_int_impl_type="FLOOR"),
        nn.Flatten(),
        QuantLinear(36, 5, bias=False, weight_quant=Int8WeightPerTensorFixedPoint, weight_bit_width=2))
    model.train()
    for _ in range(3):
        model(torch.rand(16, 1, 8, 8))
    model.eval()
    path = tmp_path / "trunc.onnx"
    export_qonnx(model, torch.rand(1, 1, 8, 8), str(path), dynamo=False)
    g = streamline.run(path)
    assert [l.kind for l in g.layers] == ["InputQuant", "SlidingWindow", "MatVec", "Pool", "Threshold", "MatVec"]
    x = np.random.default_rng(seed).random((300, 1, 8, 8)).astype(np.float32)
    assert assert_equivalent(g, Reference(path), x)["layers_checked"] >= 3


@pytest.mark.parametrize("head", ["ArgMax", "TopK"])
def test_classification_head_becomes_label_select(head, small_net, tmp_path):
    spec, path = small_net
    m = onnx.load(str(path))
    out = m.graph.output[0]
    logits = out.name
    if head == "ArgMax":
        node = helper.make_node("ArgMax", [logits], ["label"], axis=1, keepdims=1, name="argmax")
    else:
        m.graph.initializer.append(onnx.numpy_helper.from_array(np.array([2], dtype=np.int64), "k"))
        node = helper.make_node("TopK", [logits, "k"], ["values", "label"], axis=1, name="topk")
    m.graph.node.append(node)
    m.graph.output.pop()
    k = 1 if head == "ArgMax" else 2
    m.graph.output.append(helper.make_tensor_value_info("label", onnx.TensorProto.INT64, [1, k]))
    headed = tmp_path / "headed.onnx"
    onnx.save(m, str(headed))
    g = streamline.run(headed)
    assert g.layers[-1].kind == "LabelSelect" and g.layers[-1].k == (1 if head == "ArgMax" else 2)
    assert_equivalent(g, Reference(headed), random_inputs(spec, 300))
