"""The Verilator stream bench and `verify_rtl`: packing, a stand-in design, a broken design.

The stand-in top is a hand-written per-channel multi-threshold with the generator's ports
and design.json, so the bench is tested independently of `qloom.backends.rtl`; the last
tests run generated designs when that generator is importable.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qloom import sim
from qloom.errors import QloomError
from qloom.ir import BIPOLAR, Graph, InputQuant, IntType, OutputSpec, Threshold
from qloom.verify import rtl

# Registered multi-threshold: one word of PAR lanes per cycle, thresholds from thr.mem
# (one line per channel, T signed THR_BITS-wide values, threshold 0 in the LSBs).
STANDIN_SV = """
module standin_thr #(
  parameter int C = 4, PAR = 2, T = 3, IN_BITS = 8, IN_EB = 8, OUT_EB = 2, THR_BITS = 10,
  parameter int IN_W = 16, OUT_W = 8
) (
  input  logic ap_clk,
  input  logic ap_rst_n,
  input  logic [IN_W-1:0] s_axis_tdata,
  input  logic s_axis_tvalid,
  output logic s_axis_tready,
  output logic [OUT_W-1:0] m_axis_tdata,
  output logic m_axis_tvalid,
  input  logic m_axis_tready
);
  localparam int GROUPS = C / PAR;
  logic [T*THR_BITS-1:0] thr [0:C-1];
  initial $readmemh("thr.mem", thr);
  logic [$clog2(GROUPS+1)-1:0] grp;
  logic valid;
  logic [OUT_W-1:0] res, data;
  wire fire = s_axis_tvalid && s_axis_tready;
  assign s_axis_tready = !valid || m_axis_tready;
  for (genvar l = 0; l < PAR; l++) begin : lane
    logic [$clog2(T+1)-1:0] cnt;
    wire [T*THR_BITS-1:0] row = thr[grp*PAR + l];  // a wire: Yosys 0.70 asserts on mem[i][part]
    wire signed [IN_BITS:0] x = {1'b0, s_axis_tdata[l*IN_EB +: IN_BITS]};
    always_comb begin
      cnt = '0;
      for (int t = 0; t < T; t++)
        if (x >= $signed(row[t*THR_BITS +: THR_BITS])) cnt = cnt + 1'b1;
    end
    assign res[l*OUT_EB +: OUT_EB] = cnt[OUT_EB-1:0];
  end
  if (OUT_W > PAR * OUT_EB) begin : pad
    assign res[OUT_W-1:PAR*OUT_EB] = '0;
  end
  always_ff @(posedge ap_clk) begin
    if (!ap_rst_n) begin
      valid <= 1'b0;
      grp <= '0;
    end else if (fire) begin
      valid <= 1'b1;
      grp <= (grp == GROUPS - 1) ? '0 : grp + 1'b1;
    end else if (m_axis_tready) begin
      valid <= 1'b0;
    end
  end
  always_ff @(posedge ap_clk) if (fire) data <= res;
  assign m_axis_tdata = data;
  assign m_axis_tvalid = valid;
endmodule
"""


def _pow2(bits: int) -> int:
    return max(8, 1 << (bits - 1).bit_length())


STANDIN_TOP = """module qloom_top (input logic ap_clk, ap_rst_n, input logic [{iw}:0] s_axis_tdata, input logic s_axis_tvalid,
  output logic s_axis_tready, input logic s_axis_tlast, output logic [{ow}:0] m_axis_tdata,
  output logic m_axis_tvalid, input logic m_axis_tready, output logic m_axis_tlast);
  logic c_tvalid, c_tready, r_tvalid, r_tready;
  qloom_tlast #(.IN_WORDS({words}), .OUT_WORDS({words}), .DEPTH({depth})) u_tlast (.clk(ap_clk), .rst_n(ap_rst_n),
    .s_tvalid(s_axis_tvalid), .s_tlast(s_axis_tlast), .s_tready(s_axis_tready), .c_tvalid(c_tvalid),
    .c_tready(c_tready), .r_tvalid(r_tvalid), .r_tready(r_tready), .m_tvalid(m_axis_tvalid),
    .m_tlast(m_axis_tlast), .m_tready(m_axis_tready));
  standin_thr {params} u_thr (.ap_clk, .ap_rst_n, .s_axis_tdata, .s_axis_tvalid(c_tvalid), .s_axis_tready(c_tready),
    .m_axis_tdata, .m_axis_tvalid(r_tvalid), .m_axis_tready(r_tready));
