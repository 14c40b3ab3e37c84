"""A folding file that sets a depthwise unit ties the window generator in front of it (as auto
folding does): no width converter between them. A window the file sets itself keeps the file's
values, and a pair whose words differ still builds, through a converter."""

import json

import numpy as np
import pytest

from qloom import semantics as sem
from qloom.fold import apply_folding_file, folding_dict, save_folding
from qloom.hw import interface
from qloom.ir import DepthwiseMatVec, Graph, InputQuant, IntType, OutputSpec, SlidingWindow
from qloom.testing.layers import random_matvec, random_values


def _graph(kernel=(3, 3), c=4) -> Graph:
    """8x8xC UINT2 -> kernel window (pad 0) -> depthwise (3 thresholds) -> C -> 5 MatVec, all at folding 1."""
    rng = np.random.default_rng(0)
    u2, s2 = IntType(2, False), IntType(2, True)
    inq = InputQuant(name="inq", in_shape=(8, 8, c), in_dtype=u2, scale=np.array(1 / 3), zero_point=np.array(0.0),
                     out_type=u2)
    swg = SlidingWindow(name="swg", in_shape=(8, 8, c), in_dtype=u2, kernel=kernel)
    w = random_values(rng, s2, (c, kernel[0] * kernel[1]))
    lo, hi = sem.accumulator_range(w, 0, 3)
    dw = DepthwiseMatVec(name="dw", in_shape=swg.out_shape, in_dtype=u2, weights=w, w_dtype=s2,
                         acc_dtype=IntType.for_range(lo, hi), thresholds=np.sort(rng.integers(lo, hi + 1, (c, 3)), 1))
    pw = random_matvec(rng, "pw", dw.out_shape, dw.out_dtype, s2, 5, None)
    return Graph(name="dwf", layers=(inq, swg, dw, pw), output=OutputSpec(scale=np.ones(5), bias=np.zeros(5)))


def _apply(graph, layers, tmp_path):
    path = tmp_path / "folding.json"
    path.write_text(json.dumps({"version": 1, "layers": layers}))
    return apply_folding_file(graph, path)


def _dwc(graph, tmp_path):
    """The width converter the RTL top puts in front of the depthwise unit, or None."""
    from qloom.backends.rtl import generate

    out = tmp_path / "rtl"
    out.mkdir(exist_ok=True)
    (info,) = [l for l in generate(graph, out)["layers"] if l["name"] == "dw"]
    return info["dwc"]


@pytest.mark.parametrize("unit, window", [({"pe": 2}, (2, 1)), ({"pe": 4, "simd": 3}, (4, 3)),
                                          ({"pe": 4, "simd": 9, "mem_style": "distributed"}, (4, 9))])
def test_setting_only_the_unit_ties_its_window(unit, window, tmp_path):
    g = _apply(_graph(), {"dw": unit}, tmp_path)
    swg, dw = g.layer("swg"), g.layer("dw")
    assert (swg.simd, swg.kpar) == window
    assert interface(swg).out_par == interface(dw).in_par == dw.pe * dw.simd
    again = apply_folding_file(_graph(), save_folding(g, tmp_path / "saved.json"))  # the saved file rebuilds it
    assert folding_dict(again) == folding_dict(g)


def test_no_converter_in_the_rtl_top(tmp_path):
    g = _graph()
    assert _dwc(g.replace_layer("dw", pe=4, simd=3), tmp_path) == {"in": 1, "out": 12}  # untied: a converter
    assert _dwc(_apply(g, {"dw": {"pe": 4, "simd": 3}}, tmp_path), tmp_path) is None


def test_a_window_set_in_the_file_is_kept(tmp_path):
    g = _graph()
    kept = _apply(g, {"dw": {"pe": 4, "simd": 3}, "swg": {"simd": 4, "kpar": 1}}, tmp_path)
    assert (kept.layer("swg").simd, kept.layer("swg").kpar) == (4, 1)  # the user's choice, not (4, 3)
    assert _dwc(kept, tmp_path) == {"in": 4, "out": 12}  # which works through a converter
    both = _apply(g, {"dw": {"pe": 2}, "swg": {"simd": 2}}, tmp_path)
    assert (both.layer("swg").simd, both.layer("swg").kpar) == (2, 1) and _dwc(both, tmp_path) is None


def test_a_unit_folding_without_a_matching_window_keeps_a_converter(tmp_path):
    g = _graph(kernel=(2, 3))  # K = 6: at simd C the window's kpar can be 1, 3 or 6, not 2
    f = _apply(g, {"dw": {"pe": 4, "simd": 2}}, tmp_path)
    assert (f.layer("swg").simd, f.layer("swg").kpar) == (1, 1)
    assert interface(f.layer("swg")).out_par != interface(f.layer("dw")).in_par


def test_layers_the_file_does_not_set_keep_their_folding(tmp_path):
    g = _graph().replace_layer("dw", pe=2)  # a window not tied to its unit, set elsewhere
    f = _apply(g, {"pw": {"pe": 5}}, tmp_path)
    assert f.layer("swg").simd == 1 and f.layer("dw").pe == 2 and f.layer("pw").pe == 5
