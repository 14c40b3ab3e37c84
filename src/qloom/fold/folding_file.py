"""Folding files: a hand-writable JSON that sets PE, SIMD and memory style per layer.

Format (every key optional except "layers"; layers not listed keep their folding):

    {
      "version": 1,
      "graph": "tfc_w1a1",
      "layers": {
        "fc0":  {"pe": 16, "simd": 49, "mem_style": "block"},
        "fc1":  {"pe": 8,  "simd": 8},
        "swg0": {"simd": 3},
        "pool0": {"pe": 64},
        "thr0": {"pe": 4, "mem_style": "distributed"}
      }
    }

Keys per layer kind: MatVec and DepthwiseMatVec pe, simd, mem_style; Threshold pe, mem_style;
SlidingWindow simd, kpar, mmv; MatVec also mmv (output pixels per cycle, default 1: FINN's MMV, see
`fold.rules`); Pool pe; Fork, AddStreams, Concat pe (a Concat's divides every port's channels). The
FIFO on each edge is not a key: it follows from the folding (`fold.cycles.edge_fifo_depths`). PE must divide the output channels (MH or C), SIMD the input channels (MW or
C); mem_style is one of auto, block, distributed, registers: a MatVec's weight memory
(its thresholds are placed automatically, like FINN's), a Threshold's thresholds. "graph" is informational.
An unknown layer, key or value is a `QloomError` naming the file, layer, value and the
valid choices. `save_folding` writes this format for every foldable layer of a graph.

A depthwise unit (DepthwiseMatVec) the file sets ties the SlidingWindow feeding it, as auto
folding does (`fold.rules.match_windows`): the window is refolded to emit the unit's word, so
no width converter sits between them. A window the file sets itself keeps the file's values;
if they do not give the unit's word, or the unit's folding has no such window (pe = C with a
simd that is no legal kpar of the window), the pair still works, through a width converter
(as wherever a producer's word differs from its reader's).
"""

from __future__ import annotations

import json
from pathlib import Path

from qloom.errors import QloomError
from qloom.fold.rules import fold_fields, folding_of, match_windows, set_folding, window_ties
from qloom.ir import Graph

FORMAT_VERSION = 1
TOP_KEYS = ("version", "graph", "layers")


def read_folding_file(path: str | Path) -> dict:
    """The folding file's JSON object, its top level checked (layers are checked against a graph later).

    The build calls this before it touches the build folder, so an unreadable file never costs a build.
    """
    path = Path(path)
    where = f"folding file {path}: "
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise QloomError(f"cannot read folding file {path}: {exc.strerror or exc}") from None
    if b"\x00" in raw:  # valid UTF-8 never holds NUL in JSON text; UTF-16 and binary files do
        raise QloomError(f"{where}contains NUL bytes (UTF-16 or binary?); save it as UTF-8 JSON")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise QloomError(f"{where}not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}; "
                         "UTF-16 or binary?); save it as UTF-8 JSON") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise QloomError(f"{where}invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    if not isinstance(data, dict):
        raise QloomError(f"{where}expected a JSON object with a \"layers\" key")
    _check_top(data, where)
    return data


def _check_top(data: dict, where: str) -> None:
    unknown = sorted(set(data) - set(TOP_KEYS))
    if unknown:
        raise QloomError(f"{where}unknown top-level key(s) {unknown}; allowed: {', '.join(TOP_KEYS)}")
    if data.get("version", FORMAT_VERSION) != FORMAT_VERSION:
        raise QloomError(f"{where}version {data['version']!r} is not supported; this qloom reads version {FORMAT_VERSION}")
    layers = data.get("layers")
    if not isinstance(layers, dict):
        raise QloomError(f"{where}needs a \"layers\" object mapping layer names to {{\"pe\": ..., \"simd\": ...}}")
    for name, params in layers.items():
        if not isinstance(params, dict):
            raise QloomError(f"{where}layer {name!r}: expected an object such as {{\"pe\": 4}}, got {params!r}")


def parse_folding(data: dict, graph: Graph, where: str = "") -> Graph:
    """Apply an already-loaded folding dict to `graph` (all checks of `apply_folding_file`)."""
    _check_top(data, where)
    for name, params in data["layers"].items():
        graph = set_folding(graph, name, where=where, **params)
    return _tie_windows(graph, set(data["layers"]))


def _tie_windows(graph: Graph, listed: set[str]) -> Graph:
    """`graph` with the window of each depthwise unit in `listed` folded to the unit's word
    (`match_windows`), unless the window itself is in `listed` (the file's choice is kept)."""
    windows = [sw for dw, sw in window_ties(graph).items() if dw in listed and sw not in listed]
    if not windows:
        return graph
    matched = match_windows(graph)
    for sw in windows:
        w = matched.layer(sw)
        graph = graph.replace_layer(sw, simd=w.simd, kpar=w.kpar, mmv=w.mmv)
    return graph


def apply_folding_file(graph: Graph, path: str | Path) -> Graph:
    """A new graph with the folding of the JSON file at `path` applied (format above)."""
    path = Path(path)
    return parse_folding(read_folding_file(path), graph, where=f"folding file {path}: ")


def folding_dict(graph: Graph) -> dict:
    """The folding of every foldable hardware layer, in the file format."""
    layers = {l.name: folding_of(l) for l in graph.hardware_layers if fold_fields(l)}
    return {"version": FORMAT_VERSION, "graph": graph.name, "layers": layers}


def save_folding(graph: Graph, path: str | Path) -> Path:
    """Write the graph's folding as a folding file (one layer per line, easy to edit)."""
    path = Path(path)
    d = folding_dict(graph)
    lines = [f'    {json.dumps(n)}: {json.dumps(p)}' for n, p in d["layers"].items()]
    text = (
        "{\n"
        f'  "version": {FORMAT_VERSION},\n'
        f'  "graph": {json.dumps(graph.name)},\n'
        '  "layers": {\n' + ",\n".join(lines) + ("\n" if lines else "") + "  }\n}\n"
    )
    path.write_text(text)
    return path
