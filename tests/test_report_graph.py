"""The report's hardware-graph section: a linear build (a real folder through the rtl stage,
its FIFO depths from rtl/design.json) and a residual/concat DAG built from IR ops (edges,
rows, skip paths beside the branch, per-port FIFO depths in rtl/design.json's DAG form), and
the DAG page in headless Chromium with the drawing visible in the screenshot's pixels."""

from __future__ import annotations

import json
import re
from itertools import pairwise

import numpy as np
import pytest
from dag_factory import dag_models
from hypothesis import HealthCheck, given, settings

from qloom import artifacts as A
from qloom.ir import (
    AddStreams,
    Concat,
    Fork,
    Graph,
    InputQuant,
    IntType,
    OutputSpec,
    Threshold,
    serialize,
)
from qloom.report import REPORT_HTML
from qloom.report import graph as hwgraph
from qloom.report.collect import Build, collect
from qloom.report.page import render

U4 = IntType(4, False)


def _section(page: str, sid: str = "graph") -> str:
    start = page.index(f"<section id={sid}>")
    return page[start:page.index("</section>", start)]


def _residual() -> Graph:
    """in -> fork(3) -> thr -> add(thr, fork) -> cat(add, fork): a skip path past one layer
    into an add, and a second one past two layers into a concat."""
    rng = np.random.default_rng(0)
    shape = (4, 4, 3)
    inq = InputQuant(name="in", in_shape=shape, in_dtype=U4, scale=np.array(1 / 16), zero_point=np.array(0.0),
                     out_type=U4)
    fork = Fork(name="fork", in_shape=shape, in_dtype=U4, k=3)
    thr = Threshold(name="thr", in_shape=shape, in_dtype=U4, thresholds=np.sort(rng.integers(0, 16, (3, 3)), axis=1))
    add = AddStreams(name="add", in_shape=shape, in_dtype=thr.out_dtype, in_dtype_b=U4, shift_a=2,
                     inputs=("thr", "fork"))
    cat = Concat(name="cat", in_shape=shape, in_dtype=add.out_dtype, channels=(3, 3), dtypes=(add.out_dtype, U4),
                 inputs=("add", "fork"))
    n = int(np.prod(cat.out_shape))
    return Graph(name="residual", layers=(inq, fork, thr, add, cat), output=OutputSpec(scale=np.ones(n),
                                                                                        bias=np.zeros(n)))


REPORT = {"layers": [{"name": "in", "kind": "InputQuant", "hardware": False, "cycles": 0},
                     {"name": "fork", "kind": "Fork", "cycles": 48}, {"name": "thr", "kind": "Threshold", "cycles": 48},
                     {"name": "add", "kind": "AddStreams", "cycles": 48}, {"name": "cat", "kind": "Concat", "cycles": 96}],
          "cycles_per_frame": 96, "bottleneck": "cat", "latency_cycles": 300, "clock_mhz": 100.0}
DESIGN = {"layers": [  # the DAG form of rtl/design.json (backends/rtl/top.py on the DAG branch)
    {"name": "fork", "fifo_depth": 0, "inputs": []},
    {"name": "thr", "fifo_depth": 4, "inputs": [{"from": "fork", "port": 0, "fifo_depth": 4, "dwc": None}]},
    {"name": "add", "fifo_depth": 4, "inputs": [{"from": "thr", "port": 0, "fifo_depth": 4, "dwc": None},
                                                {"from": "fork", "port": 1, "fifo_depth": 37, "dwc": None}]},
    {"name": "cat", "fifo_depth": 5, "inputs": [{"from": "add", "port": 0, "fifo_depth": 5, "dwc": {"in": 1, "out": 3}},
                                                {"from": "fork", "port": 1, "fifo_depth": 61, "dwc": None}]}]}


