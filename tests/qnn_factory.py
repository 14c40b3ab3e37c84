"""Random quantized Brevitas networks for property-based equivalence tests.

Scales are powers of two (Brevitas fixed-point quantizers, binary with a constant scale of
one), so the float32 matmuls of the QONNX reference are exact and bit-exactness is defined.
`NetSpec.float_scale` switches to float (learned, non power-of-two) scales, the usual case of
post-training quantized models: the reference's float32 matmuls then round.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from brevitas.export import export_qonnx
from brevitas.nn import QuantConv2d, QuantIdentity, QuantLinear, QuantReLU
from brevitas.quant import (
    Int8ActPerTensorFixedPoint,
    Int8ActPerTensorFloat,
    Int8WeightPerTensorFloat,
    Int8WeightPerTensorFixedPoint,
    SignedBinaryActPerTensorConst,
    SignedBinaryWeightPerTensorConst,
    Uint8ActPerTensorFixedPoint,
    Uint8ActPerTensorFloat,
)
from hypothesis import strategies as st


@dataclass
class LayerSpec:
    kind: str  # "dense" | "conv"
    out: int
    wbits: int
    abits: int
    asigned: bool
    narrow: bool
    per_channel: bool
    bn: bool
    bias: bool
    kernel: int = 3
    stride: int = 1
    pad: int = 0
    pool: bool = False
    depthwise: bool = False


@dataclass
class NetSpec:
    in_shape: tuple  # (C, H, W) or (K,)
    in_bits: int
    in_signed: bool
    layers: list[LayerSpec] = field(default_factory=list)
    out_wbits: int = 2
    n_out: int = 5
    seed: int = 0
    float_scale: bool = False  # float scales (Brevitas *Float quantizers, binary scale != 2**k)
    binary_scale: float = 0.37  # the constant scale of binary weights/activations when float_scale


def _wquant(bits: int, narrow: bool, per_channel: bool, spec: NetSpec) -> dict:
    if bits == 1:
        const = spec.binary_scale if spec.float_scale else 1.0
        return dict(weight_quant=SignedBinaryWeightPerTensorConst, weight_scaling_const=const)
    quant = Int8WeightPerTensorFloat if spec.float_scale else Int8WeightPerTensorFixedPoint
    return dict(weight_quant=quant, weight_bit_width=bits,
                weight_narrow_range=narrow, weight_scaling_per_output_channel=per_channel)


def _act(bits: int, signed: bool, narrow: bool, spec: NetSpec) -> nn.Module:
    if bits == 1:
        const = spec.binary_scale * 1.7 if spec.float_scale else 1.0
        return QuantIdentity(act_quant=SignedBinaryActPerTensorConst, act_scaling_const=const)
    if signed:
        quant = Int8ActPerTensorFloat if spec.float_scale else Int8ActPerTensorFixedPoint
        return QuantIdentity(act_quant=quant, bit_width=bits, act_narrow_range=narrow)
    return QuantReLU(act_quant=Uint8ActPerTensorFloat if spec.float_scale else Uint8ActPerTensorFixedPoint,
                     bit_width=bits)


def build(spec: NetSpec) -> nn.Module:
    torch.manual_seed(spec.seed)
    mods: list[nn.Module] = []
    if spec.float_scale:
        in_q = Int8ActPerTensorFloat if spec.in_signed else Uint8ActPerTensorFloat
    else:
        in_q = Int8ActPerTensorFixedPoint if spec.in_signed else Uint8ActPerTensorFixedPoint
    mods.append(QuantIdentity(act_quant=in_q, bit_width=spec.in_bits))
    shape = spec.in_shape
    for l in spec.layers:
        if l.kind == "conv":
            c, h, w = shape
            l.kernel = max(1, min(l.kernel, h + 2 * l.pad, w + 2 * l.pad))  # fit the shrinking maps
            groups = c if l.depthwise else 1
            out = c if l.depthwise else l.out
            mods.append(QuantConv2d(c, out, l.kernel, stride=l.stride, padding=l.pad, groups=groups,
                                    bias=l.bias, **_wquant(l.wbits, l.narrow, l.per_channel, spec)))
            h, w = (h + 2 * l.pad - l.kernel) // l.stride + 1, (w + 2 * l.pad - l.kernel) // l.stride + 1
            if l.bn:
                mods.append(nn.BatchNorm2d(out))
            mods.append(_act(l.abits, l.asigned, l.narrow, spec))
            if l.pool and h >= 2 and w >= 2:
                mods.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
            shape = (out, h, w)
        else:
            if len(shape) == 3:
                mods.append(nn.Flatten())
                shape = (int(np.prod(shape)),)
            mods.append(QuantLinear(shape[0], l.out, bias=l.bias, **_wquant(l.wbits, l.narrow, l.per_channel, spec)))
            if l.bn:
                mods.append(nn.BatchNorm1d(l.out))
            mods.append(_act(l.abits, l.asigned, l.narrow, spec))
            shape = (l.out,)
    if len(shape) == 3:
        mods.append(nn.Flatten())
        shape = (int(np.prod(shape)),)
    mods.append(QuantLinear(shape[0], spec.n_out, bias=False, **_wquant(spec.out_wbits, False, False, spec)))
    return nn.Sequential(*mods)


def random_inputs(spec: NetSpec, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lo = -1.0 if spec.in_signed else 0.0
    return rng.uniform(lo, 1.0, size=(n, *spec.in_shape)).astype(np.float32)


def calibrate_and_export(spec: NetSpec, path: Path) -> nn.Module:
    """Randomise BN so activations spread over their levels, then export QONNX."""
    model = build(spec)
    gen = torch.Generator().manual_seed(spec.seed)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.momentum = None  # cumulative statistics over the calibration batches
            with torch.no_grad():
                m.weight.copy_(torch.randn(m.num_features, generator=gen) * 0.8 + 0.3)
                m.bias.copy_(torch.randn(m.num_features, generator=gen) * 0.3)
    model.train()
    with torch.no_grad():
        for i in range(3):
            model(torch.from_numpy(random_inputs(spec, 64, seed=100 + i)))
    model.eval()
    export_qonnx(model, torch.from_numpy(random_inputs(spec, 1)), str(path), dynamo=False)
    return model


def zoo_pixels(n: int, seed: int = 0) -> torch.Tensor:
    """Random 28x28 pixel/256 images (N, 1, 28, 28), the zoo models' input."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=g).float() / 256


