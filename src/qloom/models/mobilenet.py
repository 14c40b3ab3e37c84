"""MobileNet-style depthwise-separable CNN sized for 28x28.

A 3x3 stem conv, then blocks of a depthwise 3x3 conv (groups = channels: one 3x3 filter per
channel) and a pointwise 1x1 conv, each followed by BN and a quantized activation, a 2x2
max-pool after each block, and a bare QuantLinear head. The depthwise convs are what the IR's
DepthwiseMatVec (FINN's VVAU) computes; all convs are "same" (zero padding 1), exact because 0
lies on every unsigned activation grid (1-bit activations are bipolar: their padded windows
widen to {-1, 0, +1}, as for the padded cnv). Max-pools, not strided convs or a global average,
keep every scale a power of two (an average over 3x3 = 9 pixels would not be).
"""

from __future__ import annotations

from torch import nn

from brevitas.nn import QuantConv2d

from qloom.errors import QloomError

from .base import QuantNet, default_init_range, linear
from .quant import PoTWeightQuant, activation, input_quant

STEM = 16
# pointwise output channels per block: 28 -> (pool) 14 -> 7 -> 3, then 3x3x64 = 576 -> FC10
BLOCKS = (32, 64, 64)


def conv_kxk(c_in: int, c_out: int, kernel: int, bits: int | None, groups: int = 1,
             init_range: float | None = None) -> nn.Module:
    """A bias-free "same" conv (padding kernel // 2), quantized at `bits` or float (`bits=None`)."""
    pad = kernel // 2
    if bits is None:
        return nn.Conv2d(c_in, c_out, kernel, padding=pad, groups=groups, bias=False)
    layer = QuantConv2d(c_in, c_out, kernel, stride=1, padding=pad, groups=groups, bias=False,
                        weight_quant=PoTWeightQuant, weight_bit_width=bits)
    r = default_init_range(bits) if init_range is None else init_range
    nn.init.uniform_(layer.weight, -r, r)
    return layer


def separable(c_in: int, c_out: int, weight_bits: int | None, act_bits: int | None,
              init_range: float | None = None) -> list[nn.Module]:
    """depthwise 3x3 -> BN -> act -> pointwise 1x1 -> BN -> act."""
    return [conv_kxk(c_in, c_in, 3, weight_bits, groups=c_in, init_range=init_range), nn.BatchNorm2d(c_in),
            activation(act_bits),
            conv_kxk(c_in, c_out, 1, weight_bits, init_range=init_range), nn.BatchNorm2d(c_out),
            activation(act_bits)]


def build_mobilenet(
    name: str,
    weight_bits: int | None,
    act_bits: int | None,
    input_shape=(1, 28, 28),
    num_classes: int = 10,
    stem: int = STEM,
    blocks=BLOCKS,
    dropout: float = 0.0,
    init_range: float | None = None,
) -> QuantNet:
    """input quant -> stem conv 3x3 -> [depthwise 3x3, pointwise 1x1, max-pool] per block -> FC."""
    c, h, w = input_shape
    layers: list[nn.Module] = [input_quant(weight_bits is None),
                               conv_kxk(c, stem, 3, weight_bits, init_range=init_range), nn.BatchNorm2d(stem),
                               activation(act_bits)]
    c = stem
    for c_out in blocks:
        layers += separable(c, c_out, weight_bits, act_bits, init_range)
        layers.append(nn.MaxPool2d(2))
        c, h, w = c_out, h // 2, w // 2
        if h < 1 or w < 1:
            raise QloomError(f"{name}: input {tuple(input_shape)} is too small for the mobilenet family "
                             "(needs 28x28)")
    layers.append(nn.Flatten())
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(linear(c * h * w, num_classes, weight_bits, init_range))
    return QuantNet(*layers, name=name, input_shape=input_shape)
