"""The cycle model against hand-computed values, and the latency model's bounds."""

import dataclasses

import pytest
from fold_graphs import dense, tiny_cnn, zoo

from qloom.backends.rtl.coeffs import DEFAULT
from qloom.fold import layer_cycles, latency_cycles, performance, set_folding
from qloom.fold.cycles import DMA_CONVERTER_DEPTH, dma_geometry
from qloom.hw import interface
from qloom.ir import Graph, OutputSpec


def _one(layer) -> Graph:
    return Graph(name="one", layers=(layer,), output=OutputSpec(scale=None, bias=None))


def test_matvec_cycles_are_vectors_times_folds():
    g = tiny_cnn()
    conv = g.layer("conv")  # 6x6 vectors, MH=8, MW=36
    assert layer_cycles(conv) == 36 * 8 * 36
    assert layer_cycles(dataclasses.replace(conv, pe=4, simd=9)) == 36 * 2 * 4
    assert layer_cycles(dataclasses.replace(conv, pe=8, simd=36)) == 36


def test_tfc_at_finn_folding_is_64_cycles():
    # FINN's TFC-w1a1 test folding (PE, SIMD) = (16,49), (8,8), (8,8), (10,8): II 64
    g = zoo("tfc_w1a1")
    for name, pe, simd in [("fc0", 16, 49), ("fc1", 8, 8), ("fc2", 8, 8), ("fc3", 10, 8)]:
        g = set_folding(g, name, pe=pe, simd=simd)
    perf = performance(g, 100.0)
    assert perf["cycles"] == {"input": 0, "fc0": 64, "fc1": 64, "fc2": 64, "fc3": 8, "top1": 10}
    assert perf["cycles_per_frame"] == 64 and perf["bottleneck"] == "fc0"
    assert perf["fps"] == pytest.approx(1_562_500)  # FINN: 1.56 M frames/s at 100 MHz


def test_sliding_window_pool_threshold_labelselect_cycles():
    g = tiny_cnn()
    swg = g.layer("swg")  # 8x8x4 in, 6x6x36 out: output-bound
    assert layer_cycles(swg) == max(8 * 8 * 4, 6 * 6 * 36)
    assert layer_cycles(dataclasses.replace(swg, simd=4)) == 6 * 6 * 36 // 4
    assert layer_cycles(g.layer("pool")) == 6 * 6 * 8  # input-bound
    assert layer_cycles(dataclasses.replace(g.layer("pool"), pe=8)) == 36
    assert layer_cycles(dataclasses.replace(g.layer("thr"), pe=2)) == 4
    assert layer_cycles(g.layer("top")) == 4
    assert layer_cycles(g.layer("in")) == 0


def test_cnv_first_window_is_output_bound():
    swg = zoo("cnv_w1a1").layer("swg0")  # 32x32x3 -> 30x30x27
    assert layer_cycles(swg) == 30 * 30 * 27
    assert layer_cycles(dataclasses.replace(swg, simd=3)) == 30 * 30 * 9


def test_single_dense_latency_by_hand():
    # MW=8, SIMD=2 -> SF=4 input words at t=0..3; MH=4, PE=2 -> NF=2 folds.
    # first fold ends with the last input word (t=3); the second runs SF more cycles -> last
    # result at t = 3 + (NF-1)*SF + 1 = 8, then the register depth, and +1 to count cycles.
    # The 4-bit word is no DMA width: 2 DMA bytes per frame pass a converter and its FIFO,
    # whose registers delay the first layer word by DMA_CONVERTER_DEPTH.
    layer = dense(mw=8, mh=4, pe=2, simd=2)
    depth = DEFAULT.mvau_depth + DEFAULT.adder_tree_depth_per_level * 1
    assert dma_geometry(_one(layer))[0].converter
    assert latency_cycles(_one(layer)) == 8 + depth + 1 + DMA_CONVERTER_DEPTH
    byte_wide = dense(mw=8, mh=4, pe=2, simd=4)  # 8-bit words: the DMA takes them as they are
    assert latency_cycles(_one(byte_wide)) == 1 + 2 + 1 + depth + 1  # SF = 2 words, NF = 2


