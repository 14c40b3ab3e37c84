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


# ---------------------------------------------------------------- small DAG graphs


def graph_residual(seed=0, pe=2, skew_heavy=False):
    """thr -> fork -> (3x3 conv: window + MatVec with thresholds) + skip -> add -> thr.
    `skew_heavy`: the conv branch's window double-buffers whole frames, so the skip FIFO
    must hold about a frame."""
    import numpy as np

    from qloom.ir import AddStreams, Fork, IntType, SlidingWindow, Threshold

    from rtl_helpers import _graph, _mv

    rng = np.random.default_rng(seed)
    u2, s8 = IntType(2, False), IntType(8, True)
    h = 6 if skew_heavy else 4
    t0 = Threshold(name="thr0", in_shape=(h, h, 4), in_dtype=s8,
                   thresholds=np.sort(rng.integers(-60, 60, size=(4, 3)), axis=1), out_base=0, pe=pe)
    fk = Fork(name="fork", in_shape=t0.out_shape, in_dtype=t0.out_dtype, k=2, pe=pe)
    sw = SlidingWindow(name="swg", in_shape=fk.out_shape, in_dtype=u2, kernel=(3, 3), pad=(1, 1, 1, 1), simd=2,
                       inputs=("fork",))
    cv = _mv(rng, "conv", sw.out_shape, u2, IntType(2, True), 4, 3, 0, 1, pe=2, simd=6)
    ad = AddStreams(name="add", in_shape=fk.out_shape, in_dtype=u2, in_dtype_b=cv.out_dtype, shift_a=1, pe=pe,
                    inputs=("fork", "conv"))
    acc = ad.out_dtype
    t1 = Threshold(name="thr1", in_shape=ad.out_shape, in_dtype=acc,
                   thresholds=np.sort(rng.integers(acc.min, acc.max + 1, size=(4, 2)), axis=1), pe=pe)
    return _graph("residual" + ("_heavy" if skew_heavy else ""), [t0, fk, sw, cv, ad, t1])


def graph_concat3(seed=1):
    """fork to three readers: a threshold, a 1x1 conv and the stream itself, concatenated
    (mixed types), then a 1x1 conv over all channels."""
    import numpy as np

    from qloom.ir import Concat, Fork, IntType, Threshold

    from rtl_helpers import _graph, _mv

    rng = np.random.default_rng(seed)
    u3 = IntType(3, False)
    t0 = Threshold(name="thr0", in_shape=(3, 3, 6), in_dtype=IntType(6, True),
                   thresholds=np.sort(rng.integers(-20, 20, size=(6, 7)), axis=1), pe=3)
    fk = Fork(name="split", in_shape=t0.out_shape, in_dtype=u3, k=3, pe=3)
    ta = Threshold(name="thr_a", in_shape=fk.out_shape, in_dtype=u3, thresholds=np.array([[2]] * 6), out_base=-1,
                   out_step=2, pe=6, inputs=("split",))
    mb = _mv(rng, "conv_b", fk.out_shape, u3, IntType(3, True), 3, None, pe=1, simd=2)
    mb = _replace(mb, inputs=("split",))
    ct = Concat(name="cat", in_shape=ta.out_shape, in_dtype=ta.out_dtype, channels=(6, 3, 6),
                dtypes=(ta.out_dtype, mb.out_dtype, u3), pe=3, inputs=("thr_a", "conv_b", "split"))
    fc = _mv(rng, "conv_c", ct.out_shape, ct.out_dtype, IntType(2, True), 4, None, pe=2, simd=5)
    return _graph("concat3", [t0, fk, ta, mb, ct, fc])


def _replace(layer, **changes):
    import dataclasses

    return dataclasses.replace(layer, **changes)


DAG_GRAPHS = {
    "residual": lambda: graph_residual(),
    "residual_heavy": lambda: graph_residual(seed=3, pe=4, skew_heavy=True),
    "concat3": lambda: graph_concat3(),
}


