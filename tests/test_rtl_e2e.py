"""End to end: generate() a design, stream random frames through it with the one C++ bench
(`qloom/verify/tb/tb_stream.cpp`, via `qloom.verify.rtl.run_rtl`: random valid/ready stalls,
then stall-free), compare with qloom.sim.execute, and measure steady-state cycles per frame
against the cycle model (design.json, within 2%).
"""

from __future__ import annotations

import numpy as np
import pytest

from qloom import sim
from qloom.backends.rtl import generate
from qloom.verify import rtl

from rtl_helpers import GRAPHS, random_values

E2E = {"dense_binary_labels": 24, "dense_quant": 24, "conv_pool_labels": 8, "tfc_like": 12}  # graph: frames


@pytest.mark.hw
@pytest.mark.parametrize("name", sorted(E2E))
def test_generated_top_matches_sim_and_cycle_model(name, tmp_path):
    graph = GRAPHS[name]()
    design = generate(graph, tmp_path)
    first = graph.layers.index(graph.hardware_layers[0])
    din = design["dma"]["in"]  # the top's input port, packed by qloom.packing
    frames = E2E[name]
    x = random_values(np.random.default_rng(7), graph.hardware_layers[0].in_dtype, (frames, *din["shape"]))
    expect = sim.execute(graph, x, start=first)
    r = rtl.run_rtl(tmp_path, x, seed=1, stall_prob=0.4, steady_frames=frames)
    np.testing.assert_array_equal(r["outputs"].reshape(expect.shape), expect)  # under backpressure
    np.testing.assert_array_equal(r["steady_outputs"].reshape(expect.shape), expect)  # at full rate
    assert r["protocol_errors"] == 0 and r["extra_words"] == 0 and r["tlast_errors"] == 0
    # full rate: frames leave every II clocks once the pipeline is full
    model = design["cycles_per_frame_model"]
    assert abs(r["cycles_per_frame"] - model) <= rtl.II_TOLERANCE * model, (r["cycles_per_frame"], model)