def test_latency_bounds_on_zoo_graphs():
    for name in ("tfc_w1a1", "cnv_w1a1"):
        g = zoo(name)
        perf = performance(g, 100.0)
        hw = g.hardware_layers
        upper = sum(layer_cycles(l) for l in hw) + sum(20 for _ in hw)  # every layer in turn, plus depth
        assert perf["cycles_per_frame"] <= perf["latency_cycles"] <= upper


def test_latency_shrinks_when_unfolding_and_overlaps_layers():
    g = zoo("tfc_w1a1")
    slow = latency_cycles(g)
    fast = g
    for name, pe, simd in [("fc0", 16, 49), ("fc1", 8, 8), ("fc2", 8, 8), ("fc3", 10, 8)]:
        fast = set_folding(fast, name, pe=pe, simd=simd)
    assert latency_cycles(fast) < slow


def test_dense_layers_hardly_overlap():
    # a dense layer's last output needs its whole input, so an MLP's latency is about the sum
    # of its layers (only the first row fold overlaps the producer)
    tfc = zoo("tfc_w1a1")
    assert latency_cycles(tfc) >= 0.95 * sum(layer_cycles(l) for l in tfc.hardware_layers)


def test_sliding_window_latency_by_hand():
    # qloom_swg double-buffers frames: 8*8*4 = 256 input words at t=0..255, then all
    # 6*6*36 = 1296 window words after the last one, plus its 2 register stages
    swg = tiny_cnn().layer("swg")
    assert latency_cycles(_one(swg)) == 255 + 1296 + DEFAULT.stream_depth + 1 + DMA_CONVERTER_DEPTH


def test_pool_cycles_with_padding_follow_the_rtl():
    # 5x5 input, 2x2/2 pool padded right and bottom: 3x3 outputs; qloom_pool walks 6 columns
    from qloom.ir import IntType, Pool, PoolMode
    p = Pool(name="p", in_shape=(5, 5, 4), in_dtype=IntType(4, False), mode=PoolMode.MAX, kernel=(2, 2),
             stride=(2, 2), pad=(0, 0, 1, 1), pe=2)
    assert p.out_shape == (3, 3, 4)
    assert layer_cycles(p) == max(5 * 6, 6 * 3) * 4 // 2


def test_performance_keys_and_units():
    perf = performance(tiny_cnn(), 200.0)
    assert set(perf) >= {"cycles", "cycles_per_frame", "latency_cycles", "fps", "bottleneck", "clock_mhz"}
    assert perf["bottleneck"] == "conv"
    assert perf["fps"] == pytest.approx(200e6 / perf["cycles_per_frame"])
    assert perf["latency_us"] == pytest.approx(perf["latency_cycles"] / 200.0)


def test_cycle_model_matches_the_rtl_generator():
    # the RTL generator states each core's cycles and input words; the model must agree
    import itertools

    from qloom.fold import legal_values
    from qloom.fold.rules import legal_folding

    rtl = pytest.importorskip("qloom.backends.rtl.layers")
    checked = 0
    for g in (tiny_cnn(), zoo("tfc_w1a1"), zoo("cnv_w1a1")):
        for layer in g.hardware_layers:
            legal = {k: v for k, v in legal_values(layer).items() if k != "mem_style"}
            picks = [sorted(set(v[:3] + v[-1:])) for v in legal.values()]  # small, mid and full
            for values in itertools.product(*picks):
                if not legal_folding(layer, dict(zip(legal, values))):  # a window's kpar depends on its SIMD
                    continue
                l = dataclasses.replace(layer, **dict(zip(legal, values)))
                core = rtl.emit(l, "x")
                assert (core.cycles, core.in_words) == (layer_cycles(l), interface(l).in_words), (l.name, values)
                checked += 1
    assert checked > 200
