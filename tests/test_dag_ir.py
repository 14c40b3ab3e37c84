"""The IR as a DAG: Graph.check both ways, wiring queries, JSON and Netron, the simulator of
Fork / AddStreams / Concat against plain numpy."""

import dataclasses
import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from qloom import semantics as sem, sim
from qloom.ir import (AddStreams, BIPOLAR, Concat, Fork, Graph, InputQuant, IntType, MatVec, OutputSpec,
                      SlidingWindow, Threshold)
from qloom.ir import netron, serialize

U4, U2 = IntType(4, False), IntType(2, False)


def _thr(name, shape, dtype, levels, rng, **kw):
    lo, hi = dtype.min, dtype.max
    t = np.sort(rng.integers(lo, hi + 2, size=(shape[2], levels)), axis=1)
    return Threshold(name=name, in_shape=shape, in_dtype=dtype, thresholds=t, **kw)


def _dag(seed=0):
    """in -> fork(3) -> thr -> add(thr, fork) ; concat(add, fork) -> swg -> conv; the fork's
    third reader is the concat, so every branching rule is exercised."""
    rng = np.random.default_rng(seed)
    shape = (5, 5, 3)
    inq = InputQuant(name="in", in_shape=shape, in_dtype=U4, scale=np.array(1 / 16), zero_point=np.array(0.0),
                     out_type=U4)
    fork = Fork(name="fork", in_shape=shape, in_dtype=U4, k=3)
    thr = _thr("thr", shape, U4, 3, rng)  # reads the fork implicitly
    add = AddStreams(name="add", in_shape=shape, in_dtype=U2, in_dtype_b=U4, shift_a=2, shift_b=0,
                     inputs=("thr", "fork"))
    cat = Concat(name="cat", in_shape=shape, in_dtype=add.out_dtype, channels=(3, 3), dtypes=(add.out_dtype, U4),
                 inputs=("add", "fork"))
    swg = SlidingWindow(name="swg", in_shape=cat.out_shape, in_dtype=cat.out_dtype, kernel=(3, 3), pad=(1, 1, 1, 1))
    w = rng.integers(-2, 2, size=(4, swg.out_shape[2]))
    lo, hi = sem.accumulator_range(w, cat.out_dtype.min, cat.out_dtype.max)
    conv = MatVec(name="conv", in_shape=swg.out_shape, in_dtype=swg.out_dtype, weights=w, w_dtype=IntType(2, True),
                  acc_dtype=IntType.for_range(lo, hi))
    n = int(np.prod(conv.out_shape))
    return Graph(name="dag", layers=(inq, fork, thr, add, cat, swg, conv),
                 output=OutputSpec(scale=np.ones(n), bias=np.zeros(n)))


def _numpy(g, x):
    """The DAG computed by hand with numpy, independent of the executor."""
    thr = g.layer("thr")
    q = np.clip(np.round(np.moveaxis(x, 1, -1) * 16), 0, 15).astype(np.int64)
    t = (q[..., None] >= thr.thresholds).sum(-1)
    s = (t << 2) + q
    c = np.concatenate([s, q], axis=-1)
    p = np.pad(c, ((0, 0), (1, 1), (1, 1), (0, 0)))
    win = np.stack([p[:, i:i + 5, j:j + 5, :] for i in range(3) for j in range(3)], axis=3).reshape(len(x), 5, 5, -1)
    return win @ g.layer("conv").weights.T


def test_dag_check_accepts_and_wires():
    g = _dag()
    assert not g.linear
    assert [l.name for l in g.producers("add")] == ["thr", "fork"]
    assert [l.name for l in g.consumers("fork")] == ["thr", "add", "cat"]
    assert g.producers("in") == () and g.consumers("conv") == ()
    assert ("fork", "cat", 1) in g.edges() and ("cat", "swg", 0) in g.edges()
    assert len(g.edges()) == 8
    assert g.layer("add").in_dtypes == (U2, U4) and g.layer("cat").in_shapes == ((5, 5, 3), (5, 5, 3))


def _broken(g, name, **changes):
    return [dataclasses.replace(l, **changes) if l.name == name else l for l in g.layers]


