"""JSON round trip of the IR: dataclasses become tagged dicts, arrays become base64 .npy bytes.

A layer's `inputs` is written only when it names any (a linear pipeline's file is as it was
before DAGs). `to_json(graph)` / `from_json(text)`; `save(graph, path)` / `load(path)`. `load` turns a
damaged or foreign file into a one-line `QloomError` naming it; `from_json` raises ValueError.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import io
import json
from pathlib import Path

import numpy as np

from qloom.errors import QloomError
from qloom.ir import ops
from qloom.ir.graph import Graph, OutputSpec
from qloom.ir.types import IntType

FORMAT_VERSION = 1
_CLASSES = {cls.__name__: cls for cls in (*ops.LAYER_TYPES, ops.TensorRef, OutputSpec, Graph, IntType)}
_ENUMS = {cls.__name__: cls for cls in (ops.MemStyle, ops.PoolMode)}


def _encode(value):
    if isinstance(value, np.ndarray):
        buf = io.BytesIO()
        np.save(buf, value, allow_pickle=False)
        return {"__ndarray__": base64.b64encode(buf.getvalue()).decode("ascii")}
    if isinstance(value, enum.Enum):
        return {"__enum__": type(value).__name__, "value": value.value}
    if dataclasses.is_dataclass(value):
        fields = {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)
                  if not (f.name == "inputs" and isinstance(value, ops.Layer) and not value.inputs)
                  and not (f.name in ("kpar", "mmv") and getattr(value, f.name) == 1)}  # IR files at 1 stay as they were
        return {"__type__": type(value).__name__, **fields}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _decode(value):
    if isinstance(value, list):
        return tuple(_decode(v) for v in value)
    if not isinstance(value, dict):
        return value
    if "__ndarray__" in value:
        return np.load(io.BytesIO(base64.b64decode(value["__ndarray__"])), allow_pickle=False)
    if "__enum__" in value:
        return _ENUMS[value["__enum__"]](value["value"])
    if "__type__" in value:
        cls = _CLASSES[value["__type__"]]
        return cls(**{k: _decode(v) for k, v in value.items() if k != "__type__"})
    return {k: _decode(v) for k, v in value.items()}


def to_json(graph: Graph) -> str:
    return json.dumps({"qloom_ir": FORMAT_VERSION, "graph": _encode(graph)})


def from_json(text: str) -> Graph:
    data = json.loads(text)
    if data.get("qloom_ir") != FORMAT_VERSION:
        raise ValueError(f"not a qloom IR file of format {FORMAT_VERSION}")
    return _decode(data["graph"])


def save(graph: Graph, path: str | Path) -> Path:
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(to_json(graph))
    tmp.replace(path)
    return path


def load(path: str | Path) -> Graph:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise QloomError(f"cannot read IR file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise QloomError(f"{path} is not a qloom IR file (not UTF-8 text); rebuild it with `qloom build`") from None
    try:
        graph = from_json(text)
    except json.JSONDecodeError as exc:
        detail = f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
    except KeyError as exc:
        detail = f"missing or unknown key {exc}"
    except (TypeError, ValueError, AttributeError, QloomError) as exc:  # wrong fields, bad values, a failed check
        detail = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'malformed content'}"
    else:
        if not isinstance(graph, Graph):
            raise QloomError(f"{path} is not a qloom IR file (no graph in it); rebuild it with `qloom build`")
        return graph
    raise QloomError(f"{path} is damaged ({detail}); rebuild it with `qloom build` (the --resume run re-creates it)")
