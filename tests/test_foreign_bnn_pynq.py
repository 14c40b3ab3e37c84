"""Foreign models as FINN's own examples export them: brevitas_examples.bnn_pynq TFC/SFC/LFC/CNV.

Every config, random weights (BN statistics re-randomized with a seeded generator so the
thresholds are non-trivial), both exporters (TorchScript: a TensorNorm `Pow` node; dynamo:
external weights), IR vs QONNX with zero mismatches on random and real inputs, and at the
input quantizer's float32 boundaries. The models compute `2 * x - 1` (and a Reshape) before
their first quantizer: qloom turns that into exact float32 input thresholds.

TensorNorm (the float affine map after the last layer, feeding the logits) gets dyadic
parameters here, so the reference's float32 logits are exact and compared as such; with
arbitrary floats they differ from qloom's by float32 rounding (see the last tests).
"""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import pytest
import torch
from onnx import helper

from qloom import frontend, sim, streamline
from qloom.cli import main
from qloom.errors import QloomError
from qloom.ir import InputQuant, LabelSelect, MatVec, Threshold
from qloom.verify.inputs import dataset_inputs, random_inputs
from qloom.verify.ir import compare
from qloom.verify.reference import Reference

from equivalence import assert_equivalent

pytest.importorskip("brevitas_examples.bnn_pynq")

MLPS = ["TFC_1W1A", "TFC_1W2A", "TFC_2W2A", "SFC_1W1A", "SFC_1W2A", "SFC_2W2A", "LFC_1W1A", "LFC_1W2A"]
CNVS = ["CNV_1W1A", "CNV_1W2A", "CNV_2W2A"]
EXPORTERS = ["torchscript", "dynamo"]


def _randomize(model: torch.nn.Module, seed: int, exact_norm: bool = True) -> torch.nn.Module:
    """Seeded BN statistics and affine parameters (signs of gamma mixed); TensorNorm dyadic if exact_norm."""
    from brevitas_examples.bnn_pynq.models.tensor_norm import TensorNorm

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                c = m.num_features
                m.running_mean.copy_(torch.randn(c, generator=g) * 4)
                m.running_var.copy_(torch.rand(c, generator=g) * 20 + 0.5)
                m.weight.copy_((torch.rand(c, generator=g) + 0.2) * torch.sign(torch.randn(c, generator=g)))
                m.bias.copy_(torch.randn(c, generator=g) * 0.5)
            elif isinstance(m, TensorNorm) and exact_norm:
                # (x - k/4) / sqrt(4) * j/8 + i/8: every float32 step exact for integer x
                m.running_mean.fill_(int(torch.randint(-8, 8, (1,), generator=g)) / 4)
                m.running_var.fill_(4.0 - m.eps)  # float32(var + eps) == 4.0, sqrt == 2.0
                m.weight.fill_(int(torch.randint(1, 8, (1,), generator=g)) / 8)
                m.bias.fill_(int(torch.randint(-8, 8, (1,), generator=g)) / 8)
            elif isinstance(m, TensorNorm):
                m.running_mean.copy_(torch.randn(1, generator=g) * 3)
                m.running_var.copy_(torch.rand(1, generator=g) * 5 + 0.5)
                m.weight.copy_(torch.rand(1, generator=g) + 0.5)
                m.bias.copy_(torch.randn(1, generator=g))
    return model.eval()


def _in_shape(name: str) -> tuple[int, ...]:
    return (1, 3, 32, 32) if name.startswith("CNV") else (1, 1, 28, 28)


