"""bench/bench_cnv_zybo.py's frame ranges: how a run is split into shards and how shards combine."""

from __future__ import annotations

import importlib.util
import sys
from itertools import pairwise
from pathlib import Path

import pytest

from qloom.errors import QloomError

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_cnv_zybo.py"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCH.parent))
    try:
        spec = importlib.util.spec_from_file_location("bench_cnv_zybo", BENCH)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path.remove(str(BENCH.parent))


def shard(a, b, *, ii=100.0, bad=0, correct=None, cycles=1000, seconds=2.0):
    r = {"range": [a, b], "frames": b - a, "seed": 1 + a, "mismatches": bad, "steady_mismatches": 0,
         "protocol_errors": 0, "tlast_errors": 0, "extra_words": 0, "ii": ii, "ii_model": 100,
         "ii_error": (ii - 100) / 100, "sim_cycles": cycles, "sim_seconds": seconds, "seconds": 3}
    if correct is not None:
        r["rtl_correct"] = r["ir_correct"] = correct
    return r


def test_shard_bounds_cover_every_frame_once(bench):
    for n, k in ((10_000, 10), (10, 3), (7, 7), (5, 9), (1, 1)):
        b = bench.shard_bounds(n, k)
        assert b[0][0] == 0 and b[-1][1] == n
        assert all(p[1] == q[0] for p, q in pairwise(b))
        assert all(hi > lo for lo, hi in b)
        assert max(hi - lo for lo, hi in b) - min(hi - lo for lo, hi in b) <= 1
    assert bench.shard_bounds(10, 1) == [(0, 10)]


def test_combine_sums_counts_and_keeps_the_worst_ii(bench):
    c = bench.combine_shards([shard(50, 100, ii=101.5, bad=2, correct=40), shard(0, 50, ii=100.0, correct=45)])
    assert c["frames"] == 100 and c["mismatches"] == 2 and c["sim_cycles"] == 2000
    assert c["ranges"] == [[0, 100]]
    assert c["ii"] == 101.5 and c["ii_worst_range"] == [50, 100] and c["ii_per_shard"] == [100.0, 101.5]
    assert c["rtl_accuracy"] == pytest.approx(0.85) and c["sim_cycles_per_s"] == pytest.approx(500)
    assert c["ii_within_tolerance_every_shard"] and not bench.rtl_ok(c)  # 2 mismatching frames
    assert bench.rtl_ok(bench.combine_shards([shard(0, 50), shard(50, 100, ii=101.9)]))
    assert not bench.rtl_ok(bench.combine_shards([shard(0, 50), shard(50, 100, ii=102.5)]))


def test_combine_reports_gaps_and_refuses_overlaps(bench):
    c = bench.combine_shards([shard(0, 10), shard(20, 30)])
    assert c["ranges"] == [[0, 10], [20, 30]] and c["frames"] == 20
    with pytest.raises(QloomError, match="overlap"):
        bench.combine_shards([shard(0, 10), shard(5, 15)])


def test_yosys_counts_split_core_stream_and_glue(bench):
    def cell(layer, part, lut, bram=0, module="m"):
        return {"module": module, "slice_LUT": lut, "BRAM18": bram, **({"layer": layer, "part": part} if layer else {})}

    syn = {"total": {"slice_LUT": 1100, "FF": 7, "BRAM18": 3, "DSP": 0},
           "layers": {"u_mvu4": cell("mvu4", "core", 600, 2), "u_mvu4_fifo": cell("mvu4", "fifo", 400, 1),
                      "u_mvu4_dwc": cell("mvu4", "dwc", 7), "u_tlast": cell(None, None, 49, module="qloom_tlast")},
           "top_glue": {"slice_LUT": 44, "BRAM18": 0}}
    y = bench.yosys_counts(syn)
    assert y["per_layer"] == {"mvu4": {"LUT": 600, "BRAM18": 2}}  # the core alone, as fold.report's layers
    assert y["per_stream"] == {"mvu4": {"LUT": 407, "BRAM18": 1}}  # FIFO + width converter, as its streams
    assert y["glue"]["LUT"] == 93 and "u_tlast (qloom_tlast)" in y["glue"]["parts"]
    assert 600 + 407 + 93 == y["LUT"]