endmodule
"""


def standin(out_dir: Path, *, shape=(2, 3, 4), par=2, seed=0, flag_depth=4) -> Graph:
    """Write the stand-in design to `out_dir`; return the graph it implements."""
    from qloom.backends.rtl.emit import LIB_DIR
    from qloom.packing import dma_port

    rng = np.random.default_rng(seed)
    c, t, thr_bits = shape[2], 3, 10
    thresholds = np.sort(rng.integers(-20, 280, size=(c, t)), axis=1)
    layer = Threshold(name="thr", in_shape=shape, in_dtype=IntType(8, False), thresholds=thresholds, pe=par)
    out_eb = layer.out_dtype.bits
    in_w, out_w = _pow2(8 * par), _pow2(out_eb * par)
    out_dir.mkdir(parents=True, exist_ok=True)
    params = f"#(.C({c}), .PAR({par}), .T({t}), .OUT_EB({out_eb}), .THR_BITS({thr_bits}), .IN_W({in_w}), .OUT_W({out_w}))"
    (out_dir / "standin_thr.sv").write_text(STANDIN_SV)
    for lib in ("qloom_fifo", "qloom_tlast"):
        (out_dir / f"{lib}.sv").write_text((LIB_DIR / f"{lib}.sv").read_text())
    words = int(np.prod(shape)) // par
    (out_dir / "qloom_top.sv").write_text(STANDIN_TOP.format(iw=in_w - 1, ow=out_w - 1, words=words, params=params, depth=flag_depth))
    codes = IntType(thr_bits, True).encode(thresholds)
    lines = ["%0*x" % ((t * thr_bits + 3) // 4, sum(int(v) << (thr_bits * i) for i, v in enumerate(row))) for row in codes]
    (out_dir / "thr.mem").write_text("\n".join(lines) + "\n")
    dma = {"in": dma_port("s_axis", in_w, IntType(8, False), shape, par),
           "out": {**dma_port("m_axis", out_w, layer.out_dtype, shape, par), "kind": "logits"}}
    design = {"top": "qloom_top", "files": ["qloom_fifo.sv", "qloom_tlast.sv", "standin_thr.sv", "qloom_top.sv"],
              "dma": dma, "layers": [{"name": "thr", "instance": "u_thr"}], "cycles_per_frame_model": words}
    (out_dir / "design.json").write_text(json.dumps(design, indent=1))
    inq = InputQuant(name="inq", in_shape=shape, in_dtype=IntType(8, False), scale=np.array(1 / 255),
                     zero_point=np.array(0.0), out_type=IntType(8, False))
    n_out = int(np.prod(shape))
    return Graph(name="standin", layers=(inq, layer), output=OutputSpec(scale=np.ones(n_out), bias=np.zeros(n_out)))


# ---------------------------------------------------------------- bench inputs (no tools needed)


def test_batches_start_with_a_single_frame_and_cover_all():
    sizes = rtl.batch_lengths(40, seed=3)
    assert sizes[0] == 1 and sum(sizes) == 40 and max(sizes) > 1 and min(sizes) >= 1


def test_design_without_dma_entry_is_a_clear_error(tmp_path):
    (tmp_path / "a.sv").write_text("module a; endmodule\n")
    (tmp_path / "design.json").write_text(json.dumps({"top": "a", "files": ["a.sv"]}))
    with pytest.raises(QloomError, match="regenerate"):
        rtl.load_design(tmp_path)


def test_steady_ii_uses_second_half():
    out_last = np.array([50, 60, 70, 80, 90, 100])  # fill, then one frame every 10 cycles
    timing = np.stack([np.zeros(6), np.zeros(6), np.zeros(6), out_last], axis=1)
    assert rtl.steady_ii(timing) == 10.0


# ---------------------------------------------------------------- Verilator


@pytest.fixture(scope="module")
def standin_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("standin")
    return d, standin(d)


@pytest.mark.hw
def test_standin_matches_ir_under_backpressure(standin_dir):
    d, graph = standin_dir
    x = np.random.default_rng(1).random((20, 4, 2, 3)).astype(np.float32)  # (N, C, H, W)
    entry = rtl.verify_rtl(graph, d, x, seed=3, stall_prob=0.4)
    assert entry["error"] is None
    assert entry["mismatches"] == 0 and entry["steady_mismatches"] == 0
    assert entry["protocol_errors"] == 0 and entry["extra_words"] == 0
    # one word per cycle through a registered stage: II = words per frame exactly, latency = II
    assert entry["cycles_per_frame"] == entry["cycles_per_frame_model"] == 12
    assert entry["ii_ok"] and entry["latency_cycles"] == 12
    assert entry["passed"]
    again = rtl.verify_rtl(graph, d, x[:5], seed=4)
    assert again["build_cached"] and again["passed"]


@pytest.mark.hw
def test_run_rtl_outputs_match_sim_for_several_seeds(standin_dir):
    d, graph = standin_dir
    frames = np.random.default_rng(2).integers(0, 256, size=(7, 2, 3, 4))
    want = sim.execute(graph, frames, start=1)
    for seed, p in [(0, 0.0), (1, 0.5), (2, 0.9)]:
        r = rtl.run_rtl(d, frames, seed=seed, stall_prob=p, steady_frames=5)
        assert np.array_equal(r["outputs"], want), (seed, p)
        assert np.array_equal(r["steady_outputs"], want[np.arange(5) % 7])
    flat = rtl.run_rtl(d, frames.reshape(7, -1), steady_frames=3)  # same element order, any frame shape
    assert np.array_equal(flat["outputs"], want)
    with pytest.raises(QloomError, match="do not fit"):
        rtl.run_rtl(d, frames[:, :, :2])


def _spy_progress(monkeypatch, module) -> list:
    """Records (total, count reached, stderr) of every `progress.run` the module makes."""
    from qloom import progress

    seen, real = [], progress.run

    def spy(cmd, t, **kw):
        res = real(cmd, t, **kw)
        seen.append((t.total, t.done, res.stderr))
        return res

    monkeypatch.setattr(module.progress, "run", spy)
    return seen


@pytest.mark.hw
def test_rtl_simulation_reports_frames_done(standin_dir, monkeypatch):
    """The bench's frame counts reach the progress task (its first output frame always reports)
    and stay out of what the result parsing reads."""
    d, graph = standin_dir
    seen = _spy_progress(monkeypatch, rtl)
    frames = np.random.default_rng(5).integers(0, 256, size=(9, 2, 3, 4))
    r = rtl.run_rtl(d, frames, seed=1, steady_frames=4)
    assert np.array_equal(r["outputs"], sim.execute(graph, frames, start=1))
    [(total, done, err)] = seen
    assert total == 9 + 4 and 1 <= done <= total and "qloom-progress" not in err


@pytest.mark.hw
def test_broken_mem_file_gives_mismatches(standin_dir, tmp_path):
    src, graph = standin_dir
    rtl.build_simulator(src)  # (cached when an earlier test built it)
    d = tmp_path / "broken"
    d.mkdir()
    for f in src.iterdir():
        if f.is_file():
            (d / f.name).write_bytes(f.read_bytes())
    lines = (d / "thr.mem").read_text().split()
    lines[1] = "0" * len(lines[1])  # channel 1: every threshold 0 (was -8, 60, 72 for seed 0)
    (d / "thr.mem").write_text("\n".join(lines) + "\n")
    x = np.random.default_rng(1).random((20, 4, 2, 3)).astype(np.float32)
    entry = rtl.verify_rtl(graph, d, x, seed=3, cache_dir=src / "sim_build")
    assert entry["build_cached"]  # .mem files are read at simulation start: no rebuild
    assert entry["mismatches"] > 0 and not entry["passed"]
    fm = entry["first_mismatch"]
    assert fm["index"][2] == 1 and fm["expected"] != fm["got"]  # channel 1 is the wrong one


@pytest.mark.hw
def test_wide_ports_and_deadlock_report(tmp_path):
    d = tmp_path / "wide"
    graph = standin(d, shape=(1, 2, 12), par=12, seed=5)  # 96-bit input word: VlWide<3>
    x = np.random.default_rng(4).random((6, 12, 1, 2)).astype(np.float32)
    entry = rtl.verify_rtl(graph, d, x, seed=1, stall_prob=0.5, steady_frames=6)
    assert entry["passed"] and entry["cycles_per_frame"] == 2
    # a design that never answers: verify reports the hang instead of raising
    top = (d / "qloom_top.sv").read_text()
    (d / "qloom_top.sv").write_text(top.replace(".m_axis_tvalid(r_tvalid),", ".m_axis_tvalid(),")
                                    .replace("endmodule", "  assign r_tvalid = 1'b0;\nendmodule"))
    entry = rtl.verify_rtl(graph, d, x)
    assert not entry["passed"] and "no stream transfer" in entry["error"]


@pytest.mark.hw
def test_missing_tlast_is_a_protocol_error(standin_dir, tmp_path):
    """An IP that never raises TLAST: same data, but every batch end is a protocol error."""
    src, graph = standin_dir
    d = tmp_path / "notlast"
    d.mkdir()
    for f in src.iterdir():
        if f.is_file():
            (d / f.name).write_bytes(f.read_bytes())
    top = (d / "qloom_top.sv").read_text()
    (d / "qloom_top.sv").write_text(top.replace(".m_tlast(m_axis_tlast)", ".m_tlast()")
                                    .replace("endmodule", "  assign m_axis_tlast = 1'b0;\nendmodule"))
    x = np.random.default_rng(1).random((20, 4, 2, 3)).astype(np.float32)
    entry = rtl.verify_rtl(graph, d, x, seed=3)
    assert entry["mismatches"] == 0  # the data are right
    assert entry["tlast_errors"] >= entry["tlast_batches"] > 1  # every batch end is missed
    assert entry["protocol_errors"] >= entry["tlast_errors"] and not entry["passed"]


@pytest.mark.hw
def test_full_flag_queue_stalls_the_input_and_loses_nothing(tmp_path):
    """One word per frame and a 1-flag queue: frames in flight outnumber the queue, so the
    input waits at each frame's last word; data and TLAST stay exact (only the II grows)."""
    graph = standin(tmp_path, shape=(1, 1, 2), par=2, seed=9, flag_depth=1)
    x = np.random.default_rng(5).random((30, 2, 1, 1)).astype(np.float32)
    entry = rtl.verify_rtl(graph, tmp_path, x, seed=4, stall_prob=0.4)
    assert entry["error"] is None and entry["mismatches"] == entry["steady_mismatches"] == 0
    assert entry["protocol_errors"] == entry["tlast_errors"] == 0 and entry["extra_words"] == 0
    assert entry["cycles_per_frame"] > entry["cycles_per_frame_model"] == 1  # the queue throttles


