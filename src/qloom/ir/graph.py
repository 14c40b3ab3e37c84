"""A hardware graph: the ordered pipeline of IR layers plus how to read its output."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from qloom.ir.ops import InputQuant, LabelSelect, Layer


@dataclass(frozen=True, kw_only=True, eq=False)
class OutputSpec:
    """How the pipeline's integer output maps back to the QONNX model's output.

    logits = int_output * scale + bias (per channel, float). If the pipeline ends in a
    LabelSelect, its output are class indices and `scale`/`bias` belong to the layer feeding
    it. `softmax`: the model applied a softmax after the logits (monotonic, done on the host).
    `onnx_output` names the QONNX graph output; `onnx_kind` is "logits" or "labels".
    `index` (as `TensorRef.index`): for each element of the ONNX tensor the logits are read
    from, its position in the flattened channels-last stream frame; a feature-map output is
    NCHW in ONNX but (H, W, C) in the stream. None: the same order (IR files from before it).
    """

    scale: np.ndarray
    bias: np.ndarray
    onnx_output: str = ""
    onnx_kind: str = "logits"
    softmax: bool = False
    index: np.ndarray | None = None

    def to_onnx(self, flat: np.ndarray) -> np.ndarray:
        """Stream-ordered values (N, K) -> the ONNX tensor's flat element order."""
        return flat if self.index is None else flat[:, self.index.reshape(-1)]

    @property
    def in_stream_order(self) -> bool:
        """The ONNX tensor's flat element order is the stream's: a class index is a stream position."""
        return self.index is None or np.array_equal(self.index.reshape(-1), np.arange(self.index.size))


@dataclass(frozen=True, kw_only=True, eq=False)
class Graph:
    name: str
    layers: tuple[Layer, ...]
    output: OutputSpec
    onnx_input: str = ""
    onnx_input_shape: tuple[int, ...] = ()  # the QONNX input shape, e.g. (1, 1, 28, 28)

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        self.check()

    def check(self) -> None:
        """Names unique, each layer's input matches the previous output (shape and type)."""
        names = [l.name for l in self.layers]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"graph {self.name}: duplicate layer names {sorted(dup)}")
        for prev, nxt in zip(self.layers, self.layers[1:]):
            # a dense layer may read a whole (H, W, C) frame as one vector: same element order
            flat_ok = tuple(nxt.in_shape) == (1, 1, int(np.prod(prev.out_shape)))
            if tuple(prev.out_shape) != tuple(nxt.in_shape) and not flat_ok:
                raise ValueError(
                    f"graph {self.name}: {prev.name} outputs {prev.out_shape} but {nxt.name} expects {nxt.in_shape}"
                )
            if prev.out_dtype != nxt.in_dtype:
                raise ValueError(
                    f"graph {self.name}: {prev.name} outputs {prev.out_dtype} but {nxt.name} expects {nxt.in_dtype}"
                )
        for l in self.layers[1:]:
            if isinstance(l, InputQuant):
                raise ValueError(f"graph {self.name}: InputQuant {l.name} must be the first layer")

    @property
    def input_quant(self) -> InputQuant | None:
        first = self.layers[0] if self.layers else None
        return first if isinstance(first, InputQuant) else None

    @property
    def hardware_layers(self) -> tuple[Layer, ...]:
        return tuple(l for l in self.layers if l.hardware)

    @property
    def ends_in_labels(self) -> bool:
        return bool(self.layers) and isinstance(self.layers[-1], LabelSelect)

    def layer(self, name: str) -> Layer:
        for l in self.layers:
            if l.name == name:
                return l
        raise KeyError(f"graph {self.name} has no layer {name!r}; layers: {[l.name for l in self.layers]}")

    def replace_layer(self, name: str, **changes) -> "Graph":
        """A new graph with one layer's fields changed (e.g. its folding)."""
        self.layer(name)
        layers = [dataclasses.replace(l, **changes) if l.name == name else l for l in self.layers]
        return dataclasses.replace(self, layers=tuple(layers))

    def with_layers(self, layers) -> "Graph":
        return dataclasses.replace(self, layers=tuple(layers))
