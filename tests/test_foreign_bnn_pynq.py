"""Foreign models as FINN's own examples export them: brevitas_examples.bnn_pynq TFC/SFC/LFC/CNV.

Every config, random weights (BN statistics re-randomized with a seeded generator so the
thresholds are non-trivial), both exporters (TorchScript: a TensorNorm `Pow` node; dynamo:
external weights), IR vs QONNX with zero mismatches on random and real inputs, and at the
input quantizer's float32 boundaries. The models compute `2 * x - 1` (and a Reshape) before
their first quantizer: qloom turns that into exact float32 input thresholds.

TensorNorm (the float affine map after the last layer, feeding the logits) gets dyadic
parameters here, so the reference's float32 logits are exact and compared as such; with
arbitrary floats they differ from qloom's by float32 rounding (see below). Hand-made corner
cases of the same machinery are in test_foreign_inputs.py.
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
from qloom.ir import LabelSelect, MatVec, Threshold
from qloom.verify.inputs import dataset_inputs, random_inputs
from qloom.verify.ir import compare
from qloom.verify.reference import Reference

from equivalence import assert_equivalent
from foreign_helpers import boundary_inputs

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
    """The RTL of TFC_1W1A (input = the host thresholds' bipolar bits) equals the IR, also
    behind the generated drivers on the co-simulated DMA."""
    out = tmp_path / "build"
    assert main(["build", str(exported("TFC_1W1A", "torchscript")), "--out", str(out), "--stop-after", "rtl"]) == 0
    levels = ["--level", "ir", "--level", "rtl", "--level", "driver"]
    assert main(["verify", str(out), "--dataset", "mnist", "--frames", "20", *levels]) == 0
    assert capsys.readouterr().out.count(" 0 mismatches") == 3


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
