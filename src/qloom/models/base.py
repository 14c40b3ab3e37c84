"""The zoo's module type: an nn.Sequential that knows its name, input shape and latent clip."""

from __future__ import annotations

import torch
from torch import nn

from brevitas.nn import QuantConv2d, QuantLinear

from .quant import LATENT_WEIGHT_CLIP, PoTWeightQuant


class QuantNet(nn.Sequential):
    """Sequential quantized network; first module is the pixel input quantizer."""

    def __init__(self, *layers: nn.Module, name: str, input_shape: tuple[int, int, int]):
        super().__init__(*layers)
        self.qloom_name = name
        self.input_shape = tuple(input_shape)

    @torch.no_grad()
    def clip_weights(self) -> None:
        """Keep latent weights on the quantizer's grid range (called after each optimizer step)."""
        for m in self.modules():
            if isinstance(m, (QuantLinear, QuantConv2d)):
                m.weight.clamp_(-LATENT_WEIGHT_CLIP, LATENT_WEIGHT_CLIP)


def default_init_range(bits: int) -> float:
    """Latent weights start uniform in +-range: near zero for bipolar (signs flip easily early on),
    spread over the grid for multi-bit (so that not all start at level 0)."""
    return 0.1 if bits == 1 else 1.0


def qlinear(n_in: int, n_out: int, bits: int, init_range: float | None = None) -> QuantLinear:
    layer = QuantLinear(n_in, n_out, bias=False, weight_quant=PoTWeightQuant, weight_bit_width=bits)
    r = default_init_range(bits) if init_range is None else init_range
    nn.init.uniform_(layer.weight, -r, r)
    return layer


def linear(n_in: int, n_out: int, bits: int | None, init_range: float | None = None) -> nn.Module:
    """A bias-free weight layer: quantized at `bits`, or plain float (`bits=None`, `qloom train --float`)."""
    return nn.Linear(n_in, n_out, bias=False) if bits is None else qlinear(n_in, n_out, bits, init_range)


def conv(c_in: int, c_out: int, bits: int | None, init_range: float | None = None, padding: int = 0) -> nn.Module:
    if bits is None:
        return nn.Conv2d(c_in, c_out, 3, padding=padding, bias=False)
    return qconv(c_in, c_out, bits, init_range, padding)


def qconv(c_in: int, c_out: int, bits: int, init_range: float | None = None, padding: int = 0) -> QuantConv2d:
    layer = QuantConv2d(
        c_in, c_out, 3, stride=1, padding=padding, bias=False,
        weight_quant=PoTWeightQuant, weight_bit_width=bits,
    )
    r = default_init_range(bits) if init_range is None else init_range
    nn.init.uniform_(layer.weight, -r, r)
    return layer