# ---------------------------------------------------------------- generated designs


def _mv(name, rng, in_shape, in_dtype, mh, w_dtype, *, levels=3, pe=1, simd=1, out_base=0, out_step=1, thr=True):
    """Thresholds near the typical accumulator, not at its extremes."""
    from qloom.testing.layers import random_matvec

    return random_matvec(rng, name, in_shape, in_dtype, w_dtype, mh, levels if thr else None, spread="zero",
                         acc_with_zero=True, out_base=out_base, out_step=out_step, pe=pe, simd=simd)


def _bnn_mlp() -> Graph:
    """Bipolar 36-12-10 with a top-2 head: XNOR-popcount, PE=1, PE=MH, a non-power-of-2 SIMD."""
    from qloom.ir import LabelSelect

    rng = np.random.default_rng(10)
    inq = InputQuant(name="inq", in_shape=(1, 1, 36), in_dtype=BIPOLAR, scale=np.array(1.0),
                     zero_point=np.array(0.0), out_type=BIPOLAR)
    fc1 = _mv("fc1", rng, (1, 1, 36), BIPOLAR, 12, BIPOLAR, levels=1, pe=1, simd=6, out_base=-1, out_step=2)
    fc2 = _mv("fc2", rng, (1, 1, 12), BIPOLAR, 10, BIPOLAR, pe=10, simd=4, thr=False)
    head = LabelSelect(name="top2", in_shape=(1, 1, 10), in_dtype=fc2.out_dtype, k=2)
    return Graph(name="bnn", layers=(inq, fc1, fc2, head), output=OutputSpec(scale=np.ones(2), bias=np.zeros(2)))


