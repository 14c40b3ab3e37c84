"""QONNX export: the exported file, run by qonnx's reference executor, matches PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from brevitas.nn import QuantIdentity, QuantLinear
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx
from torch import nn

from qloom.data import to_model_input
from qloom.export import export_qonnx_model
from qloom.models import build_model
from qloom.models.quant import PixelQuant

# every family, several bit widths, 1-bit included
EXPORTED = ["tfc-w1a1", "tfc-w2a2", "sfc-w1a1", "sfc-w2a2", "lfc-w1a1", "lfc-w4a4", "cnv-w1a1", "cnv-w2a2", "tfc-w8a8"]
N_IMAGES = 8


def run_qonnx(path, images: np.ndarray, full=False):
    """Execute the QONNX file image by image (its input has batch 1)."""
    mw = ModelWrapper(str(path))
    iname, oname = mw.graph.input[0].name, mw.graph.output[0].name
    outs = []
    for img in images:
        ctx = execute_onnx(mw, {iname: to_model_input(img[None]).numpy()}, return_full_exec_context=full)
        outs.append(ctx if full else ctx[oname])
    return mw, outs


@pytest.mark.parametrize("name", EXPORTED)
def test_qonnx_matches_pytorch(name, trained_model, mnist_test_batch):
    model, path = trained_model(name)
    images, labels = mnist_test_batch(N_IMAGES)
    _, outs = run_qonnx(path, images)
    got = np.concatenate(outs)
    with torch.no_grad():
        want = model(to_model_input(images)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert (got.argmax(1) == want.argmax(1)).all()


@pytest.mark.parametrize("name", ["tfc-w1a1", "cnv-w2a2"])
def test_quant_nodes(name, trained_qonnx, mnist_test_batch):
    """Input Quant node yields the pixel bytes; every other quantizer scale is a power of two."""
    images, _ = mnist_test_batch(3)
    mw, ctxs = run_qonnx(trained_qonnx(name), images, full=True)
    first = mw.graph.node[0]
    assert first.op_type == "Quant" and first.input[0] == mw.graph.input[0].name
    scale = mw.get_initializer(first.input[1])
    assert scale.dtype == np.float32 and float(scale) == np.float32(1 / 256)
    assert float(mw.get_initializer(first.input[2])) == 0 and float(mw.get_initializer(first.input[3])) == 8
    for img, ctx in zip(images, ctxs):
        ints = ctx[first.output[0]] / scale
        assert np.array_equal(np.rint(ints).reshape(28, 28), img) and np.abs(ints - np.rint(ints)).max() < 1e-4
    for node in mw.graph.node[1:]:
        if node.op_type in ("Quant", "BipolarQuant"):
            s = mw.get_initializer(node.input[1])
            mant, _ = np.frexp(s)
            assert np.all(mant == 0.5), (node.name, s)
    assert not list(trained_qonnx(name).parent.glob("*.data"))  # self-contained single file


@pytest.mark.parametrize("name", ["tfc-w4a4", "cnv-w2a2"])
def test_signed_activation_variant(name, tmp_path, mnist_test_batch):
    """build_model(..., signed_acts=True): randomly initialised, BN calibrated, exact too."""
    torch.manual_seed(0)
    model = build_model(name, signed_acts=True, init_range=0.5)
    images, _ = mnist_test_batch(64)
    with torch.no_grad():
        model.train()(to_model_input(images))  # BN running statistics from real images
    model.eval()
    path = export_qonnx_model(model, tmp_path / "m.onnx", (1, 28, 28))
    _, outs = run_qonnx(path, images[:4])
    with torch.no_grad():
        np.testing.assert_allclose(np.concatenate(outs), model(to_model_input(images[:4])).numpy(), rtol=1e-5, atol=1e-5)


def test_user_module_export(tmp_path):
    """Any Brevitas module exports, not only zoo models; train/eval mode is restored."""

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.q = QuantIdentity(act_quant=PixelQuant)
            self.fc = QuantLinear(64, 3, bias=False, weight_bit_width=4)

        def forward(self, x):
            return self.fc(self.q(x).flatten(1))

    torch.manual_seed(0)
    m = Tiny().train()
    path = export_qonnx_model(m, tmp_path / "sub" / "tiny.onnx", (1, 8, 8))
    assert m.training and path.is_file()
    x = np.random.default_rng(0).integers(0, 256, (2, 8, 8), dtype=np.uint8)
    _, outs = run_qonnx(path, x)
    with torch.no_grad():
        np.testing.assert_allclose(np.concatenate(outs), m.eval()(to_model_input(x)).numpy(), rtol=1e-5, atol=1e-5)
