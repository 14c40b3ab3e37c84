"""Models whose output is a convolution feature map: verified in the reference's element order.

The IR streams a feature map channels-last (H, W, C); the QONNX output is NCHW (or its
flatten). `verify --level ir` must read the IR's output in the reference's order
(`OutputSpec.index`), both directions:
- correct IR: zero mismatches, and the IR's output reordered by hand (NHWC -> NCHW) equals the
  reference's, so the check does not rest on the code under test;
- one weight of the last conv changed by one step, reachable on the inputs: a mismatch;
- the element-order bug itself (the output read in stream order, or a transposed output): a mismatch.
Maps have C = 3 channels, H = 5 != W = 8, so any transposition shows.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import onnx
import pytest
import torch
import torch.nn as nn
from brevitas.export import export_qonnx
from brevitas.nn import QuantConv2d, QuantIdentity, QuantReLU
from brevitas.quant import (
    Int8ActPerTensorFixedPoint,
    Int8ActPerTensorFloat,
    Int8WeightPerTensorFixedPoint,
    Int8WeightPerTensorFloat,
    Uint8ActPerTensorFixedPoint,
    Uint8ActPerTensorFloat,
)

from qloom import sim, streamline
from qloom.backends.rtl.out_kind import with_out_kind
from qloom.errors import QloomError
from qloom.ir import IntType, LabelSelect, MatVec
from qloom.verify.ir import compare
from qloom.verify.reference import Reference

from cli_helpers import run_cli

IN_SHAPE = (2, 7, 10)  # (C, H, W) -> the last conv's map is (3, 5, 8)
FRAMES = 50
# (output quantizer after the last conv, tail, float scales)
CONFIGS = [(q, tail, f) for q in (True, False) for tail in ("map", "flatten", "gap") for f in (False, True)
           if q or tail != "flatten"]  # flattening a float accumulator is a one-line build error


def _ids(c):
    return f"{'quant' if c[0] else 'float'}-{c[1]}-{'floatscale' if c[2] else 'pow2'}"


def _model(quant_out: bool, tail: str, float_scale: bool) -> nn.Module:
    torch.manual_seed(3)
    wq = Int8WeightPerTensorFloat if float_scale else Int8WeightPerTensorFixedPoint
    aq = Uint8ActPerTensorFloat if float_scale else Uint8ActPerTensorFixedPoint
    iq = Int8ActPerTensorFloat if float_scale else Int8ActPerTensorFixedPoint
    mods = [QuantIdentity(act_quant=iq, bit_width=8),
            QuantConv2d(2, 4, 3, padding=1, weight_quant=wq, weight_bit_width=4, bias=False),
            QuantReLU(act_quant=aq, bit_width=4),
            # per-channel scales and a bias: the logits are accumulator * scale + bias per channel
            # (a float bias before an unquantized global pool is a one-line build error)
            QuantConv2d(4, 3, 3, weight_quant=wq, weight_bit_width=4, weight_scaling_per_output_channel=True,
                        bias=quant_out or tail != "gap")]
    if quant_out:
        mods.append(QuantIdentity(act_quant=iq, bit_width=4))
    if tail == "flatten":
        mods.append(nn.Flatten())
    elif tail == "gap":
        mods.append(nn.AdaptiveAvgPool2d(1))
    return nn.Sequential(*mods).eval()


def _inputs(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, size=(n, *IN_SHAPE)).astype(np.float32)


@pytest.fixture(scope="module", params=CONFIGS, ids=_ids)
def net(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("convout") / "net.onnx"
    export_qonnx(_model(*request.param), torch.from_numpy(_inputs(1)), str(path), dynamo=False)
    return request.param, path, streamline.run(path), Reference(path), _inputs(FRAMES, seed=1)


def _by_hand(graph, x) -> np.ndarray:
    """The IR's float output, reordered NHWC -> NCHW with numpy (independent of OutputSpec.index)."""
    out = sim.execute(graph, x)
    lg = out.reshape(len(x), -1) * graph.output.scale + graph.output.bias  # per stream position
    return np.moveaxis(lg.reshape(out.shape), -1, 1).reshape(len(x), -1)


def test_the_ir_is_right_by_hand_and_verifies_with_zero_mismatches(net):
    (quant_out, _, _), _, graph, ref, x = net
    want = ref.run(x)[ref.output_name].reshape(len(x), -1)
    got = _by_hand(graph, x)
    if not quant_out:  # float logits: the reference's float32 sums, scales and bias round
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    else:
        np.testing.assert_array_equal(got.astype(np.float32), want)
    np.testing.assert_array_equal(sim.logits(graph, sim.execute(graph, x)), got)  # the model's order
    result = compare(graph, ref, x)
    assert result["mismatches"] == 0, result["first_mismatch"]
    assert all(v["mismatching_elements"] == 0 for v in result["layers"].values())


def _last_conv(graph) -> int:
    return max(j for j, l in enumerate(graph.layers) if isinstance(l, MatVec))


def _one_step(layer: MatVec, c: int, k: int) -> MatVec:
    w = layer.weights.copy()
    w[c, k] += 1 if w[c, k] < layer.w_dtype.max else -1
    w_dtype = layer.w_dtype if layer.w_dtype.contains(w) else IntType.for_range(min(0, w.min()), max(0, w.max()))
    return dataclasses.replace(layer, weights=w, w_dtype=w_dtype)


