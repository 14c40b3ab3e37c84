"""Model zoo: names like `tfc-w1a1`, `sfc-w2a2`, `lfc-w1a2`, `cnv-w2a2`, `resnet-w2a2`, `mobilenet-w4a4` -> Brevitas
modules.

Every zoo model follows the compiler's conventions (see quant.py): pixel input quantizer first,
bias-free quantized layers each followed by BN and a quantized activation, power-of-two
constant scales, and a bare QuantLinear at the end (logits = integer accumulator * scale).
The resnet family adds residual blocks whose two Add inputs share one scale (resnet.py); the
mobilenet family depthwise-separable blocks (mobilenet.py).
"""

from __future__ import annotations

import re

from torch import nn

from qloom.errors import QloomError

from .cnv import build_cnv
from .fc import HIDDEN, build_fc
from .mobilenet import build_mobilenet
from .quant import VALID_BITS
from .resnet import build_resnet

FAMILIES = {"tfc": "784-64-64-64-10 MLP", "sfc": "3x256 MLP", "lfc": "3x1024 MLP", "cnv": "small CNN",
            "resnet": "residual CNN", "mobilenet": "depthwise-separable CNN"}
_NAME = re.compile(r"^(?P<family>[a-z]+)(?:-w(?P<w>\d+)a(?P<a>\d+))?$")
FLOAT_SUFFIX = "-float"  # `sfc-float`: the family's topology without quantizers (`qloom train --float`)


def model_names() -> list[str]:
    """Every valid zoo name (family x weight bits x activation bits)."""
    return [f"{f}-w{w}a{a}" for f in FAMILIES for w in VALID_BITS for a in VALID_BITS]


def _check_bits(kind: str, bits) -> int:
    if not isinstance(bits, int) or isinstance(bits, bool) or bits not in VALID_BITS:
        valid = ", ".join(map(str, VALID_BITS))
        raise QloomError(f"unsupported {kind} bit width {bits!r}; valid: {valid}")
    return bits


def parse_model_name(name: str, weight_bits: int | None = None, act_bits: int | None = None):
    """'tfc-w1a2' -> ('tfc', 1, 2); explicit bit widths override the name's."""
    m = _NAME.match(name.strip().lower()) if isinstance(name, str) else None
    if m is None or m["family"] not in FAMILIES:
        raise QloomError(
            f"unknown model {name!r}; valid: FAMILY-wWaA with FAMILY in "
            f"{', '.join(FAMILIES)} and W, A in {', '.join(map(str, VALID_BITS))} (e.g. tfc-w1a1)"
        )
    w = weight_bits if weight_bits is not None else (int(m["w"]) if m["w"] else None)
    a = act_bits if act_bits is not None else (int(m["a"]) if m["a"] else None)
    if w is None or a is None:
        raise QloomError(f"model {name!r} needs bit widths, e.g. {m['family']}-w2a2")
    return m["family"], _check_bits("weight", w), _check_bits("activation", a)


def float_name(name: str) -> str:
    """'sfc', 'sfc-w2a2' or 'sfc-float' -> 'sfc-float' (the float twin of the family)."""
    base = name.strip().lower() if isinstance(name, str) else name
    if isinstance(base, str) and base.endswith(FLOAT_SUFFIX):
        base = base[: -len(FLOAT_SUFFIX)]
    m = _NAME.match(base) if isinstance(base, str) else None
    if m is None or m["family"] not in FAMILIES:
        raise QloomError(f"unknown model {name!r}; valid with --float: {', '.join(FAMILIES)} (e.g. sfc)")
    return m["family"] + FLOAT_SUFFIX


def is_float_name(name) -> bool:
    return isinstance(name, str) and name.strip().lower().endswith(FLOAT_SUFFIX)


def canonical_name(name: str, weight_bits: int | None = None, act_bits: int | None = None) -> str:
    family, w, a = parse_model_name(name, weight_bits, act_bits)
    return f"{family}-w{w}a{a}"


def build_model(name: str, weight_bits: int | None = None, act_bits: int | None = None, **overrides) -> nn.Module:
    """Build zoo model `name`; overrides: input_shape, num_classes, dropout, hidden, ...

    A `FAMILY-float` name builds the same topology in float (nn.Linear/Conv2d, ReLU, no quantizers).
    """
    if is_float_name(name):
        full = float_name(name)
        family, w, a = full[: -len(FLOAT_SUFFIX)], None, None
    else:
        family, w, a = parse_model_name(name, weight_bits, act_bits)
        full = f"{family}-w{w}a{a}"
    try:
        if family == "cnv":
            return build_cnv(full, w, a, **overrides)
        if family == "resnet":
            return build_resnet(full, w, a, **overrides)
        if family == "mobilenet":
            return build_mobilenet(full, w, a, **overrides)
        overrides.setdefault("hidden", HIDDEN[family])
        return build_fc(full, w, a, **overrides)
    except TypeError as exc:  # an unknown override keyword
        raise QloomError(f"bad option for model {full}: {exc}") from None


__all__ = ["FAMILIES", "VALID_BITS", "build_model", "canonical_name", "float_name", "is_float_name", "model_names",
           "parse_model_name"]
