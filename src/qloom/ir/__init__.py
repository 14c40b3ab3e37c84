"""The hardware IR: a linear dataflow pipeline of typed integer layers.

One stream flows from layer to layer; every stream frame is channels-last (H, W, C).
Layers are frozen dataclasses (see `ops.py`), their arithmetic lives in `qloom.semantics`,
and `serialize.py` gives a JSON round trip.
"""

from qloom.ir.types import IntType, BIPOLAR
from qloom.ir.ops import (
    Layer,
    InputQuant,
    MatVec,
    Threshold,
    SlidingWindow,
    Pool,
    PoolMode,
    LabelSelect,
    MemStyle,
    TensorRef,
)
from qloom.ir.graph import Graph, OutputSpec

__all__ = [
    "IntType", "BIPOLAR", "Layer", "InputQuant", "MatVec", "Threshold", "SlidingWindow",
    "Pool", "PoolMode", "LabelSelect", "MemStyle", "TensorRef", "Graph", "OutputSpec",
]