def export_bnn_pynq(name: str, exporter: str, path, seed: int = 0, exact_norm: bool = True):
    """bnn_pynq `name` with random weights, exported as FINN's notebooks do (export_qonnx)."""
    from brevitas.export import export_qonnx
    from brevitas_examples.bnn_pynq.models import model_with_cfg

    torch.manual_seed(seed)
    model, _ = model_with_cfg(name, pretrained=False)
    _randomize(model, seed, exact_norm)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_qonnx(model, torch.rand(_in_shape(name)), str(path), dynamo=(exporter == "dynamo"))
    return model, path


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Factory: (name, exporter) -> path of the exported model (cached per module)."""
    cache = {}

    def make(name: str, exporter: str):
        if (name, exporter) not in cache:
            path = tmp_path_factory.mktemp(f"{name}-{exporter}") / f"{name}.onnx"
            cache[(name, exporter)] = export_bnn_pynq(name, exporter, path)[1]
        return cache[(name, exporter)]

    return make


def boundary_inputs(graph) -> np.ndarray:
    """Inputs at every input threshold t and at the float32 just below it, in every channel.

    The boundary values cycle over each channel's positions, as few frames as that takes
    (CNV, 510 values over 32x32 positions: one frame; TFC: one frame per value).
    """
    iq = graph.input_quant
    t = np.unique(iq.thresholds[np.isfinite(iq.thresholds)])
    values = np.concatenate([t, np.nextafter(t, np.float32(-np.inf))]).astype(np.float32)
    shape = tuple(graph.onnx_input_shape[1:])
    c, positions = (shape[0], shape[1] * shape[2]) if len(shape) == 3 else (shape[0], 1)
    n = -(-len(values) // positions)
    frames = values[(np.arange(n)[:, None] * positions + np.arange(positions)[None, :]) % len(values)]
    x = np.repeat(frames[:, None, :], c, axis=1)  # (n, C, positions): every channel sees every value
    return x.reshape((n,) + shape)


def _check_exact(graph, path, frames: int, seed: int = 0) -> dict:
    ref = Reference(path)
    result = assert_equivalent(graph, ref, random_inputs(graph, frames, seed))
    assert result["layers_checked"] == sum(1 for l in graph.layers if l.ref is not None)
    assert_equivalent(graph, ref, boundary_inputs(graph))
    return result


def _cases():
    """MLPs: 300 random frames. CNV (the IR simulator takes ~0.1 s per CNV frame): CNV_1W1A with
    48 by default, every CNV config with 300 in the slow set. Boundary frames come on top."""
    for name in MLPS + CNVS:
        for exporter in EXPORTERS:
            if name not in CNVS:
                yield pytest.param(name, exporter, 300, id=f"{name}-{exporter}")
                continue
            if name == "CNV_1W1A":
                yield pytest.param(name, exporter, 48, id=f"{name}-{exporter}")
            yield pytest.param(name, exporter, 300, id=f"{name}-{exporter}-300", marks=[pytest.mark.slow])


@pytest.mark.parametrize("name,exporter,frames", list(_cases()))
def test_bnn_pynq_ir_equals_qonnx(name, exporter, frames, exported):
    path = exported(name, exporter)
    g = streamline.run(path)
    iq = g.input_quant
    # the float preprocessing (2 * x - 1) before the first quantizer became float32 thresholds
    assert iq.thresholds is not None and iq.thresholds.dtype == np.float32
    assert iq.input_convention == "pixel/255"
    if name.endswith("1W1A") and not name.startswith("CNV"):
        assert iq.out_type.bipolar and iq.thresholds.tolist() == [[0.5]]  # sign(2x - 1)
    assert sum(isinstance(l, MatVec) for l in g.layers) == (9 if name.startswith("CNV") else
                                                               {"T": 4, "S": 4, "L": 4}[name[0]])
    _check_exact(g, path, frames)


def test_real_mnist_images_as_finn_feeds_them(exported, mnist_test_batch):
    """pixel / 255, as FINN's notebooks (ToTensor) feed TFC: the IR equals the reference."""
    path = exported("TFC_2W2A", "dynamo")
    g = streamline.run(path)
    x, _ = dataset_inputs(g, "mnist", 300)
    images, _ = mnist_test_batch(300)
    assert np.array_equal(x.reshape(300, 28, 28), images.astype(np.float32) / np.float32(255))
    assert_equivalent(g, Reference(path), x)


def test_shifted_input_threshold_is_caught(exported):
    """The boundary inputs detect an input threshold one float32 step off (the check can fail)."""
    path = exported("TFC_2W2A", "torchscript")
    g = streamline.run(path)
    iq = g.input_quant
    for direction in (np.inf, -np.inf):
        thr = iq.thresholds.copy()
        thr[0, 0] = np.nextafter(thr[0, 0], np.float32(direction))
        bad = g.replace_layer(iq.name, thresholds=thr)
        result = compare(bad, Reference(path), boundary_inputs(g))
        assert result["mismatches"] > 0 and result["first_mismatch"]["layer"] == "input"


@pytest.mark.parametrize("name", ["TFC_1W1A", "CNV_1W1A"])
def test_build_to_rtl_and_verify(name, exported, tmp_path, capsys):
    path = exported(name, "dynamo")
    out = tmp_path / "build"
    assert main(["build", str(path), "--out", str(out), "--stop-after", "rtl"]) == 0
    assert (out / "rtl" / "design.json").is_file()
    assert main(["verify", str(out), "--dataset", "random", "--frames", "16", "--level", "ir"]) == 0
    assert "0 mismatches" in capsys.readouterr().out