def _small_cnn() -> Graph:
    """7x7x2 INT4 input, conv 3x3 stride 2 pad 1, max pool 2x2, dense; odd sizes throughout."""
    from qloom.ir import Pool, PoolMode, SlidingWindow

    rng = np.random.default_rng(11)
    i4 = IntType(4, True)
    inq = InputQuant(name="inq", in_shape=(7, 7, 2), in_dtype=i4, scale=np.array(0.125), zero_point=np.array(0.0),
                     out_type=i4)
    swg = SlidingWindow(name="swg", in_shape=(7, 7, 2), in_dtype=i4, kernel=(3, 3), stride=(2, 2), pad=(1, 1, 1, 1),
                        simd=2)
    conv = _mv("conv", rng, swg.out_shape, i4, 6, IntType(3, True), pe=3, simd=9)
    pool = Pool(name="pool", in_shape=conv.out_shape, in_dtype=conv.out_dtype, mode=PoolMode.MAX, kernel=(2, 2),
                stride=(2, 2), pe=1)
    swg2 = SlidingWindow(name="flat", in_shape=pool.out_shape, in_dtype=pool.out_dtype, kernel=pool.out_shape[:2])
    fc = _mv("fc", rng, swg2.out_shape, pool.out_dtype, 5, IntType(2, True), pe=5, simd=8, thr=False)
    return Graph(name="cnn", layers=(inq, swg, conv, pool, swg2, fc), output=OutputSpec(scale=np.ones(5), bias=np.zeros(5)))


