"""Which folding each layer accepts, and one checked way to change it.

Folding lives on the existing IR fields (`pe`, `simd`, `mem_style`); this module says which
fields a layer kind has and which values are legal, so that the folding file, the automatic
folder and the FINN baseline all share one definition:

    MatVec         pe | MH, simd | MW, mem_style      (weight ROM; thresholds: auto),
                   mmv (vectors per cycle; > 1 only at pe = MH, simd = MW: `MatVec.mmv_choices`)
    DepthwiseMatVec pe | C, simd | K, mem_style; simd > 1 only at pe == C (see below)
    Threshold      pe | C,          mem_style         (thresholds)
    SlidingWindow  simd | C, kpar (window words per output word: `SlidingWindow.kpar_choices`),
                   mmv (windows per output word; > 1 only at simd = C, kpar = KH*KW: `mmv_choices`)
    Pool           pe | C
    Fork           pe | C
    AddStreams     pe | C
    Concat         pe | every port's channels (their gcd)
    LabelSelect    none (one element per cycle)
    InputQuant     none (host side)

Illegal values raise `QloomError` naming the layer, the value and the valid choices.

The depthwise unit reads a plain window stream, element order (kh, kw, c), channels
innermost, so a word of PE*SIMD consecutive elements is PE channels at one kernel position
(SIMD = 1), or, only with PE = C, SIMD whole kernel positions. The window generator in
front of it is folded to emit exactly that word (`window_folding`: SWG simd = PE, kpar = 1;
or simd = C, kpar = SIMD where that kpar is legal), which `auto_fold` keeps tied to the
unit's folding (`window_ties`, `match_windows`); any other pairing still works through a
width converter.
"""

from __future__ import annotations

import math
from functools import lru_cache

from qloom.errors import QloomError
from qloom.ir import (AddStreams, Concat, DepthwiseMatVec, Fork, Graph, Layer, MatVec, MemStyle, Pool, SlidingWindow,
                      Threshold)

# layer type -> its folding fields, in the order a user reads them
FOLD_FIELDS: dict[type, tuple[str, ...]] = {
    MatVec: ("pe", "simd", "mem_style", "mmv"),
    DepthwiseMatVec: ("pe", "simd", "mem_style"),
    Threshold: ("pe", "mem_style"),
    SlidingWindow: ("simd", "kpar", "mmv"),
    Pool: ("pe",),
    Fork: ("pe",),
    AddStreams: ("pe",),
    Concat: ("pe",),
}

MEM_STYLES = tuple(m.value for m in MemStyle)