def calibrate_bn(model: nn.Module) -> nn.Module:
    """A few train-mode batches so that BN statistics (hence the exported thresholds) are not trivial."""
    model.train()
    with torch.no_grad():
        for i in range(3):
            model(zoo_pixels(16, seed=i))
    return model.eval()


def export_calibrated_zoo(name: str, path: Path) -> tuple[nn.Module, Path]:
    """A zoo model with seeded random weights and calibrated BN, exported to QONNX at `path`."""
    from qloom.export import export_qonnx_model
    from qloom.models import build_model

    torch.manual_seed(0)
    model = calibrate_bn(build_model(name))
    return model, export_qonnx_model(model, path, (1, 28, 28))


@st.composite
def net_specs(draw, allow_conv: bool = True, float_scale: bool = False) -> NetSpec:
    conv = allow_conv and draw(st.booleans())
    if conv:
        in_shape = (draw(st.integers(1, 3)), draw(st.integers(5, 9)), draw(st.integers(5, 9)))
    else:
        in_shape = (draw(st.integers(2, 40)),)
    layers = []
    n_conv = draw(st.integers(1, 2)) if conv else 0
    n_dense = draw(st.integers(0 if conv else 1, 2))
    for i in range(n_conv + n_dense):
        kind = "conv" if i < n_conv else "dense"
        abits = draw(st.sampled_from([1, 2, 3, 4, 8]))
        pad = draw(st.sampled_from([0, 1])) if kind == "conv" else 0
        layers.append(LayerSpec(
            kind=kind,
            out=draw(st.integers(1, 12)),
            wbits=draw(st.sampled_from([1, 2, 3, 4, 8])),
            abits=abits,
            asigned=draw(st.booleans()),
            narrow=draw(st.booleans()),
            per_channel=draw(st.booleans()),
            bn=draw(st.booleans()),
            bias=draw(st.booleans()),
            kernel=draw(st.sampled_from([1, 2, 3])),
            stride=draw(st.sampled_from([1, 2])),
            pad=pad,
            pool=draw(st.booleans()),
            depthwise=draw(st.booleans()) and i > 0 and kind == "conv",
        ))
    if float_scale:  # streamline fails on depthwise convs with bipolar weights (a ValueError, pow2 too);
        for l in layers:  # the float-scale draws avoid it, the power-of-two draws stay as they were
            l.depthwise = l.depthwise and l.wbits > 1
    # a padded conv after a bipolar activation is drawn too: its window widens to {-1, 0, +1}
    return NetSpec(in_shape=in_shape, in_bits=draw(st.sampled_from([2, 4, 8])), in_signed=draw(st.booleans()),
                   layers=layers, out_wbits=draw(st.sampled_from([1, 2, 4, 8])), n_out=draw(st.integers(2, 10)),
                   seed=draw(st.integers(0, 10_000)), float_scale=float_scale,
                   binary_scale=draw(st.sampled_from([0.37, 0.052, 1.3, 2.71, 0.61])) if float_scale else 0.37)
