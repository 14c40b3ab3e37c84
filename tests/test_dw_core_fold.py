"""The depthwise unit's hardware interface, folding rules, and auto folding: the window
generator in front of it is folded to emit exactly the unit's word."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from qloom import semantics as sem
from qloom.errors import QloomError
from qloom.fold import auto_fold, folding_dict, performance, resources, set_folding
from qloom.fold.folding_file import parse_folding
from qloom.fold.rules import legal_folding, legal_values, match_windows, window_folding, window_ties
from qloom.hw import interface
from qloom.ir import DepthwiseMatVec, Graph, IntType, OutputSpec, SlidingWindow
from qloom.testing.layers import random_matvec, random_values


def _graph(c=4, kernel=(3, 3), hw=(6, 6), stride=(1, 1), pad=1, seed=0, out_c=5) -> Graph:
    rng = np.random.default_rng(seed)
    u2, s2 = IntType(2, False), IntType(2, True)
    swg = SlidingWindow(name="swg", in_shape=(*hw, c), in_dtype=u2, kernel=kernel, stride=stride, pad=(pad,) * 4)
    k = kernel[0] * kernel[1]
    w = random_values(rng, s2, (c, k))
    lo, hi = sem.accumulator_range(w, 0, 3)
    dw = DepthwiseMatVec(name="dw", in_shape=swg.out_shape, in_dtype=u2, weights=w, w_dtype=s2,
                         acc_dtype=IntType.for_range(lo, hi), thresholds=np.sort(rng.integers(lo, hi + 1, (c, 3)), 1))
    pw = random_matvec(rng, "pw", dw.out_shape, dw.out_dtype, s2, out_c, None)
    return Graph(name="dwg", layers=(swg, dw, pw), output=OutputSpec(scale=np.ones(out_c), bias=np.zeros(out_c)))


def test_interface_row():
    dw = _graph(c=6).layer("dw")  # 6x6 pixels, K = 9
    for pe, simd, in_words, out_block in ((1, 1, 36 * 54, 6), (3, 1, 36 * 18, 2), (6, 3, 36 * 3, 1), (6, 9, 36, 1)):
        io = interface(dataclasses.replace(dw, pe=pe, simd=simd))
        assert (io.in_par, io.out_par) == (pe * simd, pe)
        assert io.in_words == io.cycles == in_words  # every input word once, one per clock
        assert io.out_words == 36 * 6 // pe and io.out_block == out_block and io.in_burst == 1


def test_rules_allow_kernel_positions_per_cycle_only_with_whole_pixels():
    g = _graph(c=4)
    dw = g.layer("dw")
    assert legal_values(dw) == {"pe": (1, 2, 4), "simd": (1, 3, 9), "mem_style": ("auto", "block", "distributed",
                                                                                      "registers")}
    assert legal_folding(dw, {"pe": 2, "simd": 1}) and legal_folding(dw, {"pe": 4, "simd": 3})
    assert not legal_folding(dw, {"pe": 2, "simd": 3})
    with pytest.raises(QloomError, match="simd=3 needs pe=4"):
        set_folding(g, "dw", pe=2, simd=3)
    with pytest.raises(QloomError, match="SIMD must divide K=9"):
        set_folding(g, "dw", simd=2)
    assert set_folding(g, "dw", pe=4, simd=9).layer("dw").simd == 9
    # a folding file names the unit's fields and reads back
    f = set_folding(g, "dw", pe=4, simd=3, mem_style="distributed")
    assert folding_dict(f)["layers"]["dw"] == {"pe": 4, "simd": 3, "mem_style": "distributed"}
    again = parse_folding(folding_dict(f), g)
    assert (again.layer("dw").pe, again.layer("dw").simd) == (4, 3)


def test_window_folding_gives_the_units_word():
    g = _graph(c=4, kernel=(2, 3), pad=0)  # K = 6: kpar choices at simd C are 1, 3 and 6, not 2
    swg, dw = g.layer("swg"), g.layer("dw")
    assert window_ties(g) == {"dw": "swg"}
    assert window_folding(swg, 2, 1, 4) == {"simd": 2, "kpar": 1, "mmv": 1}
    assert window_folding(swg, 4, 3, 4) == {"simd": 4, "kpar": 3, "mmv": 1}
    assert window_folding(swg, 4, 2, 4) is None  # legal for the unit (a converter), no matching window
    m = match_windows(set_folding(g, "dw", pe=4, simd=6))
    assert (m.layer("swg").simd, m.layer("swg").kpar) == (4, 6)
    assert interface(m.layer("swg")).out_par == interface(m.layer("dw")).in_par


@st.composite
def graphs(draw):
    c = draw(st.sampled_from([1, 2, 3, 4, 6, 8]))
    kernel = draw(st.sampled_from([(1, 1), (2, 2), (3, 3), (3, 1), (1, 3), (5, 5)]))
    pad = draw(st.integers(0, kernel[0] // 2 if kernel[0] == kernel[1] else 0))
    stride = draw(st.sampled_from([(1, 1), (2, 2)]))
    hw = (draw(st.integers(kernel[0], 9)), draw(st.integers(kernel[1], 9)))
    return _graph(c=c, kernel=kernel, hw=hw, stride=stride, pad=pad, seed=draw(st.integers(0, 99)),
                  out_c=draw(st.integers(1, 6)))


@settings(max_examples=40, deadline=None)
@given(graphs(), st.floats(0.02, 1.0))
def test_auto_folding_ties_the_window_to_the_unit(g, speed):
    """At any frame rate the folded pair is legal, the window emits the unit's word (no
    converter between them) and every layer meets the interval."""
    # the window takes no MMV here: the depthwise unit it feeds has none (`window_folding`)
    fastest = max(min(interface(dataclasses.replace(l, **c)).cycles for c in _grid(l) if c.get("mmv", 1) == 1)
                  for l in g.layers)
    slowest = max(interface(l).cycles for l in g.layers)
    t = max(fastest, int(slowest * speed))
    f = auto_fold(g, target_fps=100e6 / t)
    swg, dw = f.layer("swg"), f.layer("dw")
    assert legal_folding(dw, {}) and dw.channels % dw.pe == 0 and dw.k % dw.simd == 0
    assert window_folding(swg, dw.pe, dw.simd, dw.channels) == {"simd": swg.simd, "kpar": swg.kpar, "mmv": swg.mmv}
    assert interface(swg).out_par == interface(dw).in_par
    assert performance(f, 100.0)["cycles_per_frame"] <= t
    assert resources(f)["totals"]["LUT"] > 0


def test_the_pair_sets_the_ceiling_and_the_error_names_the_window():
    """The window alone could reach 1 cycle with MMV, the unit alone 2: tied (no MMV on a
    depthwise unit) the pair needs one clock per input pixel, 6, and the error says so."""
    g = _graph(c=1, kernel=(3, 1), hw=(3, 2), pad=0, out_c=1)
    assert performance(auto_fold(g, target_fps=100e6 / 6), 100.0)["cycles_per_frame"] == 6
    with pytest.raises(QloomError, match="'dw' with its window 'swg' needs at least 6 even fully unfolded"):
        auto_fold(g, target_fps=100e6 / 3)


def _grid(layer):
    legal = legal_values(layer)
    grids = [{}]
    for k, vs in legal.items():
        if k != "mem_style":
            grids = [{**g, k: v} for g in grids for v in vs]
    return [g for g in grids if legal_folding(layer, g)]


def test_board_folding_fills_with_the_pair_tied():
    f = auto_fold(_graph(c=8, hw=(9, 9)), board="zybo-z7-20")
    swg, dw = f.layer("swg"), f.layer("dw")
    assert (dw.pe, dw.simd) == (8, 9) and (swg.simd, swg.kpar) == (8, 9)  # a small design: fully unfolded
