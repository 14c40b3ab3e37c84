"""End to end: generate() a design, build it with Verilator and a small C++ bench, stream
random frames with random valid/ready stalls, compare with qloom.sim.execute, and measure
steady-state cycles per frame against the cycle model (design.json, within 2%).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from qloom import sim
from qloom.backends.rtl import generate
from qloom import packing

from rtl_helpers import GRAPHS, MAKE_FLAGS, random_values, verilator_cmd, verilator_env

TB_CPP = r"""
// Minimal bench: input words from argv[1] (one per line, 32-bit hex chunks, least
// significant first), random valid/ready, outputs and transfer clocks to argv[2].
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>
#include "verilated.h"
#include "Vqloom_top.h"

using Word = std::vector<uint32_t>;
template <std::size_t N> static void put(VlWide<N>& p, const Word& w) {
  for (std::size_t i = 0; i < N; ++i) p[i] = i < w.size() ? w[i] : 0;
}
template <class T> static void put(T& p, const Word& w) {
  uint64_t v = w.empty() ? 0 : w[0];
  if (w.size() > 1) v |= uint64_t(w[1]) << 32;
  p = T(v);
}
template <std::size_t N> static Word get(const VlWide<N>& p) {
  Word w(N);
  for (std::size_t i = 0; i < N; ++i) w[i] = p[i];
  return w;
}
template <class T> static Word get(const T& p) {
  uint64_t v = p;
  return Word{uint32_t(v), uint32_t(v >> 32)};
}

