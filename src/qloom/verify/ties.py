"""Reference ties: thresholds an exact integer accumulator can hit while the reference's float
path to them rounds, so that a float framework may land on the other side.

Example: sign(acc) after an even fan-in of bipolar products. acc = 0 is reachable and maps to
+1, but the reference computes the dot product with float scales in float32 and may get
-1e-9, hence -1. qloom's answer is the exact one; a user comparing with the float model should
know beforehand. A threshold t (on the accumulator a, per channel c) is a tie when a = t or
a = t - 1 is reachable (within the exact accumulator range and congruence of the weights)
and the reference's own ops, run on its pre-activation sigma_c * a + b_c moved by the worst-
case float32 error bound (`qloom.verify.rounding`), give two different levels.

sigma_c and b_c (the float image of one accumulator step, the bias) are fitted on a seeded
batch of random inputs; the bound is the worst case over all inputs of the layer's input type.
A channel whose accumulator is 0 on the whole batch has no sigma to fit; its threshold at 0 is
checked on the bias with the reference's own bound on that batch (reported with step 0).

A DepthwiseMatVec is treated as a MatVec: its weights (C, K) are rows of one output channel
each (fan-in K, the kernel positions) and its reference site is the grouped Conv, so the same
accumulator ranges, congruences and float32 bound apply (`DOT_LAYERS`, `_rows`).
"""

from __future__ import annotations

import dataclasses
from math import gcd
from pathlib import Path

import numpy as np

from qloom import sim
from qloom.ir import DepthwiseMatVec, Graph, MatVec
from qloom.semantics import accumulator_bounds_per_row
from qloom.verify.inputs import random_inputs
from qloom.verify.rounding import DOT, EXTRA_ROUNDINGS, gamma


DOT_LAYERS = (MatVec, DepthwiseMatVec)  # layers whose accumulator is a dot product of weight rows


def _rows(layer) -> tuple[int, int]:
    """(output channels, fan-in per channel) of a dot-product layer: MatVec (MH, MW), a
    depthwise unit (C, K)."""
    return (layer.mh, layer.mw) if isinstance(layer, MatVec) else (layer.channels, layer.k)


def _accumulators(graph: Graph, j: int, start_frames: np.ndarray, start: int, feeds=None) -> np.ndarray:
    """Dot-product layer j's accumulators (N, H, W, MH or C), running the graph from layer `start` (a DAG's
    branches from before `start` read their streams from `feeds`, name -> frames)."""
    layer = graph.layers[j]
    bare = dataclasses.replace(layer, thresholds=None, ref=None)
    if graph.linear:
        g = graph.with_layers(graph.layers[:j] + (bare,))
        return sim.execute(g, start_frames, start=start)
    # a DAG's prefix is no graph (its forks lack readers): run to the MatVec's input, then it
    i = [l.name for l in graph.layers].index(graph.input_names(layer.name)[0])
    x = sim.execute(graph, start_frames, start=start, stop=i, feeds=feeds)
    return sim.run_layer(bare, x.reshape((len(x),) + tuple(bare.in_shape)))


def _to_stream(layer, y: np.ndarray) -> np.ndarray:
    """Reference tensor in the layout of `layer.ref` -> (N, positions) in stream order."""
    n = y.shape[0]
    flat = np.zeros((n, layer.ref.index.size))
    flat[:, layer.ref.index.reshape(-1)] = y.reshape(n, -1)
    return flat


def dot_site(g, layer):
    """The reference site of a MatVec or DepthwiseMatVec with thresholds when it is a plain dot product followed by
    elementwise ops (the source tensor then has the quantizer's layout), else None."""
    if not (isinstance(layer, DOT_LAYERS) and layer.thresholds is not None and layer.ref is not None):
        return None
    site = g.site(layer.ref.tensor)
    if site.source_node is None or site.source_node.op_type not in DOT or \
            any(n.op_type in ("Reshape", "Flatten", "Transpose") for n in site.chain):
        return None
    return site


