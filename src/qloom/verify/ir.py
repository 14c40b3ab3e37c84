"""Level `ir` of verification: the IR simulator against the QONNX reference, frame by frame.

A frame is a mismatch if any layer output with a QONNX counterpart (TensorRef) differs in any
element, or the final output differs (labels exactly; logits beyond float tolerance; argmax).
"""

from __future__ import annotations

import time

import numpy as np

from qloom import sim
from qloom.ir import Graph
from qloom.verify.reference import Reference

LOGIT_RTOL = 1e-6  # logits = int * scale + bias in float64 vs float32 onnx: rounding only


def compare(graph: Graph, ref: Reference, x: np.ndarray, labels: np.ndarray | None = None) -> dict:
    n = len(x)
    t0 = time.perf_counter()
    r = ref.run(x, full=True)
    t_ref = time.perf_counter() - t0
    t0 = time.perf_counter()
    out, trace = sim.execute(graph, x, trace=True)
    t_ir = time.perf_counter() - t0
    bad_frames = np.zeros(n, dtype=bool)
    layers, first = {}, None
    for layer in graph.layers:
        if layer.ref is None or layer.ref.tensor not in r:
            continue
        got = layer.ref.to_onnx(trace[layer.name])
        want = r[layer.ref.tensor]
        diff = (got != want).reshape(n, -1)
        layers[layer.name] = {"onnx_tensor": layer.ref.tensor, "mismatching_elements": int(diff.sum())}
        if diff.any() and first is None:
            f = int(np.argmax(diff.any(axis=1)))
            e = int(np.argmax(diff[f]))
            first = {"layer": layer.name, "frame": f, "element": e,
                     "ir": float(got.reshape(n, -1)[f, e]), "onnx": float(want.reshape(n, -1)[f, e])}
        bad_frames |= diff.any(axis=1)
    ref_out = r[ref.output_name].reshape(n, -1)
    if graph.ends_in_labels:
        ir_labels = out.reshape(n, -1)
        ref_labels = ref_out[:, : ir_labels.shape[1]].astype(np.int64)
        out_bad = (ir_labels != ref_labels).any(axis=1)
        pred, ref_pred = ir_labels[:, 0], ref_labels[:, 0]
    else:
        logits = sim.logits(graph, out)
        pred, ref_pred = np.argmax(logits, axis=1), np.argmax(ref_out, axis=1)
        if graph.output.onnx_kind == "logits" and not graph.output.softmax:
            out_bad = ~np.isclose(logits, ref_out, rtol=LOGIT_RTOL, atol=1e-9).all(axis=1)
        else:  # the model outputs labels or softmax: the IR's logits are compared through argmax
            out_bad = np.zeros(n, dtype=bool)
            if graph.output.onnx_kind == "labels":
                ref_pred = ref_out[:, 0].astype(np.int64)
        out_bad |= pred != ref_pred
    if out_bad.any() and first is None:
        first = {"layer": "output", "frame": int(np.argmax(out_bad))}
    bad_frames |= out_bad
    result = {
        "frames": n,
        "mismatches": int(bad_frames.sum()),
        "layers_compared": len(layers),
        "layers": layers,
        "first_mismatch": first,
        "ir_frames_per_second": round(n / max(t_ir, 1e-9), 1),
        "reference_frames_per_second": round(n / max(t_ref, 1e-9), 1),
    }
    if labels is not None:
        result["ir_accuracy"] = float(np.mean(pred == labels))
        result["reference_accuracy"] = float(np.mean(ref_pred == labels))
    return result
