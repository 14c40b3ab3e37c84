"""DAG designs: the stitched top (per-edge FIFOs sized from the schedule, fork outputs, joins),
its cycle model, and RTL simulation against the IR simulator under random backpressure: zero
mismatches, the measured II within 2% of the model, and a hang that names its stream."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qloom.backends.rtl.top import generate
from qloom.fold.auto import auto_fold
from qloom.fold.cycles import edge_fifo_depths, edge_fifo_words, edge_fifos, latency_cycles, performance, schedule
from qloom.fold.resources import resources
from qloom.hw import fifo_depth, interface, layer_cycles
from qloom.ir import MemStyle
from qloom.verify import rtl

from dag_rtl_helpers import DAG_GRAPHS, graph_pool_fork, graph_residual, random_dag
from rtl_helpers import GRAPHS


def _frames(graph, n: int, seed: int) -> np.ndarray:
    """Model inputs (N, C, H, W): integers of the first layer's type (the InputQuant scale is 1)."""
    h, w, c = graph.layers[0].in_shape
    t = graph.layers[0].in_dtype
    return np.random.default_rng(seed).integers(t.min, t.max + 1, size=(n, c, h, w)).astype(np.float32)


def _check_passed(entry: dict) -> None:
    assert entry["error"] is None, entry["error"]
    assert entry["mismatches"] == 0 and entry["steady_mismatches"] == 0, entry["first_mismatch"]
    assert entry["protocol_errors"] == 0 and entry["extra_words"] == 0
    assert abs(entry["ii_error"]) <= rtl.II_TOLERANCE, (entry["cycles_per_frame"], entry["cycles_per_frame_model"])
    assert entry["passed"]


# ---------------------------------------------------------------- model and generator (no simulator)


