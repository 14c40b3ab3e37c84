"""ResNet-style residual CNN sized for 28x28: 3x3 "same" convs, residual blocks, max-pool, FC head.

Why it lowers exactly: every quantizer has a constant power-of-two scale, and the residual
branch ends in a quantizer whose scale *equals* the skip input's (the block input is an a-bit
unsigned activation with scale 2**-(a-1); the branch ends in an a-bit signed one with the same
scale, as Brevitas' bnn_pynq ResNet shares one act quant between both add inputs), so the
quantized Add sums two integer streams of one scale (ratio 1, a power of two). A quantized ReLU
after the Add requantizes the sum to the a-bit grid of the next layer. Zero padding is exact:
0 lies on every unsigned grid (1-bit activations are bipolar; their padded windows widen to
{-1, 0, +1} as for the padded cnv).
"""

from __future__ import annotations

import torch
from torch import nn

from qloom.errors import QloomError

from .base import QuantNet, conv, linear
from .quant import activation, input_quant

# (channels, residual blocks) per stage. A stage: a 3x3 conv to its width (the stem "same",
# later ones valid), a 2x2 max-pool, its residual blocks; a last max-pool before the FC head:
# 28 -> 28 -> 14 (32 ch, block) -> 12 -> 6 (64 ch, block) -> 3, then 3x3x64 = 576 -> FC128 -> FC10.
STAGES = ((32, 1), (64, 1))
FC_HIDDEN = (128,)


class ResidualBlock(nn.Module):
    """x -> conv-BN-act -> conv-BN-q -> (+ x) -> act: the skip and the branch reach the Add on one scale.

    `q` is `activation(act_bits, signed=True)`: the same bit width and scale as the unsigned
    activation that produced x (signed, so that the branch can also subtract); `act` after the
    Add requantizes the sum.
    """

    def __init__(self, channels: int, weight_bits: int | None, act_bits: int | None, init_range: float | None = None):
        super().__init__()
        self.conv1 = conv(channels, channels, weight_bits, init_range, padding=1)
        self.bn1 = nn.BatchNorm2d(channels)
        self.act1 = activation(act_bits)
        self.conv2 = conv(channels, channels, weight_bits, init_range, padding=1)
        self.bn2 = nn.BatchNorm2d(channels)
        # the branch's add-input quantizer: same scale as the skip's (1-bit: both bipolar, scale 1)
        self.branch_quant = activation(act_bits, signed=True) if act_bits is not None else nn.Identity()
        self.act_out = activation(act_bits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.branch_quant(self.bn2(self.conv2(out)))
        return self.act_out(out + x)


def _check_size(name: str, input_shape, h: int, w: int) -> None:
    if h < 1 or w < 1:
        raise QloomError(f"{name}: input {tuple(input_shape)} is too small for the resnet family (needs 28x28)")


def build_resnet(
    name: str,
    weight_bits: int | None,
    act_bits: int | None,
    input_shape=(1, 28, 28),
    num_classes: int = 10,
    stages=STAGES,
    hidden=FC_HIDDEN,
    dropout: float = 0.0,
    init_range: float | None = None,
) -> QuantNet:
    """input quant -> [conv -> pool -> residual blocks] per stage -> pool -> FC head."""
    c, h, w = input_shape
    layers: list[nn.Module] = [input_quant(weight_bits is None)]
    for i, (c_out, n_blocks) in enumerate(stages):
        pad = 1 if i == 0 else 0  # the stem keeps 28x28; later openings are valid (14 -> 12: even sizes)
        layers += [conv(c, c_out, weight_bits, init_range, padding=pad), nn.BatchNorm2d(c_out), activation(act_bits),
                   nn.MaxPool2d(2)]
        c, h, w = c_out, (h - 2 + 2 * pad) // 2, (w - 2 + 2 * pad) // 2
        _check_size(name, input_shape, h, w)
        layers += [ResidualBlock(c, weight_bits, act_bits, init_range) for _ in range(n_blocks)]
    layers.append(nn.MaxPool2d(2))
    h, w = h // 2, w // 2
    _check_size(name, input_shape, h, w)
    layers.append(nn.Flatten())
    n_in = c * h * w
    for n_out in hidden:
        layers += [linear(n_in, n_out, weight_bits, init_range), nn.BatchNorm1d(n_out), activation(act_bits)]
        if dropout:
            layers.append(nn.Dropout(dropout))
        n_in = n_out
    layers.append(linear(n_in, num_classes, weight_bits, init_range))
    return QuantNet(*layers, name=name, input_shape=input_shape)
