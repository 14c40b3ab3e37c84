"""Foreign-model corner cases on tiny hand-made QONNX files: constant folding, float ops before
the input quantizer (exact float32 thresholds, per channel), integer inputs, input conventions,
and the one-line errors (Pow on activations, a falling input map, an unquantized float input)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper

from qloom import frontend, sim, streamline
from qloom.errors import QloomError
from qloom.ir import InputQuant, MatVec
from qloom.verify.inputs import dataset_inputs, random_inputs
from qloom.verify.ir import compare
from qloom.verify.reference import Reference

from equivalence import assert_equivalent
from foreign_helpers import boundary_inputs, save_model


def _bipolar_dense(rng, k: int, m: int, src: str, out: str = "y"):
    """BipolarQuant(x) -> MatMul(BipolarQuant(W)): nodes and initializers."""
    w = rng.standard_normal((k, m)).astype(np.float32)
    nodes = [
        helper.make_node("BipolarQuant", [src, "one"], ["xq"], domain="qonnx.custom_op.general"),
        helper.make_node("BipolarQuant", ["w", "one"], ["wq"], domain="qonnx.custom_op.general"),
        helper.make_node("MatMul", ["xq", "wq"], [out]),
    ]
    return nodes, {"w": w, "one": np.float32(1.0)}


@pytest.mark.parametrize("qonnx_first", [False, True])
def test_constant_and_pow_on_constants_fold(qonnx_first, tmp_path):
    """A Constant node and Pow/Sqrt over constants (TensorNorm's shape) fold before the check,
    whichever domain the model's opset list names first."""
    rng = np.random.default_rng(0)
    dense, inits = _bipolar_dense(rng, 6, 5, "pre")
    nodes = [
        helper.make_node("Constant", [], ["two"], value=onnx.numpy_helper.from_array(np.float32(2.0))),
        helper.make_node("Pow", ["var", "half"], ["sd"]),
        helper.make_node("Sqrt", ["var"], ["sd2"]),
        helper.make_node("Mul", ["x", "two"], ["x2"]),
        helper.make_node("Sub", ["x2", "sd"], ["x3"]),  # 2 * x - sqrt(2.25)
        helper.make_node("Div", ["x3", "sd2"], ["pre"]),
        *dense,
    ]
    inits.update(var=np.float32(2.25), half=np.float32(0.5))
    path = save_model(tmp_path, nodes, inits, (1, 6), (1, 5), qonnx_first=qonnx_first)
    model = frontend.load(path)
    assert {n.op_type for n in model.graph.node} == {"Mul", "Sub", "Div", "BipolarQuant", "MatMul"}
    g = streamline.run(path)
    assert g.input_quant.thresholds.tolist() == [[0.75]]  # (2x - 1.5) / 1.5 >= 0
    assert_equivalent(g, Reference(path), random_inputs(g, 200))
    assert_equivalent(g, Reference(path), boundary_inputs(g))


def test_per_channel_normalization_before_the_input_quantizer(tmp_path):
    """(x - mean_c) / std_c -> 4-bit Quant -> Conv: one row of float32 thresholds per channel."""
    rng = np.random.default_rng(4)
    q = dict(domain="qonnx.custom_op.general", signed=1, narrow=0, rounding_mode="ROUND")
    nodes = [
        helper.make_node("Sub", ["x", "mean"], ["xc"]),
        helper.make_node("Div", ["xc", "std"], ["xn"]),
        helper.make_node("Quant", ["xn", "s_in", "zero", "four"], ["xq"], **q),
        helper.make_node("Quant", ["w", "s_w", "zero", "two"], ["wq"], **q),
        helper.make_node("Conv", ["xq", "wq"], ["acc"], kernel_shape=[3, 3]),
        helper.make_node("Quant", ["acc", "s_a", "zero", "four"], ["aq"], **q),
        helper.make_node("Flatten", ["aq"], ["flat"]),
        helper.make_node("Quant", ["w2", "s_w", "zero", "two"], ["w2q"], **q),
        helper.make_node("MatMul", ["flat", "w2q"], ["y"]),
    ]
    inits = {"mean": np.array([0.485, 0.456, 0.406], np.float32).reshape(1, 3, 1, 1),
             "std": np.array([0.229, 0.224, 0.225], np.float32).reshape(1, 3, 1, 1),
             "s_in": np.float32(0.25), "s_w": np.float32(0.5), "zero": np.float32(0), "four": np.float32(4),
             "two": np.float32(2), "w": rng.standard_normal((5, 3, 3, 3)).astype(np.float32),
             "s_a": np.float32(0.5), "w2": rng.standard_normal((80, 7)).astype(np.float32)}
    path = save_model(tmp_path, nodes, inits, (1, 3, 6, 6), (1, 7))
    g = streamline.run(path)
    iq = g.input_quant
    assert iq.thresholds.shape == (3, 15) and len({tuple(r) for r in iq.thresholds}) == 3
    ref = Reference(path)
    x = random_inputs(g, 300)  # [0, 1], widened where a channel's levels lie beyond it
    levels = sim.execute(g, x, trace=True)[1]["input"]
    assert all(set(np.unique(levels[..., c])) == set(range(-8, 8)) for c in range(3))
    assert_equivalent(g, ref, x)
    assert_equivalent(g, ref, boundary_inputs(g))
    bad = iq.thresholds.copy()
    bad[2, 7] = np.nextafter(bad[2, 7], np.float32(np.inf))  # one channel's threshold one float up
    assert compare(g.replace_layer(iq.name, thresholds=bad), ref, boundary_inputs(g))["mismatches"] > 0


def test_random_inputs_reach_thresholds_beyond_the_pixel_range(tmp_path):
    """Preprocessing whose levels lie outside [0, 1] (x / 8): random inputs widen to reach them all."""
    rng = np.random.default_rng(0)
    q = dict(domain="qonnx.custom_op.general", signed=1, narrow=0, rounding_mode="ROUND")
    dense, inits = _bipolar_dense(rng, 5, 3, "pre")
    nodes = [helper.make_node("Div", ["x", "eight"], ["xs"]),
             helper.make_node("Quant", ["xs", "s", "zero", "three"], ["xq0"], **q),
             helper.make_node("Relu", ["xq0"], ["pre"]), *dense]
    inits.update(eight=np.float32(8), s=np.float32(0.25), zero=np.float32(0), three=np.float32(3))
    path = save_model(tmp_path, nodes, inits, (1, 5), (1, 3))
    g = streamline.run(path)
    x = random_inputs(g, 400)
    assert x.min() < -8 and x.max() > 6  # thresholds at x = 2k - 1 for levels k = -3..3: -7 .. 5
    assert set(np.unique(sim.execute(g, x, trace=True)[1]["input"])) == set(range(-4, 4))
    assert_equivalent(g, Reference(path), x)


def test_pow_on_activations_is_refused_with_its_name(tmp_path):
    rng = np.random.default_rng(0)
    dense, inits = _bipolar_dense(rng, 4, 3, "sq")
    nodes = [helper.make_node("Pow", ["x", "two"], ["sq"], name="square"), *dense]
    inits["two"] = np.float32(2.0)
    path = save_model(tmp_path, nodes, inits, (1, 4), (1, 3))
    with pytest.raises(QloomError, match=r'unsupported Pow node "square" \(it reads activations'):
        frontend.load(path)


def test_falling_input_preprocessing_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    dense, inits = _bipolar_dense(rng, 4, 3, "neg")
    nodes = [helper.make_node("Mul", ["x", "m1"], ["neg"]), *dense]
    inits["m1"] = np.float32(-1.0)
    path = save_model(tmp_path, nodes, inits, (1, 4), (1, 3))
    with pytest.raises(QloomError, match="fall as the input rises"):
        streamline.run(path)


def test_hand_made_float_input_to_matmul_is_refused(tmp_path):
    w = np.sign(np.random.default_rng(0).standard_normal((4, 3))).astype(np.float32)
    nodes = [helper.make_node("BipolarQuant", ["w", "one"], ["wq"], domain="qonnx.custom_op.general"),
             helper.make_node("MatMul", ["x", "wq"], ["y"], name="fc")]
    path = save_model(tmp_path, nodes, {"w": w, "one": np.float32(1.0)}, (1, 4), (1, 3))
    with pytest.raises(QloomError, match=r'MatMul node "MatMul_0".*float input.*input quantizer'):
        streamline.run(path)


def test_integer_input_without_quantizer_builds(tmp_path):
    """A UINT8-annotated input feeding a quantized-weight layer: identity InputQuant, integer convention."""
    rng = np.random.default_rng(1)
    w = rng.integers(-3, 4, (16, 5)).astype(np.float32)
    mean = rng.normal(0, 200, 5).astype(np.float32)
    nodes = [
        helper.make_node("Quant", ["w", "one", "zero", "four"], ["wq"], domain="qonnx.custom_op.general",
                         signed=1, narrow=0, rounding_mode="ROUND"),
        helper.make_node("MatMul", ["x", "wq"], ["acc"]),
        helper.make_node("Sub", ["acc", "mean"], ["c"]),
        helper.make_node("Quant", ["c", "scale", "zero", "four"], ["y"], domain="qonnx.custom_op.general",
                         signed=1, narrow=0, rounding_mode="ROUND"),
    ]
    inits = {"w": w, "one": np.float32(1), "zero": np.float32(0), "four": np.float32(4), "mean": mean,
             "scale": np.float32(37.0)}
    path = save_model(tmp_path, nodes, inits, (1, 16), (1, 5), in_dtype="UINT8")
    g = streamline.run(path)
    iq = g.input_quant
    assert iq.input_convention == "integer" and iq.in_dtype == iq.out_type and str(iq.out_type) == "UINT8"
    assert isinstance(g.layers[1], MatVec) and g.layers[1].thresholds is not None
    x = random_inputs(g, 300)
    assert np.array_equal(x, np.round(x)) and x.min() >= 0 and x.max() <= 255 and len(np.unique(x)) > 200
    assert_equivalent(g, Reference(path), x)


def test_integer_typed_input_builds(tmp_path):
    """An ONNX int8 input through Cast(to=FLOAT) is read as a documented INT8 input."""
    w = np.sign(np.random.default_rng(2).standard_normal((6, 4))).astype(np.float32)
    nodes = [helper.make_node("Cast", ["x"], ["xf"], to=onnx.TensorProto.FLOAT),
             helper.make_node("BipolarQuant", ["w", "one"], ["wq"], domain="qonnx.custom_op.general"),
             helper.make_node("MatMul", ["xf", "wq"], ["y"])]
    inits = {"w": w, "one": np.float32(1.0)}
    path = save_model(tmp_path, nodes, inits, (1, 6), (1, 4), elem=onnx.TensorProto.INT8)
    g = streamline.run(path)
    assert g.input_quant.input_convention == "integer" and str(g.input_quant.in_dtype) == "INT8"
    x = random_inputs(g, 200)
    assert x.min() >= -128 and x.max() <= 127 and np.array_equal(x, np.round(x))
    assert_equivalent(g, Reference(path), x)
    direct = save_model(tmp_path, nodes[1:2] + [helper.make_node("MatMul", ["x", "wq"], ["y"], name="fc")], inits,
                   (1, 6), (1, 4), name="direct.onnx", elem=onnx.TensorProto.INT8)
    with pytest.raises(QloomError, match=r'INT8 input .x. feeds MatMul node "fc"; .*Cast\(to=FLOAT\)'):
        frontend.load(direct)


@pytest.mark.parametrize("scale,convention,divisor", [(1 / 256, "pixel/256", 256), (1 / 255, "pixel/255", 255)])
def test_direct_uint8_input_quantizer_keeps_its_convention(scale, convention, divisor, tmp_path, mnist_test_batch):
    """A quantizer right on the input stays the scale/zero-point InputQuant (the zoo's pixel/256);
    an unsigned 8-bit one with scale 1/255 is read as pixel/255. Real images recover the pixels."""
    rng = np.random.default_rng(0)
    q = dict(domain="qonnx.custom_op.general", signed=0, narrow=0, rounding_mode="ROUND")
    nodes = [helper.make_node("Quant", ["x", "s", "zero", "eight"], ["xq"], **q),
             helper.make_node("Flatten", ["xq"], ["flat"]),
             helper.make_node("BipolarQuant", ["w", "one"], ["wq"], domain="qonnx.custom_op.general"),
             helper.make_node("MatMul", ["flat", "wq"], ["y"])]
    inits = {"s": np.float32(scale), "zero": np.float32(0), "eight": np.float32(8), "one": np.float32(1),
             "w": rng.standard_normal((784, 10)).astype(np.float32)}
    path = save_model(tmp_path, nodes, inits, (1, 1, 28, 28), (1, 10))
    g = streamline.run(path)
    iq = g.input_quant
    assert iq.thresholds is None and iq.input_convention == convention
    x, _ = dataset_inputs(g, "mnist", 64)
    images, _ = mnist_test_batch(64)
    assert np.array_equal(x.reshape(64, 28, 28) * np.float32(divisor), images.astype(np.float32))
    trace = sim.execute(g, x, trace=True)[1]
    assert np.array_equal(trace["input"].reshape(64, 28, 28), images)  # the quantizer recovers the pixel
    result = compare(g, Reference(path), x)
    assert result["layers"]["input"]["mismatching_elements"] == 0
    if divisor == 256:  # 1/255 makes the float logits after it inexact in the reference (float-scale case)
        assert result["mismatches"] == 0


@pytest.mark.parametrize("declared", [None, "pixel/256", "pixel/128"])
def test_model_declares_its_input_convention(declared, tmp_path, mnist_test_batch):
    """Metadata `qloom.input_convention` overrides the guess (pixel/255 for float preprocessing)."""
    rng = np.random.default_rng(0)
    dense, inits = _bipolar_dense(rng, 784, 10, "pre")
    nodes = [helper.make_node("Flatten", ["x"], ["flat"]), helper.make_node("Mul", ["flat", "two"], ["x2"]),
             helper.make_node("Sub", ["x2", "one"], ["pre"]), *dense]
    inits["two"] = np.float32(2)
    path = save_model(tmp_path, nodes, inits, (1, 1, 28, 28), (1, 10))
    if declared:
        model = onnx.load(path)
        onnx.helper.set_model_props(model, {"qloom.input_convention": declared})
        onnx.save(model, path)
    if declared == "pixel/128":
        with pytest.raises(QloomError, match=r"qloom.input_convention='pixel/128'.*'pixel/256' or 'pixel/255'"):
            streamline.run(path)
        return
    g = streamline.run(path)
    assert g.input_quant.input_convention == (declared or "pixel/255")
    x, _ = dataset_inputs(g, "mnist", 100)
    images, _ = mnist_test_batch(100)
    assert np.array_equal(x.reshape(100, 28, 28), images / np.float32(g.input_quant.pixel_divisor))
    assert_equivalent(g, Reference(path), x)


def test_input_convention_is_serialized_and_checked():
    from qloom.ir import IntType, serialize
    from qloom.ir.graph import Graph, OutputSpec

    iq = InputQuant(name="input", in_shape=(1, 1, 4), in_dtype=IntType(2, signed=True), scale=np.array(1.0),
                    zero_point=np.zeros(1), out_type=IntType(2, signed=True),
                    thresholds=np.array([[0.25, 0.75]], np.float32), out_base=-1, input_convention="pixel/255")
    g = Graph(name="g", layers=(iq,), output=OutputSpec(scale=np.ones(4), bias=np.zeros(4)))
    back = serialize.from_json(serialize.to_json(g)).layers[0]
    assert back.input_convention == "pixel/255" and back.thresholds.dtype == np.float32
    x = np.array([[0.0, 0.25, 0.5, 0.75]], np.float32)
    assert sim.execute(g, x).reshape(-1).tolist() == [-1, 0, 0, 1]
    with pytest.raises(ValueError, match="input_convention"):
        InputQuant(name="i", in_shape=(1, 1, 4), in_dtype=IntType(2, True), scale=np.array(1.0),
                   zero_point=np.zeros(1), out_type=IntType(2, True), input_convention="pixel/128")


@pytest.mark.parametrize("zp_in, zp_w, zp_act", [(0.0, 0.0, 0.0), (1.0, 0.0, -1.0), (-2.0, 1.0, 2.0)])
def test_one_bit_signed_quant_with_a_zero_point(zp_in, zp_w, zp_act, tmp_path):
    """A 1-bit signed Quant gives +-1 in qonnx, minus its zero point: with zp 0 the bipolar type,
    else the levels {-1 - zp, 1 - zp} (on the input, on weights and between layers)."""
    rng = np.random.default_rng(1)
    q = dict(domain="qonnx.custom_op.general", signed=1, narrow=0, rounding_mode="ROUND")
    nodes = [
        helper.make_node("Quant", ["x", "s_in", "zi", "one"], ["xq"], **q),
        helper.make_node("Quant", ["w", "s_w", "zw", "one"], ["wq"], **q),
        helper.make_node("MatMul", ["xq", "wq"], ["acc"]),
        helper.make_node("Quant", ["acc", "s_a", "za", "one"], ["aq"], **q),
        helper.make_node("Quant", ["w2", "s_w", "zero", "three"], ["w2q"], **q),
        helper.make_node("MatMul", ["aq", "w2q"], ["y"]),
    ]
    inits = {"s_in": np.float32(0.5), "s_w": np.float32(0.5), "s_a": np.float32(1.0), "one": np.float32(1),
             "three": np.float32(3), "zero": np.float32(0), "zi": np.float32(zp_in), "zw": np.float32(zp_w),
             "za": np.float32(zp_act), "w": rng.standard_normal((8, 6)).astype(np.float32),
             "w2": rng.standard_normal((6, 4)).astype(np.float32)}
    path = save_model(tmp_path, nodes, inits, (1, 8), (1, 4))
    g = streamline.run(path)
    assert g.input_quant.out_dtype.bipolar == (zp_in == 0)
    x = (rng.standard_normal((400, 8)) * 2).astype(np.float32)
    edge = np.float32(-zp_in * 0.5)  # x / s + zp >= 0 flips here
    edges = rng.choice([edge, np.nextafter(edge, np.float32(-np.inf))], size=(50, 8)).astype(np.float32)
    assert_equivalent(g, Reference(path), np.concatenate([x, edges]))