int main(int argc, char** argv) {
  if (argc != 8) return 2;
  std::vector<Word> inputs;
  std::ifstream in(argv[1]);
  for (std::string line; std::getline(in, line);) {
    std::istringstream ss(line);
    Word w;
    for (std::string c; ss >> c;) w.push_back(uint32_t(std::stoul(c, nullptr, 16)));
    inputs.push_back(w);
  }
  FILE* out = std::fopen(argv[2], "w");
  const long n_out = std::atol(argv[3]);
  std::mt19937 rng(std::atoi(argv[4]));
  const int pv = std::atoi(argv[5]), pr = std::atoi(argv[6]);
  const long max_cycles = std::atol(argv[7]);
  auto coin = [&](int p256) { return int(rng() & 255) < p256; };

  VerilatedContext ctx;
  Vqloom_top top{&ctx};
  top.ap_clk = 0;
  top.ap_rst_n = 0;
  top.s_axis_tvalid = 0;
  top.m_axis_tready = 0;
  for (int i = 0; i < 4; ++i) {
    top.ap_clk = 1; top.eval();
    top.ap_clk = 0; top.eval();
  }
  top.ap_rst_n = 1;
  std::size_t ni = 0;
  long no = 0, cycle = 0, errors = 0;
  bool held = false;
  Word held_data;
  while (no < n_out && cycle < max_cycles) {
    top.ap_clk = 0; top.eval();  // inputs of this cycle settle; sample the handshakes
    const bool in_fire = top.s_axis_tvalid && top.s_axis_tready;
    const bool out_fire = top.m_axis_tvalid && top.m_axis_tready;
    const Word data = get(top.m_axis_tdata);
    if (held && (!top.m_axis_tvalid || data != held_data)) ++errors;  // stalled word must hold
    held = top.m_axis_tvalid && !top.m_axis_tready;
    held_data = data;
    if (out_fire) {
      std::fprintf(out, "o");
      for (uint32_t c : data) std::fprintf(out, " %08x", c);
      std::fprintf(out, " %ld\n", cycle);
      ++no;
    }
    if (in_fire) std::fprintf(out, "i %ld\n", cycle);
    top.ap_clk = 1; top.eval();
    ++cycle;
    if (in_fire) ++ni;
    if (!top.s_axis_tvalid || in_fire) {
      const bool v = ni < inputs.size() && coin(pv);
      top.s_axis_tvalid = v;
      if (v) put(top.s_axis_tdata, inputs[ni]);
    }
    top.m_axis_tready = coin(pr);
  }
  std::fprintf(out, "e %ld %ld\n", errors, cycle);
  std::fclose(out);
  top.final();
  return 0;
}
"""


def build(design_dir: Path, design: dict) -> Path:
    """Verilate the generated design with TB_CPP; returns the binary (built in design_dir/obj)."""
    top = design["top"]
    (design_dir / "tb.cpp").write_text(TB_CPP.replace("Vqloom_top", f"V{top}"))
    subprocess.run([*verilator_cmd(), "--cc", "--exe", "--top-module", top, "-Mdir", "obj", "-Wall",
                    *design["files"], "tb.cpp"], cwd=design_dir, env=verilator_env(), check=True,
                   capture_output=True, text=True)
    subprocess.run(["make", "-s", "-C", "obj", "-f", f"V{top}.mk", "-j2", "OPT_FAST=-O1", *MAKE_FLAGS],
                   cwd=design_dir, env=verilator_env(), check=True, capture_output=True, text=True)
    return design_dir / "obj" / f"V{top}"


def stream(binary: Path, design_dir: Path, words: list[int], width: int, n_out: int, *, seed: int,
           p_valid: float, p_ready: float) -> tuple[list[int], list[int]]:
    """Run the bench (cwd = design_dir for the relative $readmemh names): outputs and their clocks."""
    chunks = -(-width // 32)
    (design_dir / "in.txt").write_text("".join(
        " ".join(f"{(w >> (32 * i)) & 0xFFFFFFFF:08x}" for i in range(chunks)) + "\n" for w in words))
    max_cycles = 100_000 + 40 * len(words) * n_out
    subprocess.run([str(binary), "in.txt", "out.txt", str(n_out), str(seed), str(round(256 * p_valid)),
                    str(round(256 * p_ready)), str(max_cycles)], cwd=design_dir, check=True, timeout=600)
    outs, cycles = [], []
    for line in (design_dir / "out.txt").read_text().splitlines():
        kind, *rest = line.split()
        if kind == "o":
            outs.append(sum(int(c, 16) << (32 * i) for i, c in enumerate(rest[:-1])))
            cycles.append(int(rest[-1]))
        elif kind == "e":
            assert int(rest[0]) == 0, "an output word changed while stalled"
    assert len(outs) == n_out, f"got {len(outs)} of {n_out} output words (deadlock or timeout)"
    return outs, cycles


E2E = {"dense_binary_labels": 24, "dense_quant": 24, "conv_pool_labels": 8, "tfc_like": 12}  # graph: frames


@pytest.mark.hw
@pytest.mark.parametrize("name", sorted(E2E))
def test_generated_top_matches_sim_and_cycle_model(name, tmp_path):
    graph = GRAPHS[name]()
    design = generate(graph, tmp_path)
    binary = build(tmp_path, design)
    first = graph.layers.index(graph.hardware_layers[0])
    din, dout = design["dma"]["in"], design["dma"]["out"]  # the top's ports, packed by qloom.packing
    frames = E2E[name]
    rng = np.random.default_rng(7)
    x = random_values(rng, graph.hardware_layers[0].in_dtype, (frames, *din["shape"]))
    expect = sim.execute(graph, x, start=first)
    nbytes = din["width"] // 8
    data = packing.pack_frames(din, x)
    words = [int.from_bytes(data[i:i + nbytes], "little") for i in range(0, len(data), nbytes)]
    n_out = frames * dout["words_per_frame"]
    for seed, pv, pr in ((1, 0.7, 0.6), (2, 1.0, 1.0)):
        outs, cycles = stream(binary, tmp_path, words, din["width"], n_out, seed=seed, p_valid=pv, p_ready=pr)
        raw = b"".join(w.to_bytes(dout["width"] // 8, "little") for w in outs)
        got = packing.unpack_frames(dout, raw, frames).reshape(expect.shape)
        np.testing.assert_array_equal(got, expect)
    # full rate: frames leave every II clocks once the pipeline is full
    ends = np.array(cycles)[dout["words_per_frame"] - 1 :: dout["words_per_frame"]]
    k = frames // 2
    measured = (ends[-1] - ends[-1 - k]) / k
    model = design["cycles_per_frame_model"]
    assert abs(measured - model) <= 0.02 * model, f"measured {measured} cycles/frame, model {model}"
