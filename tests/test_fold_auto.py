"""Automatic folding: targets met, boards fitted, pipelines balanced, FINN's greedy beaten."""

import numpy as np
import pytest
from fold_graphs import tiny_cnn, zoo

from qloom.errors import QloomError
from qloom.fold import auto_fold, finn_greedy_fold, get_board, layer_cycles, performance, resources
from qloom.fold.auto import layer_options
from qloom.fold.resources import KEYS, fifo_resources, layer_resources

CLOCK = 100.0
TARGETS = {  # frames per second at 100 MHz, from "slow" to "as fast as a small Zynq allows"
    "tfc_w1a1": [10_000, 300_000, 1_500_000],
    "sfc_w1a1": [10_000, 100_000, 400_000],
    "lfc_w1a1": [2_000, 20_000, 100_000],
    "cnv_w1a1": [100, 1_000, 8_000],
}


def _fold_of(g):
    return [(l.name, getattr(l, "pe", None), getattr(l, "simd", None)) for l in g.layers]


def _assert_balanced(g):
    """Every layer (with its input FIFO) is Pareto-optimal among its options that keep up
    with the bottleneck: no legal folding is as cheap in every resource and cheaper in one."""
    ii = performance(g, CLOCK)["cycles_per_frame"]
    first = g.hardware_layers[0]
    for layer in g.layers:
        fifo = layer.hardware and layer is not first
        o = layer_options(layer, fifo=fifo)
        own, glue = layer_resources(layer), fifo_resources(layer) if fifo else {}
        mine = np.array([own[k] + glue.get(k, 0) for k in KEYS])
        ok = o.res[o.cycles <= ii]
        dominated = np.all(ok <= mine, axis=1) & np.any(ok < mine, axis=1)
        assert not dominated.any(), f"{layer.name} could be cheaper at II={ii}"


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_target_fps_is_met_and_balanced(name):
    g = zoo(name)
    for fps in TARGETS[name]:
        folded = auto_fold(g, target_fps=fps, clock_mhz=CLOCK)
        perf = performance(folded, CLOCK)
        assert perf["fps"] >= fps
        _assert_balanced(folded)


def test_cheapest_for_a_target_is_not_the_fastest():
    g = zoo("lfc_w1a1")
    slow = auto_fold(g, target_fps=2_000, clock_mhz=CLOCK)
    fast = auto_fold(g, target_fps=100_000, clock_mhz=CLOCK)
    assert performance(slow, CLOCK)["fps"] < performance(fast, CLOCK)["fps"]
    assert resources(slow)["totals"]["LUT"] < resources(fast)["totals"]["LUT"]


@pytest.mark.parametrize("name, board", [
    ("tfc_w1a1", "PYNQ-Z1"), ("sfc_w1a1", "Zybo Z7-10"), ("lfc_w1a1", "PYNQ-Z2"),
    ("cnv_w1a1", "PYNQ-Z1"), ("cnv_w1a1", "Cora Z7-07S"), ("cnv_w2a2", "Ultra96-V2"), ("lfc_w1a1", "ZCU104"),
])
def test_board_mode_fits_and_beats_every_greedy_folding_that_fits(name, board):
    g, b = zoo(name), get_board(board)
    folded = auto_fold(g, board=board)
    tot = resources(folded)["totals"]
    for k in KEYS:
        assert tot[k] <= 0.85 * b.capacity[k], k
    ii = performance(folded, b.clock_mhz)["cycles_per_frame"]
    _assert_balanced(folded)
    # FINN's heuristic at any target that still fits the same board is no faster
    slowest = max(layer_cycles(l) for l in g.hardware_layers) + 1
    for target in np.unique(np.geomspace(2, slowest, 24).astype(int)):
        greedy = finn_greedy_fold(g, int(target))
        gt = resources(greedy)["totals"]
        if all(gt[k] <= 0.85 * b.capacity[k] for k in KEYS):
            assert ii <= performance(greedy, b.clock_mhz)["cycles_per_frame"]


def test_target_and_board_together():
    g = zoo("sfc_w1a1")
    folded = auto_fold(g, target_fps=500_000, board="pynq-z2")
    assert performance(folded, 100.0)["fps"] >= 500_000
    assert resources(folded)["totals"]["LUT"] <= 0.85 * 53_200


def test_model_that_cannot_fit_names_board_and_smallest_figures():
    with pytest.raises(QloomError) as err:
        auto_fold(zoo("lfc_w8a8"), board="Cora Z7-07S")
    msg = str(err.value)
    for needle in ("lfc_w8a8 cannot fit Cora Z7-07S", "xc7z007s", "at any folding", "85%", "BRAM18",
                   "Closest folding found", "Smallest reachable", "Mbit"):
        assert needle in msg


