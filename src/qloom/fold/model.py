"""The cost model the folding reads, as an interface a backend provides.

The folding search, the resource totals and the report need a few costs per part of a
design and never look inside them: a backend brings a `CostModel` (the RTL backend's is
`qloom.backends.rtl.cost.RtlCostModel`, fitted to Yosys runs of its cores), so fold/ does
not import one backend's internals and a second backend can bring its own.

Every fold function takes `coeffs`: a `CostModel`, or None / a calibration object that the
default backend turns into its model (`cost_model`), so `resources(graph, Coefficients(...))`
keeps working.
"""

from __future__ import annotations

import functools
import importlib
from typing import Protocol, runtime_checkable

from qloom.ir import Layer, MemStyle

DEFAULT_BACKEND = "qloom.backends.rtl.cost"  # a module with `cost_model(coeffs=...)`
METHODS = ("layer", "fifo", "converter", "tlast", "memory_styles", "depth", "fifo_style", "queue_words")


@runtime_checkable
class CostModel(Protocol):
    """Resources are dicts {"LUT", "FF", "BRAM18", "DSP"} (numbers)."""

    name: str

    def layer(self, layer: Layer) -> dict:
        """A layer's core at its current folding."""

    def fifo(self, layer: Layer, producer_block: int = 1, depth: int | None = None, port: int = 0,
             par: int | None = None, style: MemStyle = MemStyle.DISTRIBUTED) -> dict:
        """The FIFO in front of `layer` (its input `port`) behind a producer emitting
        `producer_block` words at once; `depth` words of `par` elements (default: the layer's
        input word) in `style` when given (a DAG edge's, `fold.cycles.edge_fifos`)."""

    def fifo_style(self, depth: int, width: int) -> MemStyle:
        """The style a depth x width-bit stream FIFO is built in (AUTO resolved)."""

    def queue_words(self, layer: Layer) -> int:
        """Output words the layer's core may hold in its issue stages and output queue beyond
        what the cycle schedule accounts for (the skip FIFO rule counts them)."""

    def converter(self, a: int, b: int, bits: int, frame: int = 0) -> dict:
        """A width converter from a to b elements of `bits` per word (`frame` elements per frame, 0: whole words)."""

    def tlast(self, depth: int, in_words: int, out_words: int) -> dict:
        """The DMA side's frame-end logic with a flag queue of `depth`."""

    def memory_styles(self, layer: Layer) -> dict[str, MemStyle]:
        """Memory name -> the style the backend builds (AUTO resolved)."""

    def depth(self, layer: Layer) -> int:
        """Register stages the layer's core adds to the latency."""


@functools.cache
def _is_model(cls: type) -> bool:
    """Whether instances of `cls` are CostModels (a Protocol check is slow: once per class)."""
    return all(callable(getattr(cls, m, None)) for m in METHODS)


def cost_model(coeffs=None) -> CostModel:
    """`coeffs` if it is a CostModel, else the default backend's model at that calibration."""
    if coeffs is not None and _is_model(type(coeffs)):
        return coeffs
    backend = importlib.import_module(DEFAULT_BACKEND)
    return backend.cost_model() if coeffs is None else backend.cost_model(coeffs)