def _inputs(graph: Graph, n: int, seed: int) -> np.ndarray:
    h, w, c = graph.layers[0].in_shape
    return (np.random.default_rng(seed).random((n, c, h, w)).astype(np.float32) * 2 - 1)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    gen = pytest.importorskip("qloom.backends.rtl.top").generate  # the generator, when present
    out = {}
    for g in (_bnn_mlp(), _small_cnn()):
        d = tmp_path_factory.mktemp(g.name)
        gen(g, d)
        out[g.name] = (g, d)
    return out


@pytest.mark.hw
@pytest.mark.parametrize("name", ["bnn", "cnn"])
def test_generated_design_matches_ir_with_measured_ii(generated, name):
    graph, d = generated[name]
    entry = rtl.verify_rtl(graph, d, _inputs(graph, 24, 1), seed=7, stall_prob=0.3)
    assert entry["error"] is None, entry["error"]
    assert entry["mismatches"] == 0 and entry["steady_mismatches"] == 0, entry["first_mismatch"]
    assert entry["protocol_errors"] == 0 and entry["extra_words"] == 0
    assert abs(entry["ii_error"]) <= rtl.II_TOLERANCE, (entry["cycles_per_frame"], entry["cycles_per_frame_model"])
    assert entry["latency_cycles"] >= entry["cycles_per_frame_model"] and entry["passed"]


