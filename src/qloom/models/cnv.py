"""CNV-style CNN sized for 28x28 (valid 3x3 convs, max-pool after quantized activations)."""

from __future__ import annotations

from torch import nn

from qloom.errors import QloomError

from .base import QuantNet, conv, linear
from .quant import activation, input_quant

CONV_CHANNELS = ((32, 32), (64, 64))  # two blocks of two convs, each block ends in a 2x2 max-pool
FC_HIDDEN = (128,)


def build_cnv(
    name: str,
    weight_bits: int | None,
    act_bits: int | None,
    input_shape=(1, 28, 28),
    num_classes: int = 10,
    conv_channels=CONV_CHANNELS,
    hidden=FC_HIDDEN,
    dropout: float = 0.0,
    init_range: float | None = None,
    signed_acts: bool = False,
    padding: int = 0,
) -> QuantNet:
    """28 -> conv32 -> conv32 -> pool -> conv64 -> conv64 -> pool (4x4x64) -> FC128 -> FC10.

    `padding=1` zero-pads every conv ("same" 3x3 convs, 7x7x64 before the FCs), the binary-CNN
    variant whose padded windows after bipolar activations the IR widens to {-1, 0, +1}.
    """
    c, h, w = input_shape
    layers: list[nn.Module] = [input_quant(weight_bits is None)]
    for block in conv_channels:
        for c_out in block:
            layers += [conv(c, c_out, weight_bits, init_range, padding), nn.BatchNorm2d(c_out),
                       activation(act_bits, signed_acts)]
            c, h, w = c_out, h - 2 + 2 * padding, w - 2 + 2 * padding
        layers.append(nn.MaxPool2d(2))
        h, w = h // 2, w // 2
        if h < 1 or w < 1:
            raise QloomError(f"{name}: input {tuple(input_shape)} is too small for the cnv family (needs 28x28)")
    layers.append(nn.Flatten())
    n_in = c * h * w
    for n_out in hidden:
        layers += [linear(n_in, n_out, weight_bits, init_range), nn.BatchNorm1d(n_out), activation(act_bits, signed_acts)]
        if dropout:
            layers.append(nn.Dropout(dropout))
        n_in = n_out
    layers.append(linear(n_in, num_classes, weight_bits, init_range))
    return QuantNet(*layers, name=name, input_shape=input_shape)