def test_one_weight_step_in_the_last_conv_is_a_mismatch(net):
    _, _, graph, ref, x = net
    j = _last_conv(graph)
    layer = graph.layers[j]
    before = sim.execute(graph, x)
    rng = np.random.default_rng(0)
    for _ in range(200):  # a change the inputs reach: the model's output differs
        c, k = int(rng.integers(layer.mh)), int(rng.integers(layer.mw))
        wrong = graph.with_layers(graph.layers[:j] + (_one_step(layer, c, k),) + graph.layers[j + 1:])
        if np.any(sim.execute(wrong, x) != before):
            break
    else:
        pytest.fail("no weight step of the last conv is reachable on the inputs")
    result = compare(wrong, ref, x)
    assert result["mismatches"] > 0, f"weight ({c}, {k}) of {layer.name} changed by one step not caught"


def test_the_output_read_in_stream_order_is_a_mismatch(net):
    """The bug itself: the channels-last stream compared as if it were the NCHW tensor."""
    (_, tail, _), _, graph, ref, x = net
    if tail == "gap":
        pytest.skip("a 1x1 map: stream and NCHW orders are the same")
    stream_order = dataclasses.replace(graph, output=dataclasses.replace(graph.output, index=None))
    assert compare(stream_order, ref, x)["mismatches"] == FRAMES


def test_a_transposed_output_is_a_mismatch(net):
    """The IR emits the map with H and W swapped (same values, wrong places): caught."""
    (_, tail, _), _, graph, ref, x = net
    if tail == "gap":
        pytest.skip("a 1x1 map has no transposition")
    index = graph.output.index
    c, h, w = 3, 5, 8
    assert index.size == c * h * w
    # stream position of (c, y, x) read from where (c, x', y') would be in a (W, H, C) frame
    ci, yi, xi = np.meshgrid(np.arange(c), np.arange(h), np.arange(w), indexing="ij")
    flat_t = (xi * h + yi) * c + ci
    transposed = dataclasses.replace(graph.output, index=flat_t.reshape(index.shape))
    g = dataclasses.replace(graph, output=transposed)
    assert compare(g, ref, x)["mismatches"] > 0


def test_cli_build_and_verify_a_conv_map_model(tmp_path):
    """`qloom build --stop-after fold` + `qloom verify --dataset random`: the IR file keeps the order."""
    path = tmp_path / "net.onnx"
    export_qonnx(_model(False, "map", True), torch.from_numpy(_inputs(1)), str(path), dynamo=False)
    out = tmp_path / "B"
    code, _, err = run_cli(["build", str(path), "--out", str(out), "--stop-after", "fold"])
    assert code == 0, err
    code, _, err = run_cli(["verify", str(out), "--dataset", "random", "--frames", str(FRAMES)])
    ir = json.loads((out / "verify.json").read_text())["levels"]["ir"]
    assert code == 0 and ir["mismatches"] == 0, (err, ir["first_mismatch"])


def _with_argmax(path, out_path):
    """The model's flattened map followed by ArgMax (classes = NCHW element indices)."""
    m = onnx.load(path)
    m.graph.node.append(onnx.helper.make_node("ArgMax", [m.graph.output[0].name], ["label"], axis=1, keepdims=1))
    m.graph.output.pop()
    m.graph.output.append(onnx.helper.make_tensor_value_info("label", onnx.TensorProto.INT64, [1, 1]))
    onnx.save(m, out_path)
    return out_path


@pytest.mark.parametrize("float_scale", [False, True], ids=["pow2", "floatscale"])
def test_argmax_of_a_flattened_map_is_the_models_class(tmp_path, float_scale):
    """A stream position is not the model's class here: no hardware label select, the host's
    argmax of the logits in the model's order gives the model's class, ties broken as ArgMax does."""
    path = tmp_path / "net.onnx"
    export_qonnx(_model(True, "flatten", float_scale), torch.from_numpy(_inputs(1)), str(path), dynamo=False)
    path = _with_argmax(path, tmp_path / "argmax.onnx")
    graph, ref = streamline.run(path), Reference(path)
    assert not any(isinstance(l, LabelSelect) for l in graph.layers) and not graph.output.in_stream_order
    x = _inputs(200, seed=2)
    want = ref.run(x)[ref.output_name].reshape(-1)
    assert np.array_equal(np.argmax(sim.logits(graph, sim.execute(graph, x)), axis=1), want)
    result = compare(graph, ref, x)
    assert result["mismatches"] == 0 and result["near_ties"] == 0, result["first_mismatch"]
    with pytest.raises(QloomError, match="not one vector of classes"):
        with_out_kind(graph, "labels")
    # a label select over the channels-last stream (what the IR emitted before): caught
    top1 = LabelSelect(name="labelselect", in_shape=(1, 1, int(np.prod(graph.layers[-1].out_shape))),
                       in_dtype=graph.layers[-1].out_dtype, k=1)
    assert compare(graph.with_layers((*graph.layers, top1)), ref, x)["mismatches"] > 0