@lru_cache(maxsize=None)
def divisors(n: int) -> tuple[int, ...]:
    """All divisors of n, ascending (the legal PE/SIMD values of a dimension n)."""
    small = [d for d in range(1, int(n ** 0.5) + 1) if n % d == 0]
    return tuple(sorted(set(small + [n // d for d in small])))


def fold_fields(layer: Layer) -> tuple[str, ...]:
    return FOLD_FIELDS.get(type(layer), ())


def _divided(layer: Layer, field: str) -> tuple[str, int]:
    """(name, size) of the dimension a PE/SIMD field must divide."""
    if isinstance(layer, MatVec):
        return ("MH", layer.mh) if field == "pe" else ("MW", layer.mw)
    if isinstance(layer, DepthwiseMatVec):
        return ("C", layer.channels) if field == "pe" else ("K", layer.k)
    if isinstance(layer, Concat):
        return ("gcd(channels)", math.gcd(*layer.channels))
    return ("C", layer.in_shape[2])


def legal_values(layer: Layer) -> dict[str, tuple]:
    """Folding field -> its legal values (ints ascending, or mem style names). A window's
    kpar: the values legal at some SIMD (`legal_folding` checks the pair)."""
    out: dict[str, tuple] = {}
    for f in fold_fields(layer):
        if f == "kpar":
            out[f] = tuple(sorted({k for s in divisors(layer.in_shape[2]) for k in layer.kpar_choices(s)}))
        elif f == "mmv":
            out[f] = _mmv_values(layer)
        else:
            out[f] = MEM_STYLES if f == "mem_style" else divisors(_divided(layer, f)[1])
    return out


def _mmv_values(layer: Layer) -> tuple[int, ...]:
    """Every mmv legal at some folding of the layer (`legal_folding` checks it against the rest)."""
    if isinstance(layer, SlidingWindow):
        c, (kh, kw) = layer.in_shape[2], layer.kernel
        return layer.mmv_choices(c, kh * kw)
    return layer.mmv_choices(layer.mh, layer.mw)


def _mmv_ok(layer: Layer, changes: dict) -> bool:
    m = changes.get("mmv", getattr(layer, "mmv", 1))
    if isinstance(layer, SlidingWindow):
        return m in layer.mmv_choices(changes.get("simd", layer.simd), changes.get("kpar", layer.kpar))
    if isinstance(layer, MatVec):
        return m in layer.mmv_choices(changes.get("pe", layer.pe), changes.get("simd", layer.simd))
    return True


def legal_folding(layer: Layer, changes: dict) -> bool:
    """Whether `changes` (values from `legal_values`) together with the layer's other fields
    are a legal folding: a window's kpar depends on its SIMD, an mmv > 1 on the rest (whole
    vectors or windows per word)."""
    if not _mmv_ok(layer, changes):
        return False
    if isinstance(layer, SlidingWindow):
        return changes.get("kpar", layer.kpar) in layer.kpar_choices(changes.get("simd", layer.simd))
    if isinstance(layer, DepthwiseMatVec):
        return changes.get("simd", layer.simd) == 1 or changes.get("pe", layer.pe) == layer.channels
    return True


def window_folding(window: SlidingWindow, pe: int, simd: int, channels: int) -> dict | None:
    """The window generator's folding whose output word is what a depthwise unit at (pe,
    simd) over `channels` consumes per cycle (see the module doc), or None if it has none."""
    if simd == 1:
        return {"simd": pe, "kpar": 1, "mmv": 1}
    if pe == channels and simd in window.kpar_choices(channels):
        return {"simd": channels, "kpar": simd, "mmv": 1}
    return None


def window_ties(graph: Graph) -> dict[str, str]:
    """Depthwise unit name -> the name of the window generator feeding it (its only reader)."""
    ties = {}
    for layer in graph.layers:
        if isinstance(layer, DepthwiseMatVec):
            src = graph.producers(layer.name)
            if len(src) == 1 and isinstance(src[0], SlidingWindow) and len(graph.consumers(src[0].name)) == 1:
                ties[layer.name] = src[0].name
    return ties


def match_windows(graph: Graph) -> Graph:
    """`graph` with every window generator feeding a depthwise unit folded to its word
    (`window_folding`); a unit whose folding has no such window keeps its converter."""
    for dw, sw in window_ties(graph).items():
        d = graph.layer(dw)
        f = window_folding(graph.layer(sw), d.pe, d.simd, d.channels)
        if f is not None:
            graph = graph.replace_layer(sw, **f)
    return graph


def folding_of(layer: Layer) -> dict:
    """The layer's current folding as plain JSON values."""
    out = {}
    for f in fold_fields(layer):
        v = getattr(layer, f)
        if f in ("kpar", "mmv") and v == 1:
            continue  # the default: folding files of kpar=1, mmv=1 layers stay as they were
        out[f] = v.value if isinstance(v, MemStyle) else int(v)
    return out


def prefix_of(layer: Layer, where: str = "") -> str:
    return f"{where}layer {layer.name!r} ({layer.kind})"


def check_value(layer: Layer, field: str, value, where: str = "") -> object:
    """Validated IR value for one folding field, or a QloomError saying what is allowed."""
    prefix = prefix_of(layer, where)
    fields = fold_fields(layer)
    if field not in fields:
        have = ", ".join(fields) if fields else "no folding parameters"
        raise QloomError(f"{prefix}: unknown folding key {field!r}; this layer has {have}")
    if field == "mem_style":
        if isinstance(value, MemStyle):
            return value
        if not isinstance(value, str) or value.lower() not in MEM_STYLES:
            raise QloomError(f"{prefix}: mem_style={value!r} is not valid; valid choices: {', '.join(MEM_STYLES)}")
        return MemStyle(value.lower())
    if field in ("kpar", "mmv"):
        legal = legal_values(layer)[field]
        if isinstance(value, bool) or not isinstance(value, int) or value not in legal:
            raise QloomError(f"{prefix}: {field}={value!r} is not legal; valid choices: {', '.join(map(str, legal))}")
        return int(value)
    dim, size = _divided(layer, field)
    legal = divisors(size)
    if isinstance(value, bool) or not isinstance(value, int) or value not in legal:
        raise QloomError(
            f"{prefix}: {field}={value!r} is not legal ({field.upper()} must divide {dim}={size}); "
            f"valid choices: {', '.join(map(str, legal))}"
        )
    return int(value)


def _mmv_error(layer: Layer, changes: dict) -> str:
    """Why the mmv of `changes` is illegal for the layer's folding."""
    m = changes.get("mmv", layer.mmv)
    if isinstance(layer, SlidingWindow):
        simd, kpar = changes.get("simd", layer.simd), changes.get("kpar", layer.kpar)
        (kh, kw), c = layer.kernel, layer.in_shape[2]
        return (f"mmv={m} is not legal at simd={simd}, kpar={kpar}; mmv > 1 needs simd={c} (C) and kpar={kh * kw} "
                f"(KH*KW: a whole window per window word), then valid: "
                f"{', '.join(map(str, layer.mmv_choices(c, kh * kw)))} (divisors of W and OW)")
    pe, simd = changes.get("pe", layer.pe), changes.get("simd", layer.simd)
    return (f"mmv={m} is not legal at pe={pe}, simd={simd}; mmv > 1 needs pe={layer.mh} (MH) and simd={layer.mw} "
            f"(MW: whole vectors per word), then valid: {', '.join(map(str, layer.mmv_choices(layer.mh, layer.mw)))} "
            f"(divisors of the {layer.vectors} vectors per frame)")


def set_folding(graph: Graph, name: str, where: str = "", **params) -> Graph:
    """A new graph with layer `name` refolded; every value is checked first."""
    try:
        layer = graph.layer(name)
    except KeyError:
        names = ", ".join(l.name for l in graph.layers)
        raise QloomError(f"{where}graph {graph.name!r} has no layer {name!r}; layers: {names}") from None
    if not layer.hardware:
        raise QloomError(f"{where}layer {name!r} ({layer.kind}) runs on the host and has no folding")
    changes = {k: check_value(layer, k, v, where) for k, v in params.items()}
    if not changes:
        return graph
    if not _mmv_ok(layer, changes):
        raise QloomError(f"{prefix_of(layer, where)}: {_mmv_error(layer, changes)}")
    if isinstance(layer, SlidingWindow) and not legal_folding(layer, changes):
        simd = changes.get("simd", layer.simd)
        raise QloomError(f"{prefix_of(layer, where)}: kpar={changes.get('kpar', layer.kpar)} is not legal at "
                         f"simd={simd}; valid choices: {', '.join(map(str, layer.kpar_choices(simd)))} (a divisor "
                         f"of the C/SIMD words of a pixel, of a kernel row, or of the window)")
    if isinstance(layer, DepthwiseMatVec) and not legal_folding(layer, changes):
        raise QloomError(f"{prefix_of(layer, where)}: simd={changes.get('simd', layer.simd)} needs pe={layer.channels} "
                         f"(C; got pe={changes.get('pe', layer.pe)}): the window stream is channels-innermost, so "
                         f"several kernel positions per cycle come only with whole pixels; use simd=1 or pe={layer.channels}")
    return graph.replace_layer(name, **changes)

