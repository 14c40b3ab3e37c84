"""The streams of a DAG top: which core port each edge joins, their names, and the wrapper of a
core with several input or output streams (qloom_fork, qloom_add, qloom_concat).

Names in the top: a layer's input stream is `<n>_s` (after its FIFO), its output `<n>_m`;
a layer with several input ports has `<n>_s<p>` (FIFO `u_<n>_fifo<p>`, converter
`<n>_dwc<p>`), a Fork `<n>_m<j>` for its j-th reader (readers in `Graph.edges` order). A
linear graph therefore keeps the names (and bytes) it always had. The stream watchdog of the
Verilator bench reports stalls under these names.
"""

from __future__ import annotations

from dataclasses import dataclass

from qloom.backends.rtl.emit import instance
from qloom.backends.rtl.layers import Core
from qloom.ir import Graph, Layer


@dataclass(frozen=True)
class Link:
    """One stream between two hardware layers (indices into the hardware layers)."""

    prod: int
    out: int | None  # the producer's output stream (None: its only one)
    cons: int
    port: int | None  # the consumer's input port (None: its only one)

    @property
    def suffix(self) -> str:
        """Appended to the consumer's FIFO, converter and input stream names."""
        return "" if self.port is None else str(self.port)


def links(graph: Graph, hw: list[Layer]) -> list[list[Link]]:
    """Per hardware layer, the links into it in port order (none from the DMA input)."""
    index = {l.name: i for i, l in enumerate(hw)}
    outs: dict[str, int] = {}  # readers of a producer seen so far
    per: list[list[Link]] = [[] for _ in hw]
    for prod, cons, port in graph.edges():
        if prod not in index or cons not in index:
            continue  # the graph input (InputQuant -> the first layer): the DMA side
        p, c = index[prod], index[cons]
        many_out = _readers(graph, prod) > 1  # a Fork
        j = outs.get(prod, 0)
        outs[prod] = j + 1
        per[c].append(Link(p, j if many_out else None, c, port if len(hw[c].in_shapes) > 1 else None))
    return per


def _readers(graph: Graph, name: str) -> int:
    """Edges leaving a layer (a Fork may feed both ports of one consumer)."""
    return sum(1 for prod, _, _ in graph.edges() if prod == name)


def out_stream(name: str, out: int | None) -> str:
    return f"{name}_m" if out is None else f"{name}_m{out}"


def in_streams(core: Core) -> list[str]:
    """The wrapper's input stream prefixes: `s`, or `s0`, `s1`, ... for several ports."""
    n = len(core.port_dtypes)
    return ["s"] if n == 1 else [f"s{p}" for p in range(n)]


def out_streams(core: Core) -> list[str]:
    return ["m"] if core.n_out == 1 else [f"m{j}" for j in range(core.n_out)]


def multi_port(core: Core) -> bool:
    return len(core.port_dtypes) > 1 or core.n_out > 1


def _cat(names: list[str], suffix: str) -> str:
    """A Verilog concatenation, the first name in the LSBs."""
    return "{" + ", ".join(f"{n}_{suffix}" for n in reversed(names)) + "}"


def _core_ports(core: Core) -> dict[str, str]:
    """The library core's ports -> the wrapper's streams."""
    ins, outs = in_streams(core), out_streams(core)
    ports = {"clk": "clk", "rst_n": "rst_n"}
    if core.module == "qloom_fork":
        ports |= {f"s_{x}": f"s_{x}" for x in ("tdata", "tvalid", "tready")}
        ports |= {f"m_{x}": _cat(outs, x) for x in ("tdata", "tvalid", "tready")}
    elif core.module == "qloom_add":
        ports |= {f"{c}_{x}": f"{s}_{x}" for c, s in zip(("a", "b"), ins) for x in ("tdata", "tvalid", "tready")}
        ports |= {f"m_{x}": f"m_{x}" for x in ("tdata", "tvalid", "tready")}
    elif core.module == "qloom_concat":
        slot = core.in_par * core.out_dtype.bits  # each port's word sits in the low bits of its slot
        parts = []
        for s, t in zip(reversed(ins), reversed(core.port_dtypes)):
            pad = slot - core.in_par * t.bits
            parts += ([f"{pad}'b0"] if pad else []) + [f"{s}_tdata"]
        ports |= {"s_tdata": "{" + ", ".join(parts) + "}", "s_tvalid": _cat(ins, "tvalid"),
                  "s_tready": _cat(ins, "tready")}
        ports |= {f"m_{x}": f"m_{x}" for x in ("tdata", "tvalid", "tready")}
    else:
        raise ValueError(f"{core.module} has one input and one output stream: use the plain wrapper")
    return ports


def wrapper_body(core: Core) -> str:
    """Port list and core instance of the wrapper of a multi-stream core (after `module X (`)."""
    lines = ["  input  logic clk,", "  input  logic rst_n,"]
    for s, t in zip(in_streams(core), core.port_dtypes):
        lines += [f"  input  logic [{core.in_par * t.bits - 1}:0] {s}_tdata,", f"  input  logic {s}_tvalid,",
                  f"  output logic {s}_tready,"]
    ow = core.out_par * core.out_dtype.bits
    for m in out_streams(core):
        lines += [f"  output logic [{ow - 1}:0] {m}_tdata,", f"  output logic {m}_tvalid,", f"  input  logic {m}_tready,"]
    lines[-1] = lines[-1].rstrip(",")
    return "\n".join(lines) + "\n);\n" + instance(core.module, "u_core", core.params, _core_ports(core))


def instance_ports(core: Core, n: str) -> dict[str, str]:
    """The top's connection of layer `n`'s wrapper."""
    ports = {"clk": "ap_clk", "rst_n": "ap_rst_n"}
    ins = in_streams(core)
    for s in ins:
        sig = f"{n}_s" if len(ins) == 1 else f"{n}_{s}"
        ports |= {f"{s}_{x}": f"{sig}_{x}" for x in ("tdata", "tvalid", "tready")}
    for j, m in enumerate(out_streams(core)):
        sig = out_stream(n, None if core.n_out == 1 else j)
        ports |= {f"{m}_{x}": f"{sig}_{x}" for x in ("tdata", "tvalid", "tready")}
    return ports
