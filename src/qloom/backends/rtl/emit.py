"""Verilog text building: library lookup, checked instances, module headers.

Hand-written cores live in `qloom/rtl/<module>.sv` with named parameters. `instance`
fills them and rejects unknown or missing keys (a parameter whose default refers to
another parameter is derived and may be left out), so a renamed parameter fails at
generation time, naming the module, not later in a simulator.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

LIB_DIR = Path(__file__).resolve().parents[2] / "rtl"

# Words of each core's output queue (its `localparam QDEPTH`, LAT + 2: full rate while the
# consumer keeps up); the cost model counts these FIFOs. tests/test_rtl_generate.py checks
# them against the .sv files.
QUEUE_DEPTH = {"qloom_mvtu": 5, "qloom_vvau": 5, "qloom_thresh": 4, "qloom_swg": 4, "qloom_pool": 4}


def held_words() -> int:
    """Output words any library core may hold beyond what the cycle schedule accounts for: its
    LAT = QDEPTH - 2 issue stages and its output queue, 2 * QDEPTH - 2 for the deepest (the
    MVTU's 3 + 5). The skip FIFO rule (`fold.cycles.edge_fifo_words`) reads it through the
    cost model's `queue_words`."""
    return max(2 * d - 2 for d in QUEUE_DEPTH.values())

# `parameter int N = ...`, `parameter FILE = ""`, or a vector of 32-bit fields
# `parameter logic [K*32-1:0] WORDS = '0` (qloom_concat: one field per port)
_PARAM_RE = re.compile(r"parameter\s+(?:int\s+|logic\s*\[[^\]]*\]\s*)?(\w+)\s*=\s*([^,\n/]+)")


def library_file(module: str) -> Path:
    path = LIB_DIR / f"{module}.sv"
    if not path.is_file():
        raise FileNotFoundError(f"no library module {module} (looked for {path})")
    return path


@functools.cache
def library_params(module: str) -> dict[str, bool]:
    """Parameter name -> required (False when its default is derived from other parameters,
    or its declaration's comment starts with "optional": a later feature whose default keeps
    the designs without it byte-identical)."""
    text = library_file(module).read_text()
    header = text[text.index(f"module {module}"):]
    header = header[: header.index(");")]  # the #( ... ) list ends before the port list's ");"
    found = _PARAM_RE.findall(header)
    names = {n for n, _ in found}
    optional = set(re.findall(r"parameter\s+(?:int\s+)?(\w+)\s*=[^\n]*//\s*optional", header))
    return {n: n not in optional and not (set(re.findall(r"\b[A-Z_][A-Z0-9_]*\b", default)) & names)
            for n, default in found}


def check_params(module: str, params: dict[str, int | str]) -> None:
    declared = library_params(module)
    unknown = sorted(set(params) - set(declared))
    missing = sorted(n for n, req in declared.items() if req and n not in params)
    if unknown or missing:
        raise ValueError(f"{module}: unknown parameters {unknown}, missing parameters {missing}")


def literal(value: int | str | bool | tuple[int, ...]) -> str:
    """A parameter value; a tuple is a vector of 32-bit fields, element i at bits [32*i +: 32]."""
    if isinstance(value, tuple):
        if not value or any(not isinstance(v, int) or not 0 <= v < 2**32 for v in value):
            raise ValueError(f"a vector parameter holds 32-bit unsigned fields, got {value!r}")
        return "{" + ", ".join(f"32'd{v}" for v in reversed(value)) + "}"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        if '"' in value or "\\" in value:
            raise ValueError(f"cannot quote {value!r} as a Verilog string")
        return f'"{value}"'
    raise TypeError(f"no Verilog literal for {value!r}")


def instance(module: str, name: str, params: dict[str, int | str], ports: dict[str, str],
             check: bool = True, indent: str = "  ") -> str:
    """`module #(.P(v), ...) name (.port(sig), ...);` with one parameter/port per line."""
    if check:
        check_params(module, params)
    inner = indent + "  "
    ports_ = [f"{inner}.{k}({v})" for k, v in ports.items()]
    if params:
        params_ = [f"{inner}.{k}({literal(v)})" for k, v in params.items()]
        lines = [f"{indent}{module} #(", *_commas(params_), f"{indent}) {name} ("]
    else:
        lines = [f"{indent}{module} {name} ("]
    lines += [*_commas(ports_), f"{indent});"]
    return "\n".join(lines) + "\n"


def _commas(items: list[str]) -> list[str]:
    return [i + "," for i in items[:-1]] + items[-1:]


def stream_ports(prefix_s: str, prefix_m: str, clk: str = "clk", rst_n: str = "rst_n") -> dict[str, str]:
    """Port map of a library core: clk, rst_n, s_* from `prefix_s`_*, m_* to `prefix_m`_*."""
    return {"clk": clk, "rst_n": rst_n,
            "s_tdata": f"{prefix_s}_tdata", "s_tvalid": f"{prefix_s}_tvalid", "s_tready": f"{prefix_s}_tready",
            "m_tdata": f"{prefix_m}_tdata", "m_tvalid": f"{prefix_m}_tvalid", "m_tready": f"{prefix_m}_tready"}
