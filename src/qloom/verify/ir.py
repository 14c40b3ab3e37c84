"""Level `ir` of verification: the IR simulator against the QONNX reference, frame by frame.

Each layer with a QONNX counterpart (TensorRef) is compared with the reference's tensor, the
IR layer being fed with the *reference's* quantized outputs upstream of it (every compared
layer's, so on each branch of a DAG): a difference upstream never cascades into false
differences downstream, and a real error is seen in its own layer.

Where the reference's float32 arithmetic is exact (power-of-two scales), every element must
be equal. Where it is not (float scales), an element that differs is "reference rounding" if
the reference's own ops, applied to its pre-activation moved by at most the float32 error
bound of `qloom.verify.rounding`, give the IR's value; anything else is a mismatch. A frame
whose class differs only because of such rounding is a near-tie, reported, not a mismatch.
With dataset labels, `confusion[true][predicted]` counts the IR's classes (the build report draws it).
"""

from __future__ import annotations

import time

import numpy as np

from qloom import sim
from qloom.ir import Graph
from qloom.verify import ties as T
from qloom.verify.reference import Reference
from qloom.verify.rounding import U

HEADS = {"ArgMax", "TopK", "Softmax"}


def from_onnx(layer, values: np.ndarray) -> np.ndarray:
    """The inverse of `TensorRef.to_onnx`: reference values -> integer stream frames."""
    n = values.shape[0]
    flat = np.zeros((n, int(np.prod(layer.out_shape))), dtype=np.int64)
    q = np.rint(values.reshape(n, -1).astype(np.float64) / layer.ref.scale.reshape(-1))
    flat[:, layer.ref.index.reshape(-1)] = q.astype(np.int64)
    return flat.reshape((n,) + tuple(layer.out_shape))


def _run(graph: Graph, stop: int | None, x: np.ndarray, feeds) -> dict:
    """Trace of the layers up to `stop` (a layer index; None: to the end) that it depends on,
    from the model input x, with the layers in `feeds` (name -> output frames) not computed but
    given (the reference's); `feeds` = (index of a layer, its frames): from that layer on."""
    if isinstance(feeds, tuple):
        out, trace = sim.execute(graph, feeds[1], trace=True, start=feeds[0] + 1, stop=stop)
    else:
        out, trace = sim.execute(graph, x, trace=True, stop=stop, feeds=feeds)
    trace["__out__"] = out
    return trace


def _logit_tensor(ref: Reference) -> tuple[str, str]:
    """(tensor the class scores are read from, op of the model's head or "")."""
    g = ref.graphs
    name = ref.output_name
    node = g.producer.get(name)
    if node is not None and node.op_type in HEADS:
        return node.input[0], node.op_type
    return name, ""


