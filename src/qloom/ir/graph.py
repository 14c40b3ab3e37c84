"""A hardware graph: IR layers in topological order (a DAG) plus how to read its output.

Each layer reads the streams its `inputs` name (() = the previous layer); the graph input
feeds the first layer and the graph output is the last layer's. Only a Fork has several
readers, so every stream is a point-to-point FIFO in hardware.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from qloom.ir.ops import Fork, InputQuant, LabelSelect, Layer


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
        """Names unique; every edge's producer exists earlier and gives the port's shape and
        type; every output is read exactly once (a Fork's k times, the last layer's never)."""
        names = [l.name for l in self.layers]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"graph {self.name}: duplicate layer names {sorted(dup)}")
        index = {n: i for i, n in enumerate(names)}
        wiring: list[tuple[str, ...]] = []
        readers = {n: 0 for n in names}
        for i, nxt in enumerate(self.layers):
            ports = len(nxt.in_shapes)
            if nxt.inputs:
                src = tuple(nxt.inputs)
                if len(src) != ports:
                    raise ValueError(f"graph {self.name}: {nxt.name} reads {len(src)} inputs {list(src)} "
                                     f"but has {ports} input ports")
            elif ports != 1:
                raise ValueError(f"graph {self.name}: {nxt.name} has {ports} input ports but names no inputs")
            else:
                src = (names[i - 1],) if i else ()
            for p, name in enumerate(src):
                if index.get(name, i) >= i:
                    raise ValueError(f"graph {self.name}: {nxt.name} reads {name!r}, which is not a layer "
                                     f"before it")
                self._check_edge(self.layers[index[name]], nxt, p)
                readers[name] += 1
            wiring.append(src)
        for l in self.layers[1:]:
            if isinstance(l, InputQuant):
                raise ValueError(f"graph {self.name}: InputQuant {l.name} must be the first layer")
        for j, l in enumerate(self.layers):
            want = l.k if isinstance(l, Fork) else (0 if j == len(self.layers) - 1 else 1)
            if readers[l.name] != want:
                raise ValueError(f"graph {self.name}: {l.name} ({l.kind}) is read by {readers[l.name]} "
                                 f"layers, expected {want}" + ("" if want != 1 else
                                                               " (a stream with several readers needs a Fork)"))
        object.__setattr__(self, "_wiring", tuple(wiring))

    def _check_edge(self, prev: Layer, nxt: Layer, port: int) -> None:
        shape, dtype = tuple(nxt.in_shapes[port]), nxt.in_dtypes[port]
        # a dense layer may read a whole (H, W, C) frame as one vector: same element order
        flat_ok = len(nxt.in_shapes) == 1 and shape == (1, 1, int(np.prod(prev.out_shape)))
        at = f" port {port}" if len(nxt.in_shapes) > 1 else ""
        if tuple(prev.out_shape) != shape and not flat_ok:
            raise ValueError(f"graph {self.name}: {prev.name} outputs {prev.out_shape} but {nxt.name}{at} "
                             f"expects {shape}")
        if prev.out_dtype != dtype:
            raise ValueError(f"graph {self.name}: {prev.name} outputs {prev.out_dtype} but {nxt.name}{at} "
                             f"expects {dtype}")

    def input_names(self, name: str) -> tuple[str, ...]:
        """The producers' names of a layer's ports, resolved (() for the graph's first layer)."""
        return self._wiring[self._index(name)]

    def producers(self, name: str) -> tuple[Layer, ...]:
        """The layers feeding a layer, in port order (() when it reads the graph input)."""
        return tuple(self.layer(n) for n in self.input_names(name))

    def consumers(self, name: str) -> tuple[Layer, ...]:
        """The layers reading a layer's output, in graph order (() for the last layer)."""
        self._index(name)
        return tuple(l for l, src in zip(self.layers, self._wiring) if name in src)

    def edges(self) -> list[tuple[str, str, int]]:
        """Every stream between two layers as (producer, consumer, consumer's port), in graph order."""
        return [(p, l.name, port) for l, src in zip(self.layers, self._wiring) for port, p in enumerate(src)]

    @property
    def linear(self) -> bool:
        """Every layer reads the previous one: a pipeline (the shape every graph had before DAGs)."""
        return all(src == ((self.layers[i - 1].name,) if i else ()) for i, src in enumerate(self._wiring))

    def _index(self, name: str) -> int:
        for i, l in enumerate(self.layers):
            if l.name == name:
                return i
        raise KeyError(f"graph {self.name} has no layer {name!r}; layers: {[l.name for l in self.layers]}")

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
        return self.layers[self._index(name)]

    def replace_layer(self, name: str, **changes) -> "Graph":
        """A new graph with one layer's fields changed (e.g. its folding)."""
        self.layer(name)
        layers = [dataclasses.replace(l, **changes) if l.name == name else l for l in self.layers]
        return dataclasses.replace(self, layers=tuple(layers))

    def with_layers(self, layers) -> "Graph":
        return dataclasses.replace(self, layers=tuple(layers))