def fit(g, layer, site, acc: np.ndarray, y_ref: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per channel, the float image of one accumulator step (sigma) and the bias b, so that the
    reference's source value is sigma * acc + b (least squares over the batch; b is the node's
    bias input). Returns (a, y, sigma, b) with a and y as (positions, MH or C)."""
    mh, _ = _rows(layer)
    a = acc.reshape(-1, mh).astype(np.float64)
    y = _to_stream(layer, y_ref).reshape(-1, mh)
    node = site.source_node
    b = np.zeros(mh)
    if len(node.input) > 2 and node.input[2]:
        b = np.broadcast_to(np.asarray(g.constants[node.input[2]], np.float64).reshape(-1), (mh,)).copy()
    den = (a * a).sum(axis=0)
    sigma = np.where(den > 0, (a * (y - b)).sum(axis=0) / np.where(den > 0, den, 1), 0.0)
    return a, y, sigma, b


def accumulator_off(g, graph: Graph, j: int, site, r: dict, start_frames, start: int, e, feeds=None) -> np.ndarray:
    """Elements (reference layout) where the IR's accumulator is not the one the reference's
    pre-activation points to: |sigma * acc + b - y| above its bound (or half a step). A quantizer
    output can match either side of a boundary within E of the reference's value; the
    accumulator cannot be a whole step away from it."""
    layer = graph.layers[j]
    acc = _accumulators(graph, j, start_frames, start, feeds)
    a, y, sigma, b = fit(g, layer, site, acc, r[site.source])
    e_stream = _to_stream(layer, np.broadcast_to(e, r[site.source].shape)).reshape(a.shape)
    # the fitted sigma is off by at most max(E) * sum|a| / sum a^2 (least squares on y = sigma a + b + err)
    den = np.maximum((a * a).sum(axis=0), 1.0)
    fit_err = e_stream.max(axis=0) * np.abs(a).sum(axis=0) / den * np.abs(a)
    off = np.abs(sigma * a + b - y) > np.maximum(2 * e_stream + 2 * fit_err, 0.5 * np.abs(sigma))
    n = r[site.source].shape[0]
    return off.reshape(n, -1)[:, layer.ref.index.reshape(-1)].reshape(r[site.source].shape)


def find_ties(reference, graph: Graph, frames: int = 64, seed: int = 0, exact_layers=()) -> list[dict]:
    """Per MatVec or DepthwiseMatVec with thresholds: the (channel, threshold, accumulator) ties, in layer order.

    `exact_layers`: names already known to have an exact reference (skipped without a probe).
    """
    from qloom.verify.ir import from_onnx
    from qloom.verify.reference import Reference

    ref = reference if isinstance(reference, Reference) else Reference(Path(reference))
    g = ref.graphs
    cands = [(j, l, dot_site(g, l)) for j, l in enumerate(graph.layers) if l.name not in exact_layers]
    cands = [c for c in cands if c[2] is not None]
    if not cands or graph.input_quant is None:
        return []
    x = random_inputs(graph, frames, seed)
    r = ref.run(x, full=True)
    ties = []
    for j, layer, site in cands:
        e_site, exact = g.bound(site.source, r)
        if exact:
            continue
        known = [i for i in range(j) if graph.layers[i].ref is not None and graph.layers[i].ref.tensor in r]
        if known:  # start from the reference's own last quantized tensor before layer j
            prev = graph.layers[known[-1]]
            feeds = {graph.layers[i].name: from_onnx(graph.layers[i], r[graph.layers[i].ref.tensor]) for i in known}
            acc = _accumulators(graph, j, from_onnx(prev, r[prev.ref.tensor]), known[-1] + 1, feeds)
        else:  # nothing quantized before it (an integer model input): from the input itself
            acc = _accumulators(graph, j, x, 0)
        mh, mw = _rows(layer)
        a, _, sigma, b = fit(g, layer, site, acc, r[site.source])
        den = (a * a).sum(axis=0)
        w = layer.weights.astype(np.int64)
        t_in = layer.in_dtype
        max_in = max(abs(t_in.min), abs(t_in.max))
        e = gamma(mw + EXTRA_ROUNDINGS) * (max_in * np.abs(w).sum(axis=1) * np.abs(sigma) + np.abs(b))
        e = e / (1 - gamma(mw))
        # a channel whose accumulator is 0 on every probe input has no sigma to fit: only acc = 0 is
        # known (value b), with the reference's bound on those inputs
        unfit = den == 0
        e_seen = _to_stream(layer, np.broadcast_to(e_site, r[site.source].shape)).reshape(-1, mh).max(axis=0)
        e = np.where(unfit, np.maximum(e, e_seen), e)
        lo, hi = accumulator_bounds_per_row(w, t_in.min, t_in.max)
        thr = np.broadcast_to(layer.thresholds, (mh, layer.thresholds.shape[1]))
        cand = np.concatenate([thr, thr - 1], axis=1).astype(np.float64)  # (MH, 2T) accumulators
        value = sigma[:, None] * cand + b[:, None]
        ev_shape = (cand.shape[1], mh) + (1,) * (r[site.source].ndim - 2)
        lo_v = (value - e[:, None]).T.reshape(ev_shape)
        hi_v = (value + e[:, None]).T.reshape(ev_shape)
        f_lo = g.run(site.chain, site.source, lo_v, site.end).reshape(cand.shape[1], mh).T
        f_hi = g.run(site.chain, site.source, hi_v, site.end).reshape(cand.shape[1], mh).T
        for c in range(mh):
            step = gcd(*[int(v) for v in w[c] if v]) or 1
            for col in range(cand.shape[1]):
                accv = int(cand[c, col])
                if not lo[c] <= accv <= hi[c] or f_lo[c, col] == f_hi[c, col] or (unfit[c] and accv):
                    continue
                if t_in.bipolar and (accv - int(w[c].sum())) % (2 * step):
                    continue
                if not t_in.bipolar and accv % step:
                    continue
                ties.append({"layer": layer.name, "channel": c, "threshold": int(thr[c, col % thr.shape[1]]),
                             "accumulator": accv, "onnx_tensor": layer.ref.tensor,
                             "bound": float(e[c]), "accumulator_step": float(abs(sigma[c]))})
    return ties


def hits(graph: Graph, ties: list[dict], trace: dict) -> list[dict]:
    """Each tie with `hits`: how often its accumulator value occurs in the IR's own run."""
    out, accs = [], {}
    names = [l.name for l in graph.layers]
    for t in ties:
        j = names.index(t["layer"])
        if j not in accs:
            k = max(i for i in range(j) if names[i] in trace)
            accs[j] = _accumulators(graph, j, trace[names[k]], k + 1, trace)
        a = accs[j].reshape(-1, _rows(graph.layers[j])[0])[:, t["channel"]]
        out.append({**t, "hits": int((a == t["accumulator"]).sum())})
    return out


def summary(ties: list[dict]) -> str:
    """One line for the build log."""
    layers = sorted({t["layer"] for t in ties})
    return (f"note: {len(ties)} threshold(s) in {', '.join(layers)} can be hit exactly by an integer accumulator "
            f"while the float reference rounds there (reference ties, see report.json): a float framework may "
            f"differ from the exact result on such inputs")
