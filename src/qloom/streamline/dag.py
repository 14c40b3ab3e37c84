"""The branching part of the lowering: an Add of two quantized streams (a residual add), a
channel Concat, and `wire`, which turns the layers' named inputs into a checked DAG.

An Add is exact in integers when its inputs' scales are a power of two apart: with
a = ia * sa and b = ib * sb, sa = 2^k * sb, the sum is ((ia << k) + ib) * sb. Whatever
requantization follows (a quantizer, the next MatVec's thresholds) reads that stream as it
reads any other. Several readers of one layer's stream get a Fork.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from qloom.frontend import unsupported
from qloom.ir import AddStreams, Concat, Fork, TensorRef
from qloom.streamline.consts import attr
from qloom.streamline.values import Stream


def _plain(node, s: Stream, what: str) -> Stream:
    if s.chain:
        raise unsupported(node, f"float ops ({', '.join(st.node.op_type for st in s.chain)}) between a quantizer "
                                f"and this {what}: quantize each of its inputs")
    return s


def add_streams(lw, node) -> None:
    """Add of two streams -> AddStreams, the shifts aligning the scales to the finer one."""
    a, b = (_plain(node, lw.stream(i, node), "add") for i in node.input)
    if a.frame != b.frame or not np.array_equal(a.index, b.index):
        raise unsupported(node, f"its inputs are laid out differently (frames {a.frame} and {b.frame}): "
                                "only an elementwise add of two tensors of one shape")
    if np.any(a.scale <= 0) or np.any(b.scale <= 0):
        raise unsupported(node, "an input with a zero or negative quantization scale")
    ratio = np.unique(a.scale / b.scale)
    mant, exp = np.frexp(ratio)
    if ratio.size != 1 or mant[0] != 0.5:
        sa, sb = np.unique(a.scale), np.unique(b.scale)
        raise unsupported(node, f"the scales of its inputs ({', '.join(f'{v:.6g}' for v in sa)} and "
                                f"{', '.join(f'{v:.6g}' for v in sb)}) are not a power of two apart, so their "
                                "integer sum is not exact: quantize both inputs with one shared quantizer or "
                                "with power-of-two scales")
    k = int(exp[0]) - 1  # sa = 2^k * sb
    shift_a, shift_b = max(k, 0), max(-k, 0)
    scale = b.scale if k >= 0 else a.scale
    layer = lw.add_layer(AddStreams(name=lw.fresh("add"), in_shape=a.frame, in_dtype=a.dtype, in_dtype_b=b.dtype,
                                    shift_a=shift_a, shift_b=shift_b), a, b)
    ref = TensorRef(tensor=node.output[0], index=a.index, scale=scale[a.index % a.channels])
    lw.set_layer(dataclasses.replace(layer, ref=ref))
    lo = a.lo * 2.0 ** shift_a + b.lo * 2.0 ** shift_b
    hi = a.hi * 2.0 ** shift_a + b.hi * 2.0 ** shift_b
    lw.values[node.output[0]] = Stream(frame=a.frame, index=a.index, scale=scale, lo=lo, hi=hi,
                                       dtype=layer.out_dtype, chain_start=node.output[0], producer=layer.name)


def concat(lw, node) -> None:
    """Concat of streams with one (H, W) frame -> Concat of their channels, in input order.

    The ONNX axis only decides where each element lands in the ONNX tensor (`index`); the
    stream always puts the inputs' channels side by side (for NCHW maps along axis 1 the
    result is again NCHW).
    """
    streams = [_plain(node, lw.stream(i, node), "concat") for i in node.input]
    if len(streams) == 1:
        lw.values[node.output[0]] = streams[0].with_(chain_start=node.output[0])
        return
    frames = {s.frame[:2] for s in streams}
    if len(frames) != 1:
        raise unsupported(node, f"its inputs' frames differ in height/width ({sorted(frames)}): only a "
                                "concatenation of channels of equally sized maps")
    rank = streams[0].index.ndim
    if any(s.index.ndim != rank for s in streams):
        raise unsupported(node, "its inputs have different ranks")
    axis = int(attr(node, "axis", 1))
    axis = axis + rank + 1 if axis < 0 else axis
    if axis == 0:
        raise unsupported(node, "a concatenation along the batch axis")
    channels = tuple(s.channels for s in streams)
    total, offsets = sum(channels), np.cumsum((0,) + channels[:-1])
    index = np.concatenate([(s.index // c) * total + off + s.index % c
                            for s, c, off in zip(streams, channels, offsets)], axis=axis - 1)
    if index.shape != lw.onnx_shape(node.output[0]):
        raise unsupported(node, f"output shape {lw.onnx_shape(node.output[0])} is not its inputs' concatenation")
    layer = lw.add_layer(Concat(name=lw.fresh("concat"), in_shape=streams[0].frame, in_dtype=streams[0].dtype,
                                channels=channels, dtypes=tuple(s.dtype for s in streams)), *streams)
    scale = np.concatenate([s.scale for s in streams])
    lw.set_layer(dataclasses.replace(layer, ref=TensorRef(tensor=node.output[0], index=index,
                                                          scale=scale[index % total])))
    lw.values[node.output[0]] = Stream(frame=layer.out_shape, index=index, scale=scale,
                                       lo=np.concatenate([s.lo for s in streams]),
                                       hi=np.concatenate([s.hi for s in streams]),
                                       dtype=layer.out_dtype, chain_start=node.output[0], producer=layer.name)


def wire(layers: list, fresh) -> tuple:
    """The IR layers as a DAG ending in the last one: layers that do not feed it are dropped, a
    stream with several readers gets a Fork, and a single input that is the previous layer is
    left implicit (`inputs=()`), so a linear model lowers to the same IR as before DAGs."""
    by_name = {l.name: l for l in layers}
    keep, todo = set(), [layers[-1].name]
    while todo:
        n = todo.pop()
        if n not in keep:
            keep.add(n)
            todo.extend(by_name[n].inputs)
    layers = [l for l in layers if l.name in keep]
    readers: dict[str, int] = {}
    for l in layers:
        for n in l.inputs:
            readers[n] = readers.get(n, 0) + 1
    out, renamed = [], {}
    for l in layers:
        if l.inputs:
            ins = []
            for n in l.inputs:  # each port of a forked stream reads the fork
                ins.append(renamed.get(n, n))
            l = dataclasses.replace(l, inputs=tuple(ins))
        out.append(l)
        if readers.get(l.name, 0) > 1:
            fork = Fork(name=fresh("fork"), in_shape=l.out_shape, in_dtype=l.out_dtype, k=readers[l.name],
                        inputs=(l.name,))
            out.append(fork)
            renamed[l.name] = fork.name
    for i, l in enumerate(out):
        if i and len(l.in_shapes) == 1 and l.inputs == (out[i - 1].name,):
            out[i] = dataclasses.replace(l, inputs=())
    return tuple(out)
