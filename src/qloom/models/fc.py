"""Fully connected families (FINN/bnn_pynq TFC, SFC, LFC) with an 8-bit pixel input."""

from __future__ import annotations

from math import prod

from torch import nn

from .base import QuantNet, linear
from .quant import activation, input_quant

HIDDEN = {"tfc": (64, 64, 64), "sfc": (256, 256, 256), "lfc": (1024, 1024, 1024)}


def build_fc(
    name: str,
    weight_bits: int | None,
    act_bits: int | None,
    input_shape=(1, 28, 28),
    num_classes: int = 10,
    hidden=(64, 64, 64),
    dropout: float = 0.0,
    init_range: float | None = None,
    signed_acts: bool = False,
    in_dropout: float = 0.0,
) -> QuantNet:
    """input quant -> flatten -> [QuantLinear -> BN -> act (-> dropout)]* -> QuantLinear."""
    layers: list[nn.Module] = [input_quant(weight_bits is None), nn.Flatten()]
    if in_dropout:
        layers.append(nn.Dropout(in_dropout))
    n_in = prod(input_shape)
    for n_out in hidden:
        layers += [linear(n_in, n_out, weight_bits, init_range), nn.BatchNorm1d(n_out), activation(act_bits, signed_acts)]
        if dropout:
            layers.append(nn.Dropout(dropout))
        n_in = n_out
    layers.append(linear(n_in, num_classes, weight_bits, init_range))
    return QuantNet(*layers, name=name, input_shape=input_shape)
