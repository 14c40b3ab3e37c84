"""The hardware IR: a dataflow graph (a DAG in topological order) of typed integer layers.

Streams flow from layer to layer; a layer names the layers it reads (`inputs`, empty for
the previous one), Fork / AddStreams / Concat branch and merge; every stream frame is channels-last (H, W, C).
Layers are frozen dataclasses (see `ops.py`), their arithmetic lives in `qloom.semantics`,
and `serialize.py` gives a JSON round trip.
"""

from qloom.ir.types import IntType, BIPOLAR
from qloom.ir.ops import (
    Layer,
    InputQuant,
    MatVec,
    DepthwiseMatVec,
    Threshold,
    SlidingWindow,
    Pool,
    PoolMode,
    LabelSelect,
    Fork,
    AddStreams,
    Concat,
    MemStyle,
    TensorRef,
)
from qloom.ir.graph import Graph, OutputSpec

__all__ = [
    "IntType", "BIPOLAR", "Layer", "InputQuant", "MatVec", "DepthwiseMatVec", "Threshold", "SlidingWindow", "Fork", "AddStreams", "Concat",
    "Pool", "PoolMode", "LabelSelect", "MemStyle", "TensorRef", "Graph", "OutputSpec",
]