def compare(graph: Graph, ref: Reference, x: np.ndarray, labels: np.ndarray | None = None) -> dict:
    n = len(x)
    t0 = time.perf_counter()
    r = ref.run(x, full=True)
    t_ref = time.perf_counter() - t0
    t0 = time.perf_counter()
    out, trace = sim.execute(graph, x, trace=True)  # the hardware's own answer, end to end
    t_ir = time.perf_counter() - t0
    g = ref.graphs
    bad_frames = np.zeros(n, dtype=bool)
    rounded_frames = np.zeros(n, dtype=bool)
    layers, per_layer, first = {}, {}, None
    exact = True
    feeds = {}  # compared layer -> the reference's quantized output there, as IR frames
    last_fed = None  # (index, frames) of the last compared layer: where a linear graph restarts
    agreed = True  # no difference so far: the IR's own trace is what the reference feeds
    for j, layer in enumerate(graph.layers):
        if layer.ref is None or layer.ref.tensor not in r:
            continue
        frames = trace[layer.name] if agreed else _run(graph, j, x, feeds)[layer.name]
        got = layer.ref.to_onnx(frames)
        want = r[layer.ref.tensor]
        diff = got != want
        site = g.site(layer.ref.tensor)
        e, ex = g.bound(site.source, r)
        exact &= ex
        ok = np.zeros_like(diff)
        if not ex and diff.any():
            lo, hi = g.interval(site, r[site.source], e)
            ok = diff & (got >= lo.reshape(got.shape)) & (got <= hi.reshape(got.shape))
            dot = T.dot_site(g, layer)
            if ok.any() and dot is not None:  # and the IR's accumulator is the reference's one
                start, frames_in = (0, x) if last_fed is None or not graph.linear else (last_fed[0] + 1, last_fed[1])
                ok &= ~T.accumulator_off(g, graph, j, dot, r, frames_in, start, e, feeds).reshape(got.shape)
        real = (diff & ~ok).reshape(n, -1)
        rounded = ok.reshape(n, -1)
        stats = {"elements": int(rounded.sum()), "bound": float(np.max(e, initial=0.0)), "exact": bool(ex)}
        layers[layer.name] = {"onnx_tensor": layer.ref.tensor, "mismatching_elements": int(real.sum()),
                              "reference_rounding": stats}
        per_layer[layer.name] = stats
        if real.any() and first is None:
            f = int(np.argmax(real.any(axis=1)))
            el = int(np.argmax(real[f]))
            first = {"layer": layer.name, "frame": f, "element": el,
                     "ir": float(got.reshape(n, -1)[f, el]), "onnx": float(want.reshape(n, -1)[f, el])}
        bad_frames |= real.any(axis=1)
        rounded_frames |= rounded.any(axis=1)
        agreed &= not diff.any()
        feeds[layer.name] = frames if agreed else from_onnx(layer, want)
        last_fed = (j, feeds[layer.name])
    fed = out if agreed else _run(graph, None, x, feeds)["__out__"]

    # ---- the output: labels or logits of the IR fed with the reference's last quantized tensor,
    # read in the reference's element order (a feature map is NCHW there, channels-last in the stream)
    spec = graph.output
    ref_out = r[ref.output_name].reshape(n, -1)
    score_name, head = _logit_tensor(ref)
    scores = r[score_name].reshape(n, -1)
    site = g.site(score_name)
    e, ex = g.bound(site.source, r)
    exact &= ex
    if ex and not site.chain:
        lo = hi = scores.astype(np.float32)
    else:
        lo, hi = (v.reshape(n, -1) for v in g.interval(site, r[site.source], e))
    out_rounding = {"elements": 0, "bound": float(np.max(e, initial=0.0)), "exact": bool(ex and not site.chain)}
    if graph.ends_in_labels:
        fed_labels, e2e_labels = fed.reshape(n, -1), out.reshape(n, -1)
        k = fed_labels.shape[1]
        ref_labels = ref_out[:, :k].astype(np.int64)
        pred_fed, pred_e2e, ref_pred = fed_labels[:, 0], e2e_labels[:, 0], ref_labels[:, 0]
        differ = fed_labels != ref_labels
        rows = np.arange(n)[:, None]
        overlap = (hi[rows, fed_labels] >= lo[rows, ref_labels]) & (hi[rows, ref_labels] >= lo[rows, fed_labels])
        tie_ok = ~(differ & ~overlap).any(axis=1) & (not out_rounding["exact"])
        out_bad = differ.any(axis=1) & ~tie_ok
    else:
        lg_fed, lg_e2e = sim.logits(graph, fed), sim.logits(graph, out)  # in the reference's order
        pred_fed, pred_e2e = np.argmax(lg_fed, axis=1), np.argmax(lg_e2e, axis=1)
        if site.chain:  # the IR's affine fit of the float ops after the last layer vs their float32 run
            terms = spec.to_onnx(np.abs(fed.reshape(n, -1) * spec.scale) + np.abs(spec.bias))
            slack = (2 * len(site.chain) + 4) * U * terms
            lo, hi = lo - slack, hi + slack
        out_bad = np.zeros(n, dtype=bool)
        if spec.onnx_kind == "logits" and not spec.softmax:
            got = lg_fed.astype(np.float32)
            diffl = got != scores
            within = (got >= lo) & (got <= hi)
            out_bad = (diffl & ~within).any(axis=1)
            out_rounding["elements"] = int((diffl & within).sum())
            rounded_frames |= (diffl & within).any(axis=1)
        ref_pred = ref_out[:, 0].astype(np.int64) if head in ("ArgMax", "TopK") else np.argmax(ref_out, axis=1)
        rows = np.arange(n)
        tie_ok = (hi[rows, pred_fed] >= lo[rows, ref_pred]) & (not out_rounding["exact"])
        out_bad |= (pred_fed != ref_pred) & ~tie_ok
    per_layer["output"] = out_rounding
    if out_bad.any() and first is None:
        first = {"layer": "output", "frame": int(np.argmax(out_bad))}
    bad_frames |= out_bad
    near = ~bad_frames & ((pred_fed != ref_pred) | (pred_e2e != ref_pred))
    exact_layers = {name for name, v in per_layer.items() if v["exact"]}
    result = {
        "frames": n,
        "mismatches": int(bad_frames.sum()),
        "layers_compared": len(layers),
        "layers": layers,
        "first_mismatch": first,
        "exact_reference": bool(exact),
        "reference_rounding": {"elements": int(sum(v["elements"] for v in per_layer.values())),
                               "frames": int(rounded_frames.sum()), "layers": per_layer},
        "near_ties": int(near.sum()),
        "near_tie_frames": [int(i) for i in np.flatnonzero(near)[:20]],
        "reference_ties": T.hits(graph, T.find_ties(ref, graph, exact_layers=exact_layers), trace),
        "ir_frames_per_second": round(n / max(t_ir, 1e-9), 1),
        "reference_frames_per_second": round(n / max(t_ref, 1e-9), 1),
    }
    if labels is not None:
        result["ir_accuracy"] = float(np.mean(pred_e2e == labels))
        result["reference_accuracy"] = float(np.mean(ref_pred == labels))
        k = max(scores.shape[1], int(labels.max()) + 1, int(pred_e2e.max()) + 1)  # the IR's class per true class
        pairs = labels.astype(np.int64) * k + pred_e2e
        result["confusion"] = np.bincount(pairs, minlength=k * k).reshape(k, k).tolist()
    return result