@pytest.mark.parametrize("name, changes, words", [
    ("add", {"inputs": ("thr",)}, "has 2 input ports"),
    ("add", {"inputs": ()}, "names no inputs"),
    ("add", {"inputs": ("thr", "nope")}, "not a layer before it"),
    ("add", {"inputs": ("thr", "cat")}, "not a layer before it"),  # a forward edge (a cycle)
    ("add", {"in_dtype_b": U2}, "port 1 expects UINT2"),
    ("add", {"in_dtype": U4}, "expects UINT4"),
    ("fork", {"k": 2}, "read by 3 layers, expected 2"),
    ("fork", {"k": 4}, "read by 3 layers, expected 4"),
])
def test_dag_check_rejects(name, changes, words):
    g = _dag()
    with pytest.raises(ValueError, match=words):
        g.with_layers(_broken(g, name, **changes))


def test_dag_check_rejects_fanout_without_fork_and_dead_branches():
    g = _dag()
    thr = g.layer("thr")
    # the input stream read by two layers without a fork
    layers = [g.layers[0], dataclasses.replace(thr, inputs=("in",)),
              dataclasses.replace(g.layer("add"), inputs=("thr", "in"))]
    with pytest.raises(ValueError, match="in .InputQuant. is read by 2 layers, expected 1.*needs a Fork"):
        g.with_layers(layers)
    # a dead branch: a layer nobody reads that is not the last
    dead = dataclasses.replace(thr, name="dead", inputs=("fork",))
    layers = [*g.layers[:3], dead, *g.layers[3:]]
    with pytest.raises(ValueError, match="dead .Threshold. is read by 0 layers"):
        g.with_layers([dataclasses.replace(l, k=4) if l.name == "fork" else l for l in layers])
    # the port's shape: a concat of a 2-channel stream where 3 are produced
    with pytest.raises(ValueError, match="cat port 1 expects"):
        g.with_layers(_broken(g, "cat", channels=(3, 2), dtypes=g.layer("cat").dtypes))


def test_layer_checks_of_new_ops():
    with pytest.raises(ValueError, match="k >= 2"):
        Fork(name="f", in_shape=(1, 1, 4), in_dtype=U4, k=1)
    with pytest.raises(ValueError, match="PE=2 must divide every channel count"):
        Concat(name="c", in_shape=(2, 2, 3), in_dtype=U4, channels=(3, 6), dtypes=(U4, U4), pe=2)
    with pytest.raises(ValueError, match="port 0's"):
        Concat(name="c", in_shape=(2, 2, 4), in_dtype=U4, channels=(3, 6), dtypes=(U4, U4))
    with pytest.raises(ValueError, match="shifts"):
        AddStreams(name="a", in_shape=(2, 2, 3), in_dtype=U4, in_dtype_b=U4, shift_a=-1)
    c = Concat(name="c", in_shape=(2, 2, 2), in_dtype=BIPOLAR, channels=(2, 4), dtypes=(BIPOLAR, U2), pe=2)
    assert c.out_shape == (2, 2, 6) and c.out_dtype == IntType(3, True)  # [-1, 3]
    assert Concat(name="c", in_shape=(2, 2, 2), in_dtype=BIPOLAR, channels=(2, 4),
                  dtypes=(BIPOLAR, BIPOLAR)).out_dtype == BIPOLAR


@given(st.sampled_from([BIPOLAR, U2, U4, IntType(3, True), IntType(8, True)]),
       st.sampled_from([BIPOLAR, U2, U4, IntType(3, True), IntType(8, True)]),
       st.integers(0, 5), st.integers(0, 5))
def test_add_streams_type_is_the_sums_range(ta, tb, sa, sb):
    add = AddStreams(name="a", in_shape=(1, 1, 4), in_dtype=ta, in_dtype_b=tb, shift_a=sa, shift_b=sb)
    a = np.array([ta.min, ta.max, ta.min, ta.max])
    b = np.array([tb.min, tb.max, tb.max, tb.min])
    s = sem.add_streams(a, b, sa, sb)
    assert np.array_equal(s, a * 2 ** sa + b * 2 ** sb)
    t = add.out_dtype
    assert t.contains(s) and t == IntType.for_range(int(s.min()), int(s.max()))  # the smallest such type


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 9))
def test_dag_sim_matches_numpy(seed, n):
    g = _dag(seed % 7)
    x = np.random.default_rng(seed).random((n, 3, 5, 5)).astype(np.float32)
    out, trace = sim.execute(g, x, trace=True)
    assert np.array_equal(out, _numpy(g, x))
    assert "swg" not in trace  # fused into the conv, as in a linear graph
    assert np.array_equal(trace["fork"], trace["in"])
    assert np.array_equal(trace["cat"][..., 3:], trace["in"]) and np.array_equal(trace["cat"][..., :3], trace["add"])


