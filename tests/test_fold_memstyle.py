"""The memory style is resolved once, in folding: the folded IR says what the RTL builds."""

from fold_graphs import dense, zoo

from qloom.backends.rtl import layers as rtl_layers
from qloom.backends.rtl.layers import MEM_STYLE_CODE
from qloom.fold import report, resolve_mem_styles, set_folding
from qloom.ir import Graph, IntType, MemStyle, OutputSpec


def _one(layer) -> Graph:
    return Graph(name="one", layers=(layer,), output=OutputSpec(scale=None, bias=None))


def test_auto_becomes_what_is_built_and_the_rtl_is_unchanged():
    g = zoo("tfc_w1a1")  # fc0: 64 x 784 bipolar weights unfolded, a block RAM ROM under "auto"
    fc0 = g.layer("fc0")
    assert fc0.mem_style is MemStyle.AUTO
    r = resolve_mem_styles(g)
    assert r.layer("fc0").mem_style is MemStyle.BLOCK
    assert all(getattr(l, "mem_style", None) is not MemStyle.AUTO for l in r.layers)
    before, after = rtl_layers.emit(fc0, "x"), rtl_layers.emit(r.layer("fc0"), "x")
    assert before.params == after.params and before.params["W_STYLE"] == MEM_STYLE_CODE[MemStyle.BLOCK]
    assert report(r, 100.0) == report(g, 100.0)


def test_an_explicit_style_is_kept_and_small_memories_resolve_to_luts():
    l = dense(mw=8, mh=4, pe=1, simd=2, w=IntType(2, True), a=IntType(2, False))
    g = set_folding(_one(l), "fc", mem_style="block")
    assert resolve_mem_styles(g).layer("fc").mem_style is MemStyle.BLOCK
    assert resolve_mem_styles(_one(l)).layer("fc").mem_style is MemStyle.DISTRIBUTED