@pytest.mark.slow
def test_tfc_rtl_takes_the_input_thresholds_output(exported, tmp_path, capsys):
    """The RTL of TFC_1W1A (input = the host thresholds' bipolar bits) equals the IR."""
    out = tmp_path / "build"
    assert main(["build", str(exported("TFC_1W1A", "torchscript")), "--out", str(out), "--stop-after", "rtl"]) == 0
    assert main(["verify", str(out), "--dataset", "mnist", "--frames", "20", "--level", "ir", "--level", "rtl"]) == 0
    assert capsys.readouterr().out.count(" 0 mismatches") == 2


def test_arbitrary_tensornorm_differs_only_by_float32_rounding(tmp_path):
    """Non-dyadic TensorNorm: every integer layer stays exact, the logits differ from the
    reference's float32 by less than one float32 step of the largest intermediate (the
    reference's own rounding; h-floatscale's classification, not a looser compare here)."""
    _, path = export_bnn_pynq("TFC_1W1A", "torchscript", tmp_path / "m.onnx", seed=3, exact_norm=False)
    g = streamline.run(path)
    ref = Reference(path)
    x = random_inputs(g, 300)
    result = compare(g, ref, x)
    assert all(v["mismatching_elements"] == 0 for v in result["layers"].values())
    want = ref.run(x)[ref.output_name]
    got = sim.logits(g, sim.execute(g, x))
    assert np.array_equal(np.argmax(got, axis=1), np.argmax(want, axis=1))
    bound = np.spacing(np.float32(np.abs(want).max() + np.abs(g.output.bias).max()))
    assert np.abs(got - want).max() <= 2 * bound


@pytest.mark.parametrize("tn_weight,hardware", [(0.75, True), (-0.5, False)])
def test_topk_after_tensornorm(tn_weight, hardware, tmp_path):
    """FINN's notebooks add a TopK: after a rising TensorNorm (even non-dyadic) the label
    select is hardware and the labels exact; a falling one reverses the order: host top-k."""
    from qonnx.transformation.insert_topk import InsertTopK

    model, path = export_bnn_pynq("TFC_1W1A", "torchscript", tmp_path / "m.onnx", seed=5, exact_norm=False)
    with torch.no_grad():
        model.features[-1].weight.fill_(tn_weight)
    from brevitas.export import export_qonnx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_qonnx(model, torch.rand(1, 1, 28, 28), str(path), dynamo=False)
    frontend.load(path).transform(InsertTopK(k=1)).save(str(tmp_path / "topk.onnx"))
    g = streamline.run(tmp_path / "topk.onnx")
    assert isinstance(g.layers[-1], LabelSelect) == hardware
    ref = Reference(tmp_path / "topk.onnx")
    x = random_inputs(g, 300)
    assert_equivalent(g, ref, x)
    mv = g.layers[-2 if hardware else -1]
    w = mv.weights.copy()
    w[:, 0] *= -1  # a real error: the labels change and are caught
    with pytest.raises(AssertionError, match="frames differ"):
        assert_equivalent(g.replace_layer(mv.name, weights=w), ref, x)


