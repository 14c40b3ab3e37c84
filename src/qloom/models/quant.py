"""Brevitas quantizers with constant power-of-two scales (the compiler's contract).

Why constant scales: every hidden layer is followed by BatchNorm, so a per-layer weight or
activation scale is redundant with the BN affine; fixing it to a power of two keeps float32
matmuls in the QONNX reference exact, removes the stats-collection phase, and makes the
exported numbers independent of training history. 1-bit quantizers are bipolar with scale 1.0
(as bnn_pynq's CommonWeightQuant/CommonActQuant). The input quantizer is the one exception:
8-bit unsigned, scale 1/256 (a power of two too, so the first matmul of the float reference
is exact), so that its integer output is the pixel byte of the input pixel/256.
"""

from __future__ import annotations

from torch import nn

from brevitas.core.bit_width import BitWidthImplType
from brevitas.core.quant import QuantType
from brevitas.core.restrict_val import FloatToIntImplType, RestrictValueType
from brevitas.core.scaling import ScalingImplType
from brevitas.core.zero_point import ZeroZeroPoint
from brevitas.inject import ExtendedInjector, value
from brevitas.nn import QuantIdentity, QuantReLU
from brevitas.quant.solver import ActQuantSolver, WeightQuantSolver

VALID_BITS = (1, 2, 4, 8)
LATENT_WEIGHT_CLIP = 1.0  # latent (float) weights live in [-1, 1]; every grid fits inside


class _ConstPoT(ExtendedInjector):
    """Constant, power-of-two restricted scale: scale = threshold / 2**(bits - signed)."""

    bit_width_impl_type = BitWidthImplType.CONST
    scaling_impl_type = ScalingImplType.CONST
    restrict_scaling_type = RestrictValueType.POWER_OF_TWO
    zero_point_impl = ZeroZeroPoint
    float_to_int_impl_type = FloatToIntImplType.ROUND
    scaling_per_output_channel = False

    @value
    def quant_type(bit_width):
        return QuantType.BINARY if bit_width == 1 else QuantType.INT


class PoTWeightQuant(_ConstPoT, WeightQuantSolver):
    """Signed narrow-range weights, scale 2**-(bits-1) (1.0 for bipolar): grid inside [-1, 1]."""

    signed = True
    narrow_range = True
    scaling_const = 1.0


class BipolarActQuant(_ConstPoT, ActQuantSolver):
    """1-bit activations: sign(x) in {-1, +1}, scale 1.0."""

    signed = True
    narrow_range = True
    min_val = -1.0
    max_val = 1.0


class PoTUnsignedActQuant(_ConstPoT, ActQuantSolver):
    """b-bit ReLU activations 0..2**b-1 with scale 2**-(b-1): range [0, 2)."""

    signed = False
    narrow_range = False
    min_val = 0.0
    max_val = 2.0


class PixelQuant(ActQuantSolver):
    """8-bit unsigned input quantizer, constant scale 1/256: integer output == pixel byte.

    Brevitas sets scale = max_val / 255; max_val = 255/256 makes it exactly 2**-8, so the
    float32 products in the QONNX reference are exact (1/255 would round, and flip rare
    threshold decisions of the first layer against the integer hardware).
    """

    quant_type = QuantType.INT
    bit_width_impl_type = BitWidthImplType.CONST
    bit_width = 8
    scaling_impl_type = ScalingImplType.CONST
    restrict_scaling_type = RestrictValueType.FP
    zero_point_impl = ZeroZeroPoint
    float_to_int_impl_type = FloatToIntImplType.ROUND
    scaling_per_output_channel = False
    signed = False
    narrow_range = False
    min_val = 0.0
    max_val = 255.0 / 256.0


class PoTSignedActQuant(_ConstPoT, ActQuantSolver):
    """b-bit signed activations -2**(b-1)..2**(b-1)-1 with scale 2**-(b-1): range [-1, 1)."""

    signed = True
    narrow_range = False
    min_val = -1.0
    max_val = 1.0


def input_quant(float_model: bool = False):
    """The pixel quantizer; an identity in a float model (whose PTQ puts PixelQuant back)."""
    return nn.Identity() if float_model else QuantIdentity(act_quant=PixelQuant)


def activation(bits: int | None, signed: bool = False):
    """Quantized activation after BN: bipolar for 1 bit, else unsigned ReLU (or signed).

    `bits=None` (a float model): ReLU, or Hardtanh for the signed variant's [-1, 1) range.
    """
    if bits is None:
        return nn.Hardtanh() if signed else nn.ReLU()
    if bits == 1:
        return QuantIdentity(act_quant=BipolarActQuant, bit_width=1)
    if signed:
        return QuantIdentity(act_quant=PoTSignedActQuant, bit_width=bits)
    return QuantReLU(act_quant=PoTUnsignedActQuant, bit_width=bits)
