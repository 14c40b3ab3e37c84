"""One home per hardware fact: the layer interface, the FIFO rule, the RTL queue depths,
and the direction of the imports between the folding and the RTL backend."""

import ast
import re
from pathlib import Path

import numpy as np
from fold_graphs import dense, tiny_cnn

from qloom.backends.rtl.emit import LIB_DIR, QUEUE_DEPTH
from qloom.fold.model import CostModel, cost_model
from qloom.hw import clip_thresholds, fifo_depth, interface, threshold_compare_type
from qloom.ir import IntType, Pool, PoolMode

SRC = Path(__file__).resolve().parents[1] / "src" / "qloom"


def test_pool_cycles_walk_the_virtual_columns_of_right_padding():
    plain = Pool(name="p", in_shape=(6, 6, 4), in_dtype=IntType(4, False), mode=PoolMode.MAX, kernel=(2, 2),
                 stride=(2, 2), pe=2)
    assert interface(plain).cycles == 6 * 6 * 4 // 2 == interface(plain).in_words  # input-bound
    padded = Pool(name="p", in_shape=(5, 5, 4), in_dtype=IntType(4, False), mode=PoolMode.MAX, kernel=(2, 2),
                  stride=(2, 2), pad=(0, 0, 1, 1), pe=2)
    io = interface(padded)
    assert (io.in_words, io.out_words, io.out_block) == (5 * 5 * 2, 3 * 3 * 2, 3 * 2)
    assert io.cycles == max(5 * 6, 6 * 3) * 2 > io.in_words  # one virtual column per row


def test_fifo_depth_is_burst_plus_block_plus_slack():
    mv = dense(mw=8, mh=4, pe=1, simd=2)  # NF = 4 > 1: takes its SF = 4 words back to back
    assert interface(mv).in_burst == 4
    assert fifo_depth(interface(mv), 6) == 4 + 6 + 2
    assert fifo_depth(interface(dense(mw=8, mh=4, pe=4, simd=2))) == 2 + 2  # NF = 1: no burst, at least 2


def test_threshold_compare_type_and_clipping_keep_every_comparison():
    t = IntType(3, False)
    cmp = threshold_compare_type(t)
    assert cmp.signed and cmp.min <= -1 and cmp.max >= t.max + 1
    thr = np.array([[-100, 0, 3, 100]])
    c = clip_thresholds(thr, t.min, t.max)
    assert cmp.contains(c)
    x = np.arange(t.min, t.max + 1)[:, None]
    assert np.array_equal(x >= thr, x >= c)


def test_queue_depths_match_the_rtl_library():
    for module, depth in QUEUE_DEPTH.items():
        text = (LIB_DIR / f"{module}.sv").read_text()
        expr = re.search(r"localparam int QDEPTH = ([^;]+);", text).group(1)
        lat = re.search(r"localparam int LAT = (\d+);", text)
        value = eval(expr, {"LAT": int(lat.group(1)) if lat else None})  # "4" or "LAT + 2"
        assert value == depth, module


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module} | \
           {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}


def test_fold_reads_the_backend_only_through_the_cost_model_interface():
    for path in (SRC / "fold").glob("*.py"):
        assert not any(m.startswith("qloom.backends") for m in _imports(path)), path.name
    for path in (SRC / "backends" / "rtl").glob("*.py"):
        bad = {m for m in _imports(path) if m.startswith("qloom.fold")} - {"qloom.fold.cycles", "qloom.fold.boards"}  # DMA geometry, clock
        assert not bad, (path.name, bad)
    for path in (SRC / "hw").glob("*.py"):
        assert not any(m.startswith(("qloom.fold", "qloom.backends")) for m in _imports(path)), path.name


def test_the_default_cost_model_is_the_rtl_backends_and_a_model_passes_through():
    model = cost_model()
    assert isinstance(model, CostModel) and model.name == "rtl"
    assert cost_model(model) is model
    layer = tiny_cnn().layer("conv")
    assert model.layer(layer)["LUT"] > 0