def test_a_dag_is_drawn_in_rows_with_skip_paths_beside_the_branch_and_per_port_fifo_depths(tmp_path):
    g = _residual()
    nodes, edges = hwgraph.hardware_graph(g, REPORT, DESIGN)
    assert [n.name for n in nodes] == [hwgraph.IN, "fork", "thr", "add", "cat", hwgraph.OUT]
    assert [n.name for n in nodes if n.hot] == ["cat"]
    fifo = {(e.src, e.dst, e.port): e.fifo for e in edges}
    assert fifo == {(hwgraph.IN, "fork", 0): None, ("fork", "thr", 0): 4, ("thr", "add", 0): 4,
                    ("fork", "add", 1): 37, ("add", "cat", 0): 5, ("fork", "cat", 1): 61, ("cat", hwgraph.OUT, 0): None}
    depth, rows = hwgraph._layout(nodes, edges)
    assert [depth[n] for n in ("fork", "thr", "add", "cat")] == [1, 2, 3, 4]  # longest path from the input
    skips = {(e.src, e.dst): [r for r, row in enumerate(rows) if any(s is e for s in row)] for e in edges}
    assert skips[("fork", "add")] == [2] and skips[("fork", "cat")] == [2, 3]  # a gap in every row crossed
    assert all(skips[(e.src, e.dst)] == [] for e in edges if depth[e.dst] == depth[e.src] + 1)

    page = render(Build(dir=tmp_path, report=REPORT, design=DESIGN, graph=g))
    sec = _section(page)
    svg = sec[sec.index("<svg"):sec.index("</svg>")]
    for name, kind in (("fork", "Fork"), ("thr", "Threshold"), ("add", "AddStreams"), ("cat", "Concat")):
        assert f">{name}</text>" in svg and f">{kind}  PE 1</text>" in svg
    assert ">96 cycles (bottleneck)</text>" in svg and f"stroke='{hwgraph.BOTTLENECK}'" in svg
    assert svg.count("marker-end") == len(edges)  # one arrow per stream
    for label in (">FIFO 4</text>", ">p1 FIFO 37</text>", ">p0 FIFO 5</text>", ">p1 FIFO 61</text>"):
        assert label in svg
    assert "FIFO depth (words)" in sec and "1 &rarr; 3" in sec  # the table: every stream, the converter
    assert "set by <b class=bad>cat</b>" in sec and "rtl/design.json" in sec

    bare = _section(render(Build(dir=tmp_path, report=REPORT, graph=g)))  # before the rtl stage: no depths
    assert "FIFO " not in bare[bare.index("<svg"):bare.index("</svg>")] and "No FIFO depths yet" in bare


def test_a_linear_build_draws_a_chain_with_the_depths_its_rtl_built(tmp_path):
    from cli_helpers import run_cli, small_model

    out = tmp_path / "b"
    rc, _, err = run_cli(["build", small_model(tmp_path / "m.onnx"), "--out", out, "--stop-after", "rtl"])
    assert rc == 0, err
    b = collect(out)
    assert b.graph is not None and b.graph.linear and b.design
    nodes, edges = hwgraph.hardware_graph(b.graph, b.report, b.design)
    hw = [l.name for l in b.graph.hardware_layers]
    assert [n.name for n in nodes] == [hwgraph.IN, *hw, hwgraph.OUT]
    assert [(e.src, e.dst) for e in edges] == list(zip([hwgraph.IN, *hw], [*hw, hwgraph.OUT]))
    built = {l["name"]: l["fifo_depth"] for l in b.design["layers"]}
    for e in edges[1:-1]:  # between two layers: the FIFO top.py put in front of the consumer
        assert e.fifo == built[e.dst] > 0
    _, rows = hwgraph._layout(nodes, edges)
    assert all(len(r) == 1 for r in rows)  # a chain is a column
    page = (out / REPORT_HTML).read_text()
    sec = _section(page)
    assert all(f">{n}</text>" in sec for n in hw) and f">FIFO {built[hw[1]]:,}</text>" in sec
    assert f">{b.report['cycles_per_frame']:,} cycles (bottleneck)</text>" in sec
    arts = _section(page, "artifacts")
    assert f">{A.ESTIMATE_JSON}</a>" in arts and "rtl/design.json" in arts