def _plain(producer, consumer) -> int:
    """The FIFO rule without a join: burst + the producer's output block in consumer words."""
    a, b = interface(producer), interface(consumer)
    return fifo_depth(b, -(-a.out_block * a.out_par // b.in_par))


def test_linear_graphs_keep_the_linear_fifo_rule():
    """On a chain every edge holds the linear top's rule in consumer words where no converter
    sits between (a pool row through a 4 -> 2 converter is twice the words); the FIFO itself
    sits on the wide side of a converter (`fifo_par`), in words of that side, and the
    schedule ends at the old latency."""
    narrowed = 0
    for make in GRAPHS.values():
        g = make()
        hw = g.hardware_layers
        fifos = edge_fifos(g)
        for a, b in zip(hw, hw[1:]):
            words = edge_fifo_words(g)[(a.name, b.name, 0)]
            assert words == _plain(a, b)
            old = fifo_depth(interface(b), interface(a).out_block)
            f, (pa, pb) = fifos[(a.name, b.name, 0)], (interface(a).out_par, interface(b).in_par)
            assert (f.par, f.before) == (max(pa, pb), pa > pb)
            assert f.depth * f.par >= words * pb and f.depth == edge_fifo_depths(g)[(a.name, b.name, 0)]
            if pa > pb:
                narrowed += words > old
            else:  # same width: the same; widening: a pool row is fewer consumer words
                assert words == old if pa == pb else words <= old
        assert latency_cycles(g) == int(np.ceil(schedule(g)[hw[-1].name][1])) + 1
    assert narrowed


def test_fifo_sits_in_front_of_a_narrowing_converter(tmp_path):
    """pool (PE 4) -> fork (PE 1): the FIFO holds the pool's 4-element words and the converter
    reads it (pool_m -> FIFO -> fork_q -> converter -> fork_s); behind a widening converter
    it stays behind; design.json and the cost model say the same."""
    g = graph_pool_fork()
    design = generate(g, tmp_path)
    top = (tmp_path / "qloom_top.sv").read_text()
    def block(name):  # the text of one instance, its parameters included
        at = top.index(f" {name} (")
        return top[top.rindex("  qloom_", 0, at):top.index(");", at)]

    assert ".WIDTH(8)" in block("u_fork_fifo") and ".s_tdata(pool_m_tdata)" in block("u_fork_fifo")
    assert ".m_tdata(fork_q_tdata)" in block("u_fork_fifo")
    assert ".s_tdata(fork_q_tdata)" in block("u_fork_dwc") and ".m_tdata(fork_s_tdata)" in block("u_fork_dwc")
    edge = next(i for i in design["layers"] if i["name"] == "fork")["inputs"][0]
    assert edge["fifo"] == {"par": 4, "before_dwc": True, "mem_style": "distributed"}
    assert edge["dwc"] == {"in": 4, "out": 1}
    c = DAG_GRAPHS["concat3"]()
    f = edge_fifos(c)[("split", "thr_a", 0)]
    assert (f.par, f.before) == (6, False)
    est = resources(g)["streams"]["fork"]
    from qloom.backends.rtl.cost import dwc_resources, fifo_resources
    want = fifo_resources(g.layer("fork"), depth=edge["fifo_depth"], par=4)["LUT"] + dwc_resources(4, 1, 2)["LUT"]
    assert est["LUT"] == round(want)


def test_skip_fifo_holds_what_the_long_branch_needs_first():
    """The conv branch's window starts after a whole frame (qloom_swg double-buffers), so the
    skip path must hold a frame of the fork's words; the long branch's own port gets the plain rule."""
    g = graph_residual(seed=3, pe=4, skew_heavy=True)
    d = edge_fifo_depths(g)
    fork, add, conv = g.layer("fork"), g.layer("add"), g.layer("conv")
    assert d[("fork", "add", 0)] >= interface(fork).out_words
    assert d[("conv", "add", 1)] == fifo_depth(interface(add), interface(conv).out_block)
    times = schedule(g)
    assert times["add"][0] > times["conv"][0] > times["fork"][0]  # the join waits for its slow port
    assert latency_cycles(g) > latency_cycles(graph_residual(seed=3, pe=4)) - 1  # a larger frame, a longer path


def test_ii_is_the_slowest_layer_of_any_branch():
    for make in DAG_GRAPHS.values():
        g = make()
        p = performance(g, 100.0)
        assert p["cycles_per_frame"] == max(max(layer_cycles(l) for l in g.hardware_layers),
                                            *p["dma_words_per_frame"].values())


@pytest.mark.hw
@pytest.mark.parametrize("name", sorted(DAG_GRAPHS))
def test_dag_top_lints_clean_and_records_every_edge(name, tmp_path):
    g = DAG_GRAPHS[name]()
    design = generate(g, tmp_path)
    assert rtl.lint(tmp_path) == []
    depths = edge_fifo_depths(g)
    seen = set()
    for info in design["layers"]:
        for e in info["inputs"]:
            key = (e["from"], info["name"], e["port"])
            assert e["fifo_depth"] == depths[key]
            seen.add(key)
    assert seen == set(depths)
    forks = [i for i in design["layers"] if i["kind"] == "Fork"]
    assert forks and all(i["outputs"] == g.layer(i["name"]).k for i in forks)
    streams = resources(g)["streams"]  # the cost model counts a FIFO on every edge, per consumer
    assert set(streams) == {c for _, c, _ in depths}


def test_deep_skip_fifo_goes_to_block_ram(tmp_path):
    """A frame-deep, 16-bit skip FIFO is block RAM (resolved once, fold.memstyle): STYLE 1 in
    the top, "block" in design.json, its RAMB18s in the estimate; the short FIFOs stay
    LUTRAM. Overridden to a few words, it is LUTRAM again."""
    from qloom.backends.rtl.cost import bram18_count

    g = DAG_GRAPHS["residual_deep"]()
    fifos = edge_fifos(g)
    skip = fifos[("fork", "add", 0)]
    assert skip.style is MemStyle.BLOCK and skip.depth > 500
    assert all(f.style is MemStyle.DISTRIBUTED for k, f in fifos.items() if k != ("fork", "add", 0))
    design = generate(g, tmp_path)
    top = (tmp_path / "qloom_top.sv").read_text()
    at = top.index(" u_add_fifo0 (")
    assert ".STYLE(1)" in top[top.rindex("  qloom_fifo", 0, at):at]
    edge = next(i for i in design["layers"] if i["name"] == "add")["inputs"][0]
    assert edge["fifo"]["mem_style"] == "block" and edge["fifo_depth"] == skip.depth
    est = resources(g)
    assert est["streams"]["add"]["BRAM18"] == bram18_count(skip.depth, 16, ram=True) >= 1
    small = generate(g, tmp_path / "small", fifo_depths={"add:0": 8})
    assert next(i for i in small["layers"] if i["name"] == "add")["inputs"][0]["fifo"]["mem_style"] == "distributed"


def test_dag_fifo_depths_override_names_edges(tmp_path):
    g = graph_residual()
    design = generate(g, tmp_path, fifo_depths={"add:0": 7, "thr1": 3})
    add = next(i for i in design["layers"] if i["name"] == "add")
    assert [e["fifo_depth"] for e in add["inputs"]] == [7, edge_fifo_depths(g)[("conv", "add", 1)]]
    with pytest.raises(ValueError, match="add:5"):
        generate(g, tmp_path, fifo_depths={"add:5": 7})
    with pytest.raises(ValueError, match="dict"):
        generate(g, tmp_path, fifo_depths=[4] * 5)


# ---------------------------------------------------------------- RTL simulation (Verilator builds)


@pytest.mark.hw
@pytest.mark.parametrize("name", ["residual", "pool_fork", "residual_deep",
                                  pytest.param("concat3", marks=pytest.mark.slow)])
def test_dag_rtl_matches_ir_at_the_model_ii(name, tmp_path):
    """pool_fork: the FIFO in front of the pool's narrowing converter; residual_deep: its skip
    FIFO in block RAM (3 clocks through it, the schedule unchanged)."""
    g = DAG_GRAPHS[name]()
    generate(g, tmp_path)
    entry = rtl.verify_rtl(g, tmp_path, _frames(g, 10, 1), seed=4, stall_prob=0.4)
    _check_passed(entry)
    assert entry["latency_cycles"] >= entry["cycles_per_frame_model"]


@pytest.mark.hw
def test_undersized_skip_fifo_hangs_and_the_watchdog_names_the_streams(tmp_path):
    """8 words on the skip path while the conv branch needs the whole frame (16 words) in
    first: the fork fills it, stops, and starves the branch. The bench stops and names the
    blocked streams (the fork's skip output, the add's skip port) and the starved ones."""
    g = graph_residual()
    generate(g, tmp_path, fifo_depths={"add:0": 8})
    entry = rtl.verify_rtl(g, tmp_path, _frames(g, 4, 2), seed=1)
    assert not entry["passed"]
    err = entry["error"]
    blocked, waiting = err.split("stalled streams (valid, not ready): ")[1].split("; waiting for data: ")
    assert "fork_m1" in blocked and "add_s0" in blocked, err
    assert "add_s1" in waiting and "conv_m" in waiting, err


@pytest.mark.hw
@pytest.mark.slow
@pytest.mark.parametrize("name,fold", [("residual_heavy", None), ("concat3", {"board": "xc7z020"}),
                                       ("residual", {"board": "xc7z020"}),
                                       ("residual_heavy", {"target_fps": 2e5})])
def test_folded_dag_rtl_matches_ir(name, fold, tmp_path):
    g = DAG_GRAPHS[name]()
    if fold:
        g = auto_fold(g, **fold)
    generate(g, tmp_path)
    _check_passed(rtl.verify_rtl(g, tmp_path, _frames(g, 10, 3), seed=6, stall_prob=0.4))


@pytest.mark.hw
@pytest.mark.slow
@settings(max_examples=6, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6))
def test_random_dags_match_ir_in_rtl(seed, tmp_path_factory):
    """Random residual/concat/fork networks (mixed widths, foldings, shifts) through Verilator;
    every other one folded for a board (fast forks, bursty branches: the skip FIFOs' test)."""
    g = random_dag(seed)
    if seed % 2:
        g = auto_fold(g, board="xc7z020")
    d = tmp_path_factory.mktemp(f"dag{seed}")
    generate(g, d)
    _check_passed(rtl.verify_rtl(g, d, _frames(g, 6, seed), seed=seed % 1000, stall_prob=0.4))


@settings(max_examples=100, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10**6))
def test_random_dag_models_are_consistent(seed):
    """For random DAGs: every edge has a FIFO of at least the plain rule (in elements: a FIFO
    in front of a narrowing converter counts producer words), a join's ports never start
    before their producers, and the II is the slowest layer."""
    g = random_dag(seed)
    d, times = edge_fifos(g), schedule(g)
    assert set(d) == {e for e in g.edges() if e[0] in times}
    for (p, c, _), f in d.items():
        assert f.depth * f.par >= _plain(g.layer(p), g.layer(c)) * interface(g.layer(c)).in_par
        assert times[c][0] > times[p][0] and times[c][1] >= times[p][1]
    assert performance(g, 100.0)["cycles_per_frame"] >= max(layer_cycles(l) for l in g.hardware_layers)


