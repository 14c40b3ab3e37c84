"""Compare the IR simulator with the QONNX reference, layer by layer and at the output."""

from __future__ import annotations

import numpy as np

from qloom import sim
from qloom.ir import Graph
from qloom.verify.reference import Reference


def assert_equivalent(graph: Graph, ref: Reference, x: np.ndarray) -> dict:
    """Every layer with a TensorRef equals its ONNX tensor exactly; logits match; argmax matches."""
    r = ref.run(x, full=True)
    out, trace = sim.execute(graph, x, trace=True)
    checked = 0
    for layer in graph.layers:
        if layer.ref is None or layer.ref.tensor not in r:
            continue
        got = layer.ref.to_onnx(trace[layer.name])
        want = r[layer.ref.tensor].astype(np.float64)
        bad = np.argwhere(got != want)
        assert bad.size == 0, (
            f"{layer.name} ({layer.kind}) differs from {layer.ref.tensor} at {len(bad)} elements, "
            f"first {tuple(bad[0])}: ir {got[tuple(bad[0])]} vs onnx {want[tuple(bad[0])]}"
        )
        checked += 1
    ref_out = r[ref.output_name]
    if graph.ends_in_labels:
        labels = out.reshape(len(x), -1)
        ref_labels = ref_out.reshape(len(x), -1).astype(np.int64)
        assert np.array_equal(labels, ref_labels[:, : labels.shape[1]])
    else:
        logits = sim.logits(graph, out)
        want = ref_out.reshape(len(x), -1).astype(np.float64)
        if graph.output.onnx_kind == "logits":
            assert np.allclose(logits, want, rtol=1e-6, atol=1e-6), np.abs(logits - want).max()
    return {"layers_checked": checked}
