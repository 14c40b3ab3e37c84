"""Icarus test bench for cores with several stream ports (qloom_fork, qloom_add, qloom_concat).

`run_ports` lints the core with its parameters (`verilator --lint-only -Wall`), then drives
every input port with its own random valid and every output port with its own random ready
(one $random sequence, so a seed repeats a run), checks the stream rule on every output (a
stalled word must hold), and returns each output's words and each transfer's clock.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from qloom.backends.rtl.emit import LIB_DIR, instance, literal
from qloom.packing import hex_lines

from rtl_helpers import verilator_cmd, verilator_env


@dataclass
class Port:
    """One stream of the test bench: tb signals `<name>_tdata/_tvalid/_tready`.

    Inputs send `words` with valid raised at probability `p`; outputs expect `n` words and
    raise ready at probability `p`."""

    name: str
    width: int
    words: list[int] = field(default_factory=list)
    n: int = 0
    p: float = 1.0


@dataclass
class PortsRun:
    outputs: dict[str, list[int]]
    out_cycles: dict[str, list[int]]
    in_cycles: dict[str, list[int]]


def files(module: str) -> list[Path]:
    """The library files of one of the DAG cores (all of them build on qloom_fifo)."""
    return [LIB_DIR / "qloom_fifo.sv", LIB_DIR / f"{module}.sv"]


def _g_value(v) -> str:
    """A -G value: Verilator reads a vector as one sized literal, not a concatenation."""
    if isinstance(v, tuple):
        return f"{32 * len(v)}'h" + "".join(f"{x:08x}" for x in reversed(v))
    return literal(v)


def lint_core(module: str, params: dict) -> str:
    """`verilator --lint-only -Wall` of `module` with `params` ('' when clean)."""
    g = [f"-G{k}={_g_value(v)}" for k, v in params.items()]
    r = subprocess.run([*verilator_cmd(), "--lint-only", "-Wall", "--top-module", module, *g,
                        *map(str, files(module))], env=verilator_env(), capture_output=True, text=True)
    return (r.stdout + r.stderr).strip() if r.returncode else ""


def packed(ports: list[Port], suffix: str) -> str:
    """The Verilog concatenation of the ports' `suffix` signals, port 0 in the LSBs."""
    return "{" + ", ".join(f"{p.name}_{suffix}" for p in reversed(ports)) + "}"


def _decls(ins: list[Port], outs: list[Port]) -> str:
    lines = []
    for p in ins:
        lines += [f"  logic [{p.width - 1}:0] {p.name}_mem [{max(1, len(p.words))}];",
                  f"  logic [{p.width - 1}:0] {p.name}_tdata = '0;",
                  f"  logic {p.name}_tvalid = 1'b0;", f"  wire {p.name}_tready;",
                  f"  integer {p.name}_k = 0;"]
    for p in outs:
        lines += [f"  wire [{p.width - 1}:0] {p.name}_tdata;", f"  wire {p.name}_tvalid;",
                  f"  logic {p.name}_tready = 1'b0;", f"  integer {p.name}_k = 0;",
                  f"  logic {p.name}_held = 1'b0;", f"  logic [{p.width - 1}:0] {p.name}_last;"]
    return "\n".join(lines) + "\n"


def _body(ins: list[Port], outs: list[Port]) -> str:
    lines = []
    for p in outs:  # check, log, then draw the next ready
        n = p.name
        lines += [f"      if ({n}_held && (!{n}_tvalid || {n}_tdata !== {n}_last)) begin",
                  f'        $display("ERROR cycle %0d: {n} changed while stalled", cycle); errors = errors + 1;',
                  "      end",
                  f"      {n}_held = {n}_tvalid && !{n}_tready;",
                  f"      {n}_last = {n}_tdata;",
                  f"      if ({n}_tvalid && {n}_tready) begin",
                  f'        if (^{n}_tdata === 1\'bx) begin $display("ERROR cycle %0d: {n} has x bits", cycle); '
                  "errors = errors + 1; end",
                  f"        if ({n}_k >= {p.n}) errors = errors + 1;",
                  f'        $fwrite(fd, "o {n} %h %0d\\n", {n}_tdata, cycle);',
                  f"        {n}_k = {n}_k + 1;",
                  "      end",
                  f"      {n}_tready <= ($random(seed) & 255) < {round(256 * p.p)};"]
    for p in ins:
        n = p.name
        lines += [f"      if ({n}_tvalid && {n}_tready) begin",
                  f'        $fwrite(fd, "i {n} %0d\\n", cycle); {n}_k = {n}_k + 1;',
                  "      end",
                  f"      if (!{n}_tvalid || {n}_tready) begin",
                  f"        if ({n}_k < {len(p.words)} && ($random(seed) & 255) < {round(256 * p.p)}) begin",
                  f"          {n}_tvalid <= 1'b1; {n}_tdata <= {n}_mem[{n}_k];",
                  f"        end else {n}_tvalid <= 1'b0;",
                  "      end"]
    done = " && ".join(f"{p.name}_k >= {p.n}" for p in outs) or "1"
    lines.append(f"      if ({done}) tail = tail + 1;")
    return "\n".join(lines) + "\n"