# ---------------------------------------------------------------- Brevitas modules, lowered (s4-dag-ir)


def _brevitas_graph(kind: str, tmp_path, fold: dict | None):
    pytest.importorskip("brevitas")
    from qloom import streamline

    from test_dag_lowering import ConcatForkBlock, ResidualBlock, _export

    module = ResidualBlock(bits=2, skip_bits=4, shortcut=True) if kind == "residual" else ConcatForkBlock()
    g = streamline.run(_export(module, tmp_path / f"{kind}.onnx"))
    return auto_fold(g, **fold) if fold else g


@pytest.mark.hw
@pytest.mark.parametrize("kind,fold", [
    ("residual", {"board": "xc7z020"}),  # conv-bn-relu-conv + a 1x1 conv shortcut, add, requant
    ("concat", {"target_fps": 3e5}),  # one map read by a 1x1 conv, a 3x3 conv and the concat itself
    pytest.param("residual", None, marks=pytest.mark.slow),
    pytest.param("concat", None, marks=pytest.mark.slow),  # a 1x1 port waits a frame for the 3x3 one
])
def test_lowered_brevitas_blocks_match_in_rtl(kind, fold, tmp_path):
    """export_qonnx -> lowering -> folding -> RTL: the whole flow on real residual and
    concat-with-fork blocks, the RTL equal to the IR (which equals QONNX: test_dag_lowering)."""
    from dag_factory import inputs

    g = _brevitas_graph(kind, tmp_path, fold)
    assert not g.linear
    d = tmp_path / "rtl"
    generate(g, d)
    _check_passed(rtl.verify_rtl(g, d, inputs((1, 3, 6, 6), 12, seed=1), seed=2, stall_prob=0.4))


