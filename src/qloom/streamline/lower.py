"""Lower a cleaned QONNX graph into the IR by walking it once, in topological order.

Each ONNX node is handled by one small function (see HANDLERS). Linear ops (MatMul, Gemm,
Conv, pools) append IR layers naming the layer whose stream they read (`add_layer`; each
`Stream` knows its `producer`, and `streamline.dag.wire` later adds the Forks and drops the
names a linear pipeline implies); elementwise float ops are kept as a pending chain; a
quantizer closes the chain into exact integer thresholds (`chain.derive_thresholds`).
The model input starts as a float stream (its first quantizer becomes the host-side
InputQuant) or, if it is documented integer, as an integer stream behind an identity
InputQuant.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import onnx
from qonnx.core.modelwrapper import ModelWrapper

from qloom.errors import QloomError
from qloom.frontend import unsupported
from qloom.ir import BIPOLAR, DepthwiseMatVec, InputQuant, IntType, MatVec, TensorRef, Threshold
from qloom.streamline.chain import (KEY_MAX, KEY_MIN, ChainStep, FloatLevelFunction, LevelFunction, Terminal,
                                    derive_thresholds, key_floats)
from qloom.streamline.consts import attr, level_type, levels, quant_params
from qloom.streamline.values import QConst, Stream, canonical_index

# ONNX metadata_props key by which a model declares what its float input holds (ops.INPUT_CONVENTIONS)
INPUT_CONVENTION_KEY = "qloom.input_convention"


class Lowering:
    """Mutable state of one walk: tensor values, the IR layers so far, name counters."""

    def __init__(self, model: ModelWrapper):
        self.model = model
        self.values: dict[str, object] = {}
        self.layers: list = []
        self.counts: dict[str, int] = {}
        for init in model.graph.initializer:
            self.values[init.name] = onnx.numpy_helper.to_array(init)
        self.head = None  # (node, k) of a final ArgMax/TopK
        # every domain's opset: custom ops (Trunc v1/v2) behave by version
        self.opset = tuple((o.domain, o.version) for o in model.model.opset_import)
        self.softmax = False
        self.readers: dict[str, int] = {}  # IR layer name -> layers reading it so far
        self.merged: set[str] = set()  # MatVecs whose accumulator a quantizer turned into levels
        self._start_input()

    def _start_input(self) -> None:
        """The model input as a stream: float until its quantizer, or integer as documented."""
        name = self.model.graph.input[0].name
        shape = self.onnx_shape(name)
        if len(shape) == 3:
            c, h, w = shape
            index = canonical_index(c, h, w)
        elif len(shape) == 1:
            c, h, w = shape[0], 1, 1
            index = np.arange(c)
        else:
            raise QloomError(f"model input {name!r} of shape {shape} (without batch): expected (C, H, W) or (K,)")
        frame = (h, w, c)
        dt = self.model.get_tensor_datatype(name)
        if dt is None or not dt.is_integer():
            self.values[name] = Stream(frame=frame, index=index, scale=np.ones(c), lo=np.full(c, -np.inf),
                                       hi=np.full(c, np.inf), dtype=None, chain_start=name)
            return
        dtype = BIPOLAR if dt.name == "BIPOLAR" else IntType.for_range(int(dt.min()), int(dt.max()))
        # identity on the input's integers: quantize(x, 1, 0) = clip(round(x)) = x
        self.layers.append(InputQuant(name="input", in_shape=frame, in_dtype=dtype, scale=np.array(1.0),
                                      zero_point=np.zeros(1), out_type=dtype, input_convention="integer"))
        self.values[name] = Stream(frame=frame, index=index, scale=np.ones(c), lo=np.full(c, dtype.min),
                                   hi=np.full(c, dtype.max), dtype=dtype, chain_start=name, producer="input")

    # ------------------------------------------------------------------ helpers
    def add_layer(self, layer, *reads: Stream):
        """Append an IR layer reading the streams `reads` (its ports, in order)."""
        layer = dataclasses.replace(layer, inputs=tuple(s.producer for s in reads))
        for s in reads:
            self.readers[s.producer] = self.readers.get(s.producer, 0) + 1
        self.layers.append(layer)
        return layer

    def set_layer(self, layer) -> None:
        """Replace the layer of the same name (a MatVec taking its thresholds, a TensorRef)."""
        i = next(i for i, l in enumerate(self.layers) if l.name == layer.name)
        self.layers[i] = layer

    def layer(self, name: str):
        return next(l for l in self.layers if l.name == name)

    def fresh(self, prefix: str) -> str:
        n = self.counts.get(prefix, 0)
        self.counts[prefix] = n + 1
        return f"{prefix}{n}"

    def const(self, name: str, node: onnx.NodeProto) -> np.ndarray:
        v = self.values.get(name)
        if isinstance(v, QConst):
            return v.value
        if isinstance(v, np.ndarray):
            return v
        raise unsupported(node, f"input {name!r} must be a constant here")

    def stream(self, name: str, node: onnx.NodeProto) -> Stream:
        """The quantized stream a layer reads (the float model input is refused: it needs a quantizer)."""
        v = self.values.get(name)
        if not isinstance(v, Stream):
            raise unsupported(node, f"input {name!r} must be the activation stream")
        if v.is_float:
            raise unsupported(node, "it reads the model's float input, which no quantizer precedes: add an "
                                    "input quantizer in front of it (e.g. Brevitas QuantIdentity(bit_width=8) "
                                    "as the model's first layer) and export again")
        self.check_live(v, node)
        return v

    def check_live(self, v: Stream, node: onnx.NodeProto) -> None:
        """The accumulator a stream reads still exists (no quantizer folded it into its MatVec)."""
        if v.pending_matvec and v.producer in self.merged:
            raise unsupported(node, f"it reads the accumulator of {v.producer}, which a quantizer on another "
                                    "path already turned into levels: quantize the accumulator once, before "
                                    "the branches")

    def onnx_shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.model.get_tensor_shape(name)[1:])

    def eval_shape(self, s: Stream) -> tuple[int, ...]:
        """Shape of the chain's evaluation tensor (batch axis = candidates): ONNX layout, 1x1 spatial."""
        return (s.channels,) if s.index.ndim == 1 else (s.channels, 1, 1)

    def eval_order(self, s: Stream) -> np.ndarray:
        """Stream channel of each position of the evaluation tensor."""
        return s.index if s.index.ndim == 1 else np.arange(s.channels)

    # ------------------------------------------------------------------ quantizers
    def terminal_of(self, node: onnx.NodeProto, s: Stream) -> Terminal:
        """The quantizer's output levels and scale, in the stream's eval layout."""
        c = s.channels
        if node.op_type == "MultiThreshold":
            thr = self.const(node.input[1], node)
            out_scale = float(attr(node, "out_scale", 1.0))
            out_bias = float(attr(node, "out_bias", 0.0))
            base = out_bias / out_scale
            if base != round(base):
                raise unsupported(node, "out_bias must be an integer multiple of out_scale")
            consts = {node.input[1]: thr}
            return Terminal(ChainStep(node, consts), np.full(c, out_scale), int(base), thr.shape[1])
        if node.op_type == "Trunc":  # v1: (x, scale, zp, in_bits, out_bits); v2 adds output_scale
            consts = {i: self.const(i, node) for i in node.input[1:]}
            out_scale = consts[node.input[4]] if len(node.input) == 6 else consts[node.input[1]]
            scale = self.per_channel(np.asarray(out_scale, dtype=np.float64), s, node)
            return Terminal(ChainStep(node, consts), scale, base=None, n=None)  # levels found by evaluation
        p = quant_params(node, lambda n: self.const(n, node))
        try:
            base, n, step = levels(p)
        except ValueError as exc:
            raise unsupported(node, str(exc)) from None
        scale = self.per_channel(np.asarray(p["scale"], dtype=np.float64), s, node)
        consts = {i: self.const(i, node) for i in node.input[1:]}
        return Terminal(ChainStep(node, consts), scale, base, n, step)

    def per_channel(self, value: np.ndarray, s: Stream, node: onnx.NodeProto) -> np.ndarray:
        """A constant broadcast over the ONNX tensor, reduced to one value per stream channel."""
        full = np.broadcast_to(value, (1,) + s.index.shape).reshape(-1)
        pos = s.index.reshape(-1) % s.channels
        out = np.zeros(s.channels)
        out[pos] = full
        if not np.array_equal(full, out[pos]):
            raise unsupported(node, "a constant varies inside one channel (only scalar or per-channel constants)")
        return out

    def quantize_stream(self, node: onnx.NodeProto, s: Stream) -> None:
        """Close the pending chain with a quantizer: thresholds in the last MatVec or a new Threshold."""
        term = self.terminal_of(node, s)
        level = LevelFunction(s.chain_start, list(s.chain), term, s.scale, self.eval_shape(s), self.eval_order(s), self.opset)
        if term.base is None:  # monotonic: the reachable levels lie between the values at the range ends
            ends = level(np.stack([s.lo, s.hi]))
            term.base, term.n = int(ends.min()), int(ends.max() - ends.min())
            if term.n == 0:  # a constant output still needs one (never reached) threshold
                term.n = 1
        thresholds, direction = derive_thresholds(level, s.lo, s.hi)
        base, n, step = term.base, term.n, term.level_step
        lo2 = np.where(direction > 0, s.lo, -s.hi)
        hi2 = np.where(direction > 0, s.hi, -s.lo)
        if step == 1:  # drop levels no channel can leave (always / never reached): narrower output
            always = np.all(thresholds <= lo2[:, None], axis=0)
            never = np.all(thresholds > hi2[:, None], axis=0)
            keep_from = int(np.argmin(always)) if not always.all() else n
            keep_to = n - (int(np.argmin(never[::-1])) if not never.all() else n)
            keep_to = max(keep_to, keep_from)
            base += keep_from
            thresholds = thresholds[:, keep_from:keep_to]
        thresholds = np.clip(thresholds, lo2[:, None], hi2[:, None] + 1)
        self.check_live(s, node)
        last = self.layer(s.producer) if s.pending_matvec else None
        if isinstance(last, (MatVec, DepthwiseMatVec)) and not self.readers.get(last.name):  # no other reader
            weights = last.weights * direction[:, None]
            w_dtype = last.w_dtype if last.w_dtype.contains(weights) else IntType.for_range(weights.min(), weights.max())
            lo_a, hi_a = int(lo2.min()), int(hi2.max())
            layer = dataclasses.replace(last, weights=weights, w_dtype=w_dtype, thresholds=thresholds,
                                        acc_dtype=IntType.for_range(lo_a, hi_a), out_base=base, out_step=step)
            self.merged.add(last.name)
        else:
            if np.any(direction < 0):
                raise unsupported(node, "a falling (negative-scale) activation without a preceding weight layer")
            layer = self.add_layer(Threshold(name=self.fresh("thr"), in_shape=s.frame, in_dtype=s.dtype,
                                             thresholds=thresholds, out_base=base, out_step=step), s)
        out_type = layer.out_dtype
        out_scale = np.asarray(term.scale, dtype=np.float64).reshape(-1)
        ref = TensorRef(tensor=node.output[0], index=s.index, scale=out_scale[s.index % s.channels])
        self.set_layer(dataclasses.replace(layer, ref=ref))
        self.values[node.output[0]] = Stream(
            frame=s.frame, index=s.index, scale=out_scale, dtype=out_type,
            lo=np.full(s.channels, out_type.min), hi=np.full(s.channels, out_type.max),
            chain_start=node.output[0], producer=layer.name,
        )

    def input_quant(self, node: onnx.NodeProto, s: Stream) -> None:
        """The quantizer closing the float input's chain runs on the host: float input -> integer stream.

        A quantizer reading the input directly mirrors its scale/zero point (qonnx semantics);
        float ops before it (or a MultiThreshold, or a per-channel scale on a reshaped
        input) become float32 thresholds found by running the model's own nodes.
        """
        if node.op_type == "Trunc":
            raise unsupported(node, "a Trunc on the model's float input (quantize the input first)")
        if self.layers:
            raise unsupported(node, "a second quantizer of the model's float input (quantize it once, "
                                    "then branch)")
        c = s.channels
        term = self.terminal_of(node, s)
        scale = np.asarray(term.scale, dtype=np.float64).reshape(-1)
        in_frame = self._input_frame()
        direct = not s.chain and node.op_type != "MultiThreshold"
        p = quant_params(node, lambda n: self.const(n, node)) if direct else None
        if direct and p["bits"] == 1 and p["signed"] and not p["bipolar"]:
            direct = False  # +-1 - zp is no quantizer of its own width: thresholds (exact) instead
        if direct and (np.unique(scale).size == 1 or s.frame == in_frame):
            base, n, step = levels(p)
            dtype = level_type(base, n, step)
            zp = np.asarray(p["zero_point"], dtype=np.float64).reshape(-1)[:1]
            conv = "pixel/255" if (dtype == IntType(8, signed=False) and float(zp[0]) == 0
                                   and np.all(np.float32(p["scale"]) == np.float32(1 / 255))) else "pixel/256"
            layer = InputQuant(name="input", in_shape=s.frame, in_dtype=dtype, scale=np.asarray(p["scale"], np.float64),
                               zero_point=zp, out_type=dtype, narrow=p["narrow"], rounding=p["rounding"],
                               input_convention=self._declared_convention(node) or conv)
        else:
            level = FloatLevelFunction(s.chain_start, list(s.chain), term, np.ones(c), self.eval_shape(s),
                                       self.eval_order(s), self.opset)
            keys, direction = derive_thresholds(level, np.full(c, KEY_MIN), np.full(c, KEY_MAX))
            if np.any(direction < 0):
                raise unsupported(node, "the float ops before the input quantizer make it fall as the input "
                                        "rises (a negative factor): only rising input maps are supported")
            thresholds = key_floats(keys)
            if np.all(thresholds == thresholds[:1]):
                thresholds = thresholds[:1]
            dtype = level_type(term.base, term.n, term.level_step)
            layer = InputQuant(name="input", in_shape=s.frame, in_dtype=dtype, zero_point=np.zeros(1),
                               scale=scale[:1] if np.unique(scale).size == 1 else scale,
                               out_type=dtype, thresholds=np.ascontiguousarray(thresholds), out_base=term.base,
                               out_step=term.level_step,
                               input_convention=self._declared_convention(node) or "pixel/255")
        ref = TensorRef(tensor=node.output[0], index=s.index, scale=scale[s.index % c])
        self.layers.append(dataclasses.replace(layer, ref=ref))
        self.values[node.output[0]] = Stream(frame=s.frame, index=s.index, scale=scale, lo=np.full(c, dtype.min),
                                             hi=np.full(c, dtype.max), dtype=dtype, chain_start=node.output[0],
                                             producer="input")

    def _declared_convention(self, node: onnx.NodeProto) -> str | None:
        """A float input's convention as the model declares it (metadata `qloom.input_convention`)."""
        meta = {p.key: p.value for p in self.model.model.metadata_props}
        value = meta.get(INPUT_CONVENTION_KEY)
        if value is None:
            return None
        if value not in ("pixel/256", "pixel/255"):
            raise unsupported(node, f"metadata {INPUT_CONVENTION_KEY}={value!r}: a float input is 'pixel/256' "
                                    "or 'pixel/255' (an integer input is declared by its qonnx datatype)")
        return value

    def _input_frame(self) -> tuple[int, int, int]:
        """The (H, W, C) frame of the model input as it arrives (before any reshape)."""
        shape = self.onnx_shape(self.model.graph.input[0].name)
        return (shape[1], shape[2], shape[0]) if len(shape) == 3 else (1, 1, shape[0])


def weight_matrix(node: onnx.NodeProto, w: object) -> QConst:
    if isinstance(w, QConst):
        return w
    if isinstance(w, np.ndarray) and np.all(w == np.round(w)):
        iv = w.astype(np.int64)
        return QConst(w, iv, np.ones(w.shape), IntType.for_range(min(0, iv.min()), max(0, iv.max())))
    raise unsupported(node, "its weights are float (not quantized). Quantize the model with QAT "
                            "(`qloom train`, Brevitas Quant layers) or post-training quantization first")