@pytest.mark.hw
def test_generated_design_with_corrupted_weights_fails(generated):
    graph, d = generated["cnn"]
    rtl.build_simulator(d)
    design = json.loads((d / "design.json").read_text())
    # the dense layer's weights: no threshold after it, and its inputs (pooled counts) are
    # never 0 here, so a flipped weight bit must show in the outputs
    weights = next(f for f in design["mem_files"] if "_fc_" in f and "weight" in f)
    lines = (d / weights).read_text().split()
    (d / weights).write_text("\n".join(("%0*x" % (len(l), int(l, 16) ^ 1)) for l in lines) + "\n")  # flip bit 0
    try:
        entry = rtl.verify_rtl(graph, d, _inputs(graph, 8, 2), seed=1)
    finally:
        (d / weights).write_text("\n".join(lines) + "\n")
    assert entry["build_cached"] and entry["mismatches"] > 0 and not entry["passed"]


@pytest.mark.hw
def test_labels_design_from_a_logits_graph_is_verified_as_labels(tmp_path):
    """out_kind="labels" on a logits IR: the top emits top-1 indices and verify compares them
    with the IR run the same way (design.json dma.out.kind), TLAST included."""
    from qloom.backends.rtl import generate

    graph = _small_cnn()
    design = generate(graph, tmp_path, out_kind="labels")
    assert design["dma"]["out"]["kind"] == "labels" and not graph.ends_in_labels
    entry = rtl.verify_rtl(graph, tmp_path, _inputs(graph, 16, 3), seed=2)
    assert entry["passed"], entry
    assert entry["tlast_errors"] == 0 and entry["tlast_batches"] > 1


@pytest.mark.hw
def test_ports_wider_than_the_dma_are_converted_and_bound_the_ii(tmp_path):
    """1024 channels x 2 bits per word on both sides: the DMA's 1024 bits carry half a word,
    so converters sit at both ends and the DMA side is the bottleneck (II 2, not 1)."""
    from qloom.backends.rtl import generate

    rng = np.random.default_rng(8)
    u2 = IntType(2, False)
    thr = Threshold(name="thr", in_shape=(1, 1, 1024), in_dtype=u2, thresholds=np.sort(rng.integers(0, 4, (1024, 3)), 1),
                    pe=1024)
    inq = InputQuant(name="inq", in_shape=(1, 1, 1024), in_dtype=u2, scale=np.array(1 / 3), zero_point=np.array(0.0),
                     out_type=u2)
    graph = Graph(name="wide", layers=(inq, thr), output=OutputSpec(scale=np.ones(1024), bias=np.zeros(1024)))
    design = generate(graph, tmp_path)
    din, dout = design["dma"]["in"], design["dma"]["out"]
    assert (din["width"], din["elems_per_word"], din["converter"]) == (1024, 512, {"in": 512, "out": 1024})
    assert (dout["width"], dout["elems_per_word"], dout["converter"]) == (1024, 512, {"in": 1024, "out": 512})
    assert design["cycles_per_frame_model"] == 2 and rtl.lint(tmp_path) == []
    entry = rtl.verify_rtl(graph, tmp_path, np.random.default_rng(1).random((12, 1024, 1, 1)).astype(np.float32),
                           seed=5, stall_prob=0.3)
    assert entry["passed"], entry
    assert entry["cycles_per_frame"] == 2.0