def test_core_queue_words_come_from_the_backend():
    """The words a core holds beyond the schedule (the MVTU's 3 issue stages + its 5-word
    queue) have one home, the backend's QUEUE_DEPTH, read through the cost model: fold/ keeps
    no copy, and a backend whose cores hold more gets deeper skip FIFOs."""
    import inspect

    from qloom.backends.rtl.cost import RtlCostModel
    from qloom.backends.rtl.emit import QUEUE_DEPTH, held_words
    from qloom.fold import cycles
    from qloom.fold.model import METHODS

    assert "CORE_QUEUE_WORDS" not in inspect.getsource(cycles)
    g = graph_residual()
    model = RtlCostModel()
    assert model.queue_words(g.layer("conv")) == held_words() == 2 * QUEUE_DEPTH["qloom_mvtu"] - 2 == 8

    class Deeper:  # the RTL model, but every core holds 40 words
        name = "deeper"

        def __getattr__(self, m):
            return getattr(model, m)

        def queue_words(self, layer):
            return 40

    for m in METHODS:
        setattr(Deeper, m, getattr(Deeper, m, None) or (lambda self, *a, _m=m, **k: getattr(model, _m)(*a, **k)))
    skip = ("fork", "add", 0)
    assert edge_fifo_words(g, Deeper())[skip] > edge_fifo_words(g, model)[skip] == edge_fifo_words(g)[skip]