_TB = """`timescale 1ns/1ps
module tb;
  logic clk = 1'b0, rst_n = 1'b0;
  integer cycle = 0, seed = {seed}, fd, errors = 0, tail = 0;
{decls}
{dut}
  always #5 clk = ~clk;
  initial begin
{reads}
    fd = $fopen("out.txt", "w");
    repeat (3) @(posedge clk);
    rst_n <= 1'b1;
  end
  // All reads see the values before this edge (the DUT updates in the NBA region).
  always @(posedge clk) begin
    cycle = cycle + 1;
    if (rst_n) begin
{body}      if (tail > 20 || cycle > {max_cycles}) begin
        $fwrite(fd, "e %0d\\n", errors);
        $fclose(fd);
        $finish;
      end
    end
  end
endmodule
"""


def run_ports(workdir: Path, module: str, params: dict, ins: list[Port], outs: list[Port],
              conn: dict[str, str], *, seed: int = 1, max_cycles: int | None = None) -> PortsRun:
    """Stream `ins` through `module` (port map `conn`: DUT port -> tb expression; clk and
    rst_n are added) and collect `outs`."""
    if shutil.which("iverilog") is None:
        raise RuntimeError("Icarus Verilog (iverilog) is not installed")
    warnings = lint_core(module, params)  # every tested parameter set lints clean
    assert warnings == "", f"{module} {params}:\n{warnings}"
    workdir.mkdir(parents=True, exist_ok=True)
    for p in ins:
        (workdir / f"{p.name}.hex").write_text(hex_lines(p.words, p.width) if p.words else "0\n")
    reads = "\n".join(f'    $readmemh("{p.name}.hex", {p.name}_mem);' for p in ins)
    dut = instance(module, "dut", params, {"clk": "clk", "rst_n": "rst_n", **conn})
    if max_cycles is None:
        slow = min([p.p for p in ins + outs] + [1.0])
        total = sum(len(p.words) for p in ins) + sum(p.n for p in outs)
        max_cycles = 200 + int(8 * total / slow**2)
    tb = _TB.format(seed=seed, decls=_decls(ins, outs), dut=dut, reads=reads, body=_body(ins, outs),
                    max_cycles=max_cycles)
    (workdir / "tb.sv").write_text(tb)
    subprocess.run(["iverilog", "-g2012", "-o", "tb.vvp", "-s", "tb", "tb.sv", *map(str, files(module))],
                   cwd=workdir, check=True, capture_output=True, text=True)
    r = subprocess.run(["vvp", "-n", "tb.vvp"], cwd=workdir, capture_output=True, text=True)
    run = PortsRun({p.name: [] for p in outs}, {p.name: [] for p in outs}, {p.name: [] for p in ins})
    errors = None
    for line in (workdir / "out.txt").read_text().splitlines():
        kind, *rest = line.split()
        if kind == "o":
            run.outputs[rest[0]].append(int(rest[1], 16))
            run.out_cycles[rest[0]].append(int(rest[2]))
        elif kind == "i":
            run.in_cycles[rest[0]].append(int(rest[1]))
        elif kind == "e":
            errors = int(rest[0])
    if errors is None or errors or "ERROR" in r.stdout:
        raise AssertionError(f"{module} test bench reported errors ({errors}):\n{r.stdout[-3000:]}")
    return run
