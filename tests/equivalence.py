"""Test helper: the IR simulator equals the QONNX reference (qloom.verify.ir.compare)."""

from __future__ import annotations

import numpy as np

from qloom.ir import Graph
from qloom.verify.ir import compare
from qloom.verify.reference import Reference


def assert_equivalent(graph: Graph, ref: Reference, x: np.ndarray) -> dict:
    """Zero mismatching frames: every layer with a TensorRef, the logits and the argmax."""
    result = compare(graph, ref, x)
    assert result["mismatches"] == 0, f"{result['mismatches']} of {result['frames']} frames differ: {result['first_mismatch']}"
    return {"layers_checked": result["layers_compared"], **result}
