"""Model zoo: names, bit widths, and the quantization conventions the compiler relies on."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from brevitas.nn import QuantConv2d, QuantIdentity, QuantLinear, QuantReLU
from torch import nn

from qloom.errors import QloomError
from qloom.models import VALID_BITS, build_model, canonical_name, model_names, parse_model_name

QUANT_ACTS = (QuantIdentity, QuantReLU)


def is_pow2(t: torch.Tensor) -> bool:
    m, _ = np.frexp(t.detach().numpy().astype(np.float32))
    return bool(np.all(m == 0.5))


def test_names():
    names = model_names()
    assert len(names) == 6 * len(VALID_BITS) ** 2
    assert {"tfc-w1a1", "sfc-w2a2", "lfc-w1a2", "cnv-w2a2", "resnet-w2a2", "mobilenet-w4a4"} <= set(names)
    assert parse_model_name("tfc-w1a2") == ("tfc", 1, 2)
    assert parse_model_name("SFC-w2a2", weight_bits=4) == ("sfc", 4, 2)
    assert canonical_name("lfc", 1, 1) == "lfc-w1a1"


@pytest.mark.parametrize(
    "bad, match",
    [
        ("xfc-w1a1", "tfc, sfc, lfc, cnv"),
        ("tfc-w3a1", "valid: 1, 2, 4, 8"),
        ("tfc-w1a16", "valid: 1, 2, 4, 8"),
        ("tfc", "needs bit widths"),
        ("tfc_w1a1", "tfc, sfc, lfc, cnv"),
    ],
)
def test_bad_names(bad, match):
    with pytest.raises(QloomError, match=match):
        build_model(bad)


def test_bad_override():
    with pytest.raises(QloomError, match="valid: 1, 2, 4, 8"):
        build_model("tfc-w1a1", weight_bits=3)
    with pytest.raises(QloomError, match="bad option"):
        build_model("tfc-w1a1", colour="red")
    with pytest.raises(QloomError, match="too small"):
        build_model("cnv-w2a2", input_shape=(1, 8, 8))


def check_conventions(model: nn.Module) -> None:
    """The structural contract of zoo models (see qloom.models.quant)."""
    mods = [m for m in model.children()]
    first = mods[0]
    assert isinstance(first, QuantIdentity)
    assert torch.equal(first.act_quant.scale(), torch.tensor(1 / 256, dtype=torch.float32))
    assert int(first.act_quant.bit_width()) == 8 and not first.act_quant.is_signed
    layers = [i for i, m in enumerate(mods) if isinstance(m, (QuantLinear, QuantConv2d))]
    for i in layers:
        layer = mods[i]
        assert layer.bias is None
        assert is_pow2(layer.quant_weight().scale)
        if isinstance(layer, QuantConv2d):
            assert layer.padding == (0, 0) and layer.stride == (1, 1)
        if i != layers[-1]:
            assert isinstance(mods[i + 1], (nn.BatchNorm1d, nn.BatchNorm2d))
            act = mods[i + 2]
            assert isinstance(act, QUANT_ACTS) and is_pow2(act.act_quant.scale())
    assert layers[-1] == len(mods) - 1  # last layer: bare QuantLinear, no BN/activation after
    assert isinstance(mods[-1], QuantLinear) and mods[-1].quant_weight().scale.numel() == 1
    for i, m in enumerate(mods):
        if isinstance(m, nn.MaxPool2d):
            assert isinstance(mods[i - 1], QUANT_ACTS)


@pytest.mark.parametrize("name", ["tfc-w1a1", "tfc-w2a2", "sfc-w4a8", "lfc-w1a2", "cnv-w2a2", "cnv-w1a1", "tfc-w8a4"])
def test_forward_and_conventions(name):
    torch.manual_seed(0)
    model = build_model(name, dropout=0.1)
    x = torch.randint(0, 256, (8, 1, 28, 28), dtype=torch.uint8).float() / 256
    model.train()
    assert model(x).shape == (8, 10)
    model.eval()
    assert model(x).shape == (8, 10)
    check_conventions(model)


def test_signed_activation_option():
    model = build_model("sfc-w2a4", signed_acts=True).eval()
    check_conventions(model)
    act = model[4]
    assert act.act_quant.is_signed and float(act.act_quant.scale()) == 2.0**-3


@pytest.mark.parametrize("wbits", VALID_BITS)
def test_weight_grids(wbits):
    layer = build_model(f"tfc-w{wbits}a2")[2]
    q = layer.quant_weight()
    ints = q.int().unique()
    limit = 1 if wbits == 1 else 2 ** (wbits - 1) - 1
    assert ints.abs().max() <= limit
    if wbits == 1:
        assert set(ints.tolist()) == {-1, 1} and float(q.scale) == 1.0
    else:
        assert float(q.scale) == 2.0 ** -(wbits - 1)


def test_input_quantizer_returns_pixels_exactly():
    model = build_model("tfc-w1a1").eval()
    pixels = torch.arange(256, dtype=torch.uint8).reshape(1, 1, 16, 16)
    q = model[0](pixels.float() / 256)
    ints = q / model[0].act_quant.scale()
    assert torch.equal(torch.round(ints), pixels.float()) and (ints - pixels).abs().max() < 1e-4


def test_digits_shape():
    model = build_model("tfc-w2a2", input_shape=(1, 8, 8)).eval()
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