def test_a_damaged_folded_ir_is_named_and_the_section_says_what_to_do(tmp_path):
    A.write_json(tmp_path / A.BUILD_JSON, {"stages": {}})
    (tmp_path / A.FOLDED_JSON).write_text("{not json")
    A.write_json(tmp_path / A.REPORT_JSON, REPORT)
    b = collect(tmp_path)
    assert b.graph is None and any(A.FOLDED_JSON in p and "hardware graph is left out" in p for p in b.problems)
    assert "build through 'fold'" in _section(render(b))
    serialize.save(_residual(), tmp_path / A.FOLDED_JSON)
    assert collect(tmp_path).graph.layer("cat").inputs == ("add", "fork")


def test_the_dag_page_in_chromium_shows_its_graph(tmp_path):
    from test_report_html import _browse, pixels

    d = tmp_path / "b"
    d.mkdir()
    A.write_json(d / A.BUILD_JSON, {"stages": {"fold": {}}, "complete": True})
    A.write_json(d / A.REPORT_JSON, REPORT)
    (d / A.RTL_DIR).mkdir()
    (d / A.RTL_DIR / "design.json").write_text(json.dumps(DESIGN))
    serialize.save(_residual(), d / A.FOLDED_JSON)
    from qloom.report import write_report

    shot = tmp_path / "shot.png"
    dom, log = _browse(write_report(d), tmp_path, shot)
    assert [line for line in log.splitlines() if ":CONSOLE" in line] == []
    assert re.search(r"<section id=\"?graph\"?>", dom) and "p1 FIFO 61" in dom
    count = pixels(shot)
    assert count(hwgraph.BOX_FILL, 4) > 3 * 8000 and count(hwgraph.HOT_FILL, 4) > 8000  # 3 boxes, the bottleneck's


@pytest.mark.parametrize("k", [2, 5])
def test_fork_arrows_leave_in_their_targets_order(k, tmp_path):
    """A wide fork (k readers side by side) keeps its arrows uncrossed and every box apart."""
    nodes = [hwgraph.Node(hwgraph.IN), hwgraph.Node("f", "Fork")] + [hwgraph.Node(f"b{i}", "Threshold")
                                                                     for i in range(k)]
    edges = [hwgraph.Edge(hwgraph.IN, "f")] + [hwgraph.Edge("f", f"b{i}") for i in range(k)]
    _, rows = hwgraph._layout(nodes, edges)
    assert rows[2] == [f"b{i}" for i in range(k)]
    svg = hwgraph.svg(nodes, edges, 10)
    xs = [float(x) for x in re.findall(r"<rect x='([\d.]+)' y='\d+' width='184'", svg)]
    assert len(xs) == k + 1 and all(b - a >= hwgraph.W for a, b in zip(sorted(xs[1:]), sorted(xs[1:])[1:]))


@settings(max_examples=15, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(m=dag_models(max_steps=6, max_hw=4))
def test_random_lowered_dags_draw_every_layer_and_stream_downwards_without_overlap(m, tmp_path):
    import onnx

    from qloom import streamline

    model, _, _ = m
    onnx.save(model, tmp_path / "dag.onnx")
    g = streamline.run(tmp_path / "dag.onnx")
    rep = {"layers": [{"name": l.name, "cycles": 7} for l in g.layers], "cycles_per_frame": 7,
           "bottleneck": g.hardware_layers[0].name}
    nodes, edges = hwgraph.hardware_graph(g, rep, {})
    hw = {l.name for l in g.hardware_layers}
    assert {(e.src, e.dst, e.port) for e in edges if e.src in hw and e.dst in hw} == {
        t for t in g.edges() if t[0] in hw and t[1] in hw}
    depth, rows = hwgraph._layout(nodes, edges)
    for e in edges:
        assert depth[e.dst] > depth[e.src]
        assert [r for r, row in enumerate(rows) if any(s is e for s in row)] == list(range(depth[e.src] + 1,
                                                                                           depth[e.dst]))
    svg = hwgraph.svg(nodes, edges, 7)
    assert svg.count("marker-end") == len(edges)
    boxes = [(float(x), int(y)) for x, y in re.findall(rf"<rect x='([\d.]+)' y='(\d+)' width='{hwgraph.W}'", svg)]
    assert len(boxes) == len(hw)
    for y in {y for _, y in boxes}:
        xs = sorted(x for x, yy in boxes if yy == y)
        assert all(b - a >= hwgraph.W + hwgraph.GAP_X for a, b in pairwise(xs))