def test_target_that_fits_no_board_folding():
    with pytest.raises(QloomError, match="cannot fit Zybo Z7-10"):
        auto_fold(zoo("sfc_w1a1"), target_fps=5_000_000, board="Zybo Z7-10")


def test_unreachable_target_and_missing_goal():
    with pytest.raises(QloomError, match="needs at least 10 even fully unfolded"):
        auto_fold(zoo("tfc_w1a1"), target_fps=20_000_000, clock_mhz=CLOCK)  # LabelSelect: C=10 cycles
    with pytest.raises(QloomError, match="target frame rate"):
        auto_fold(zoo("tfc_w1a1"))
    with pytest.raises(QloomError, match="unknown board"):
        auto_fold(zoo("tfc_w1a1"), board="nope")


def test_auto_fold_covers_every_layer_kind():
    g = tiny_cnn()
    folded = auto_fold(g, target_fps=250_000, clock_mhz=CLOCK)  # 400 cycles; the window needs >= 324
    perf = performance(folded, CLOCK)
    assert perf["cycles_per_frame"] <= 400
    assert folded.layer("swg").simd > 1 and folded.layer("conv").pe * folded.layer("conv").simd > 1
    assert folded.layer("pool").pe == 1  # 288 cycles already keep up: unfolding it would waste LUTs
    _assert_balanced(folded)


# ---------------------------------------------------------------- FINN's greedy baseline


def test_greedy_matches_finn_setfolding_by_hand():
    # T=64 on TFC: fc0 SIMD stops at 28 (49 bits > 36), PE=32 -> 56 < 64; fc1/fc2 SIMD 32,
    # PE 4 -> 32; fc3 meets the target at SIMD 16 already (10 * 4 = 40 cycles)
    g = finn_greedy_fold(zoo("tfc_w1a1"), 64)
    assert _fold_of(g)[1:5] == [("fc0", 32, 28), ("fc1", 4, 32), ("fc2", 4, 32), ("fc3", 1, 16)]
    assert performance(g, CLOCK)["cycles_per_frame"] == 56


def test_greedy_two_pass_relaxation():
    # T=1 is unreachable: fc0 bottoms out at 28 cycles (SIMD capped at 28, PE=64); the second
    # pass refolds the others against 28 instead of fully unrolling them
    g = finn_greedy_fold(zoo("tfc_w1a1"), 1)
    assert _fold_of(g)[1:3] == [("fc0", 64, 28), ("fc1", 8, 32)]
    one_pass = finn_greedy_fold(zoo("tfc_w1a1"), 1, two_pass_relaxation=False)
    assert _fold_of(one_pass)[2] == ("fc1", 64, 32)


GREEDY_TARGETS = {  # target cycles per frame
    "tfc_w1a1": [64, 256, 1024],
    "sfc_w1a1": [256, 1024, 4096],
    "lfc_w1a1": [1024, 4096, 16384],
    "cnv_w1a1": [12_000, 50_000, 200_000],
    "cnv_w2a2": [25_000, 100_000],
    "lfc_w2a2": [2048, 8192],
}


@pytest.mark.parametrize("name", sorted(GREEDY_TARGETS))
def test_auto_fold_beats_finn_greedy(name):
    """At FINN's own frame rate or better: never more LUT, BRAM18 or DSP, and less in total.
    (FF is not compared: FINN has no FF model and ours is a rough guess.)"""
    g = zoo(name)
    saved = 0
    for target in GREEDY_TARGETS[name]:
        greedy = finn_greedy_fold(g, target)
        fps = performance(greedy, CLOCK)["fps"]
        ours = auto_fold(g, target_fps=fps, clock_mhz=CLOCK)
        assert performance(ours, CLOCK)["fps"] >= fps
        r_g, r_o = resources(greedy)["totals"], resources(ours)["totals"]
        for k in ("LUT", "BRAM18", "DSP"):
            assert r_o[k] <= r_g[k], (target, k, r_o, r_g)
        saved += (r_g["LUT"] - r_o["LUT"]) / r_g["LUT"] + (r_g["BRAM18"] - r_o["BRAM18"]) / max(r_g["BRAM18"], 1)
    assert saved > 0.02  # a real saving over the targets, not only ties


def test_auto_fold_beats_greedy_at_the_same_target_cycles():
    # the fastest TFC folding FINN's heuristic gives for T=64 is 56 cycles; ours, asked for
    # the same 56 cycles, saves LUTs, and asked for FINN's nominal 64 it saves far more
    g = zoo("tfc_w1a1")
    greedy = resources(finn_greedy_fold(g, 64))["totals"]["LUT"]
    ours64 = auto_fold(g, target_fps=CLOCK * 1e6 / 64, clock_mhz=CLOCK)
    assert performance(ours64, CLOCK)["cycles_per_frame"] <= 64
    assert resources(ours64)["totals"]["LUT"] < 0.85 * greedy