class _Dag:
    """Builds a random IR DAG layer by layer (names, inputs, random foldings)."""

    def __init__(self, rng, h: int, w: int):
        self.rng, self.h, self.w = rng, h, w
        self.layers: list = []
        self.n = 0

    def name(self, kind: str) -> str:
        self.n += 1
        return f"{kind}{self.n}"

    def pe(self, c: int) -> int:
        from qloom.fold.rules import divisors

        return int(self.rng.choice(divisors(c)))

    def add(self, layer):
        self.layers.append(layer)
        return layer

    def thr(self, src, c: int, bits: int, inputs=()):
        """Requantize to `bits` unsigned (1 bit: sometimes bipolar)."""
        import numpy as np

        from qloom.ir import Threshold

        t = src.out_dtype
        n = (1 << bits) - 1
        if bits == 1 and self.rng.random() < 0.5:  # bipolar out
            thr = self.rng.integers(t.min, t.max + 1, size=(c, 1))
            return self.add(Threshold(name=self.name("thr"), in_shape=src.out_shape, in_dtype=t, thresholds=thr,
                                      out_base=-1, out_step=2, pe=self.pe(c), inputs=inputs))
        thr = np.sort(self.rng.integers(t.min, t.max + 2, size=(c, n)), axis=1)
        return self.add(Threshold(name=self.name("thr"), in_shape=src.out_shape, in_dtype=t, thresholds=thr,
                                  pe=self.pe(c), inputs=inputs))

    def conv1x1(self, src, mh: int, inputs=(), n_thr=None):
        import dataclasses

        from qloom.ir import IntType

        from rtl_helpers import _mv

        c = src.out_shape[2]
        mv = _mv(self.rng, self.name("mv"), src.out_shape, src.out_dtype, IntType(2, True), mh, n_thr,
                 pe=self.pe(mh), simd=self.pe(c))
        return self.add(dataclasses.replace(mv, inputs=inputs))

    def conv3x3(self, src, mh: int, inputs=()):
        from qloom.ir import IntType, SlidingWindow

        from rtl_helpers import _mv

        c = src.out_shape[2]
        sw = self.add(SlidingWindow(name=self.name("swg"), in_shape=src.out_shape, in_dtype=src.out_dtype,
                                    kernel=(3, 3), pad=(1, 1, 1, 1), simd=self.pe(c), inputs=inputs))
        t = sw.out_dtype
        return self.add(_mv(self.rng, self.name("conv"), sw.out_shape, t, IntType(2, True), mh, 3 if t.bits > 1 else 1,
                            0, 1, pe=self.pe(mh), simd=self.pe(9 * c)))

    def pool(self, src, inputs=()):
        from qloom.ir import Pool, PoolMode

        c = src.out_shape[2]
        return self.add(Pool(name=self.name("pool"), in_shape=src.out_shape, in_dtype=src.out_dtype,
                             mode=PoolMode.MAX, kernel=(3, 3), stride=(1, 1), pad=(1, 1, 1, 1), pe=self.pe(c),
                             inputs=inputs))

    def branch(self, fork, c: int):
        """One reader of `fork`: the stream itself (None), a threshold, a 1x1 conv with
        thresholds, a 3x3 conv or a max pool; returns its last layer."""
        kind = self.rng.choice(["id", "thr", "mv", "conv", "pool"], p=[0.25, 0.2, 0.2, 0.2, 0.15])
        inputs = (fork.name,)
        if kind == "id":
            return fork
        if kind == "thr":
            return self.thr(fork, c, int(self.rng.integers(1, 4)), inputs)
        if kind == "mv":
            return self.conv1x1(fork, c, inputs, n_thr=int(self.rng.integers(1, 4)))
        if kind == "pool":
            return self.pool(fork, inputs)
        return self.conv3x3(fork, c, inputs)


def random_dag(seed: int):
    """A small random DAG: an input threshold, 1-2 blocks (a residual add of two readers of a
    fork, or a concat of 2-3), each requantized, then a 1x1 conv to logits; random widths,
    foldings, shifts."""
    from qloom.ir import AddStreams, Concat, Fork, IntType

    from rtl_helpers import _graph

    import numpy as np

    rng = np.random.default_rng(seed)
    h = int(rng.integers(2, 5))
    b = _Dag(rng, h, int(rng.integers(2, 5)))
    c = int(rng.choice([2, 3, 4, 6]))
    from qloom.ir import Threshold

    x0 = Threshold(name="in_thr", in_shape=(h, b.w, c), in_dtype=IntType(6, True),
                   thresholds=np.sort(rng.integers(-32, 33, size=(c, 3)), axis=1), pe=b.pe(c))
    cur = b.add(x0)
    for _ in range(int(rng.integers(1, 3))):
        k = 2 if rng.random() < 0.6 else 3
        fk = b.add(Fork(name=b.name("fork"), in_shape=cur.out_shape, in_dtype=cur.out_dtype, k=k, pe=b.pe(c),
                        inputs=(cur.name,)))
        ends = [b.branch(fk, c) for _ in range(k)]
        if k == 2 and rng.random() < 0.6:  # residual add (shapes equal: every branch keeps C)
            sa, sb = (int(s) for s in rng.integers(0, 2, size=2))
            cur = b.add(AddStreams(name=b.name("add"), in_shape=ends[0].out_shape, in_dtype=ends[0].out_dtype,
                                   in_dtype_b=ends[1].out_dtype, shift_a=sa, shift_b=sb, pe=b.pe(c),
                                   inputs=tuple(e.name for e in ends)))
        else:
            chans = tuple(e.out_shape[2] for e in ends)
            cur = b.add(Concat(name=b.name("cat"), in_shape=ends[0].out_shape, in_dtype=ends[0].out_dtype,
                               channels=chans, dtypes=tuple(e.out_dtype for e in ends),
                               pe=b.pe(int(np.gcd.reduce(chans))), inputs=tuple(e.name for e in ends)))
        cur = b.thr(cur, cur.out_shape[2], int(rng.integers(1, 4)), (cur.name,))
        c = cur.out_shape[2]
    b.conv1x1(cur, int(rng.integers(2, 5)), (cur.name,))
    return _graph(f"random_dag_{seed}", b.layers)