def test_dag_sim_start_stop_feeds():
    g = _dag(3)
    x = np.random.default_rng(0).random((6, 3, 5, 5)).astype(np.float32)
    out, trace = sim.execute(g, x, trace=True)
    # from the fork's output onwards: every later reader of the fork gets x
    assert np.array_equal(sim.execute(g, trace["fork"], start=2), out)
    # stop at the add: only its ancestors run
    part, tr = sim.execute(g, x, trace=True, stop=3)
    assert np.array_equal(part, trace["add"]) and "cat" not in tr
    # from the concat on, the fork's stream comes from before `start`: it must be fed
    with pytest.raises(ValueError, match="the stream of fork .before layer 4. is needed"):
        sim.execute(g, trace["add"], start=4)
    assert np.array_equal(sim.execute(g, trace["add"], start=4, feeds={"fork": trace["fork"]}), out)
    # feeds override a computed layer: a changed add changes the output
    fed = sim.execute(g, x, feeds={"add": trace["add"] + 1})
    assert not np.array_equal(fed, out)
    # the chunks of a long batch give the same answer (the feeds are chunked too)
    big = np.repeat(x, 400, axis=0)
    assert sim.chunk_frames(g) < len(big)
    assert np.array_equal(sim.execute(g, big[:, :, :, :], feeds={"add": np.repeat(trace["add"], 400, 0) + 1}),
                          np.repeat(fed, 400, axis=0))


def test_run_layer_of_new_ops():
    a = np.arange(12).reshape(1, 2, 2, 3)
    b = -np.arange(12).reshape(1, 2, 2, 3)
    add = AddStreams(name="a", in_shape=(2, 2, 3), in_dtype=IntType(5, False), in_dtype_b=IntType(5, True),
                     shift_a=1, shift_b=3)
    assert np.array_equal(sim.run_layer(add, a, b), 2 * a + 8 * b)
    cat = Concat(name="c", in_shape=(2, 2, 3), in_dtype=U4, channels=(3, 3), dtypes=(U4, U4))
    assert np.array_equal(sim.run_layer(cat, a, b), np.concatenate([a, b], axis=-1))
    assert np.array_equal(sim.run_layer(Fork(name="f", in_shape=(2, 2, 3), in_dtype=U4, k=2), a), a)


def test_dag_json_round_trip_and_linear_files_unchanged(tmp_path):
    g = _dag(1)
    back = serialize.load(serialize.save(g, tmp_path / "ir.json"))
    assert back.edges() == g.edges()
    assert back.layer("cat").dtypes == g.layer("cat").dtypes and back.layer("add").shift_a == 2
    x = np.random.default_rng(0).random((4, 3, 5, 5)).astype(np.float32)
    assert np.array_equal(sim.execute(back, x), sim.execute(g, x))
    layers = json.loads(serialize.to_json(g))["graph"]["layers"]
    assert [l.get("inputs") for l in layers] == [None, None, None, ["thr", "fork"], ["add", "fork"], None, None]
    # a linear graph writes no `inputs` key: its IR file is byte for byte as before DAGs
    lin = Graph(name="lin", layers=g.layers[:1] + (dataclasses.replace(g.layer("thr"), name="t"),),
                output=OutputSpec(scale=np.ones(75), bias=np.zeros(75)))
    assert lin.linear and '"inputs"' not in serialize.to_json(lin)


def test_netron_draws_the_dag():
    m = netron.to_onnx(_dag())
    nodes = {n.name: n for n in m.graph.node}
    assert list(nodes["add"].input[:2]) == ["thr_out", "fork_out"]
    assert list(nodes["cat"].input[:2]) == ["add_out", "fork_out"]
    assert list(nodes["in"].input)[0] == "input" and list(nodes["thr"].input)[0] == "fork_out"
    attrs = {a.name: a for a in nodes["cat"].attribute}
    assert [s.decode() for s in attrs["dtypes"].strings] == [str(g) for g in _dag().layer("cat").dtypes]
    assert m.graph.output[0].name == "conv_out"