def test_resnet18_float_input_is_a_one_line_error(tmp_path, capsys):
    """resnet18_4w4a's first conv reads the float image: the error says so and what to add."""
    from brevitas.export import export_qonnx
    from brevitas_examples.bnn_pynq.models import model_with_cfg

    model, _ = model_with_cfg("resnet18_4w4a", pretrained=False)
    path = tmp_path / "resnet.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_qonnx(model.eval(), torch.rand(1, 3, 32, 32), str(path), dynamo=False)
    assert main(["build", str(path), "--out", str(tmp_path / "b"), "--stop-after", "streamline"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "Conv node" in err and "float input" in err and "QuantIdentity(bit_width=8)" in err


# ---------------------------------------------------------------- hand-made corner cases


def _save(tmp_path, nodes, inits, in_shape, out_shape, name="m.onnx", in_dtype=None, elem=onnx.TensorProto.FLOAT,
          qonnx_first=False):
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", elem, list(in_shape))],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, list(out_shape))],
        initializer=[onnx.numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    opsets = [helper.make_opsetid("", 13), helper.make_opsetid("qonnx.custom_op.general", 1)]
    model = helper.make_model(graph, opset_imports=opsets[::-1] if qonnx_first else opsets)
    if in_dtype is not None:  # qonnx's datatype annotation (FINN marks an integer input this way)
        from qonnx.core.datatype import DataType
        from qonnx.core.modelwrapper import ModelWrapper

        mw = ModelWrapper(model)
        mw.set_tensor_datatype("x", DataType[in_dtype])
        model = mw.model
    path = tmp_path / name
    onnx.save(model, path)
    return path


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
    path = _save(tmp_path, nodes, inits, (1, 6), (1, 5), qonnx_first=qonnx_first)
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
    path = _save(tmp_path, nodes, inits, (1, 3, 6, 6), (1, 7))
    g = streamline.run(path)
    iq = g.input_quant
    assert iq.thresholds.shape == (3, 15) and len({tuple(r) for r in iq.thresholds}) == 3
    ref = Reference(path)
    assert_equivalent(g, ref, random_inputs(g, 300))
    assert_equivalent(g, ref, boundary_inputs(g))
    bad = iq.thresholds.copy()
    bad[2, 7] = np.nextafter(bad[2, 7], np.float32(np.inf))  # one channel's threshold one float up
    assert compare(g.replace_layer(iq.name, thresholds=bad), ref, boundary_inputs(g))["mismatches"] > 0


def test_pow_on_activations_is_refused_with_its_name(tmp_path):
    rng = np.random.default_rng(0)
    dense, inits = _bipolar_dense(rng, 4, 3, "sq")
    nodes = [helper.make_node("Pow", ["x", "two"], ["sq"], name="square"), *dense]
    inits["two"] = np.float32(2.0)
    path = _save(tmp_path, nodes, inits, (1, 4), (1, 3))
    with pytest.raises(QloomError, match=r'unsupported Pow node "square" \(it reads activations'):
        frontend.load(path)


def test_falling_input_preprocessing_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    dense, inits = _bipolar_dense(rng, 4, 3, "neg")
    nodes = [helper.make_node("Mul", ["x", "m1"], ["neg"]), *dense]
    inits["m1"] = np.float32(-1.0)
    path = _save(tmp_path, nodes, inits, (1, 4), (1, 3))
    with pytest.raises(QloomError, match="fall as the input rises"):
        streamline.run(path)


def test_hand_made_float_input_to_matmul_is_refused(tmp_path):
    w = np.sign(np.random.default_rng(0).standard_normal((4, 3))).astype(np.float32)
    nodes = [helper.make_node("BipolarQuant", ["w", "one"], ["wq"], domain="qonnx.custom_op.general"),
             helper.make_node("MatMul", ["x", "wq"], ["y"], name="fc")]
    path = _save(tmp_path, nodes, {"w": w, "one": np.float32(1.0)}, (1, 4), (1, 3))
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
    path = _save(tmp_path, nodes, inits, (1, 16), (1, 5), in_dtype="UINT8")
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
    path = _save(tmp_path, nodes, inits, (1, 6), (1, 4), elem=onnx.TensorProto.INT8)
    g = streamline.run(path)
    assert g.input_quant.input_convention == "integer" and str(g.input_quant.in_dtype) == "INT8"
    x = random_inputs(g, 200)
    assert x.min() >= -128 and x.max() <= 127 and np.array_equal(x, np.round(x))
    assert_equivalent(g, Reference(path), x)
    direct = _save(tmp_path, nodes[1:2] + [helper.make_node("MatMul", ["x", "wq"], ["y"], name="fc")], inits,
                   (1, 6), (1, 4), name="direct.onnx", elem=onnx.TensorProto.INT8)
    with pytest.raises(QloomError, match=r'INT8 input .x. feeds MatMul node "fc"; .*Cast\(to=FLOAT\)'):
        frontend.load(direct)


def test_finn_style_uint8_input_with_totensor_builds(exported, tmp_path):
    """FINN's notebooks prepend ToTensor (x / 255) and mark the input UINT8: the preprocessing
    then becomes a hardware Threshold on the integer pixels."""
    src = onnx.load(str(exported("TFC_1W1A", "torchscript")))
    inp = src.graph.input[0].name
    for node in src.graph.node:
        node.input[:] = ["x01" if i == inp else i for i in node.input]
    src.graph.node.insert(0, helper.make_node("Div", [inp, "c255"], ["x01"], name="totensor"))
    src.graph.initializer.append(onnx.numpy_helper.from_array(np.float32(255.0), "c255"))
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper

    mw = ModelWrapper(src)
    mw.set_tensor_datatype(inp, DataType["UINT8"])
    path = tmp_path / "tfc_uint8.onnx"
    mw.save(str(path))
    g = streamline.run(path)
    assert g.input_quant.input_convention == "integer" and g.input_quant.thresholds is None
    thr = g.layers[1]
    assert isinstance(thr, Threshold) and thr.in_shape == (1, 1, 784)
    assert np.all(thr.thresholds == 128)  # 2 * p / 255 - 1 >= 0  <=>  p >= 128 (float32 exact)
    x = np.arange(256, dtype=np.float32)[np.random.default_rng(0).integers(0, 256, (300, 1, 28, 28))]
    assert_equivalent(g, Reference(path), x)
    assert_equivalent(g, Reference(path), random_inputs(g, 300))


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
    path = _save(tmp_path, nodes, inits, (1, 1, 28, 28), (1, 10))
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
