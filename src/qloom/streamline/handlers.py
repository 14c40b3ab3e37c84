"""One handler per ONNX op type: how it changes the lowering state (`lower.Lowering`)."""

from __future__ import annotations

import os

import numpy as np
from onnx import helper

from qloom import semantics as sem
from qloom.frontend import unsupported
from qloom.errors import QloomError
from qloom.ir import DepthwiseMatVec, IntType, MatVec, Pool, PoolMode, SlidingWindow
from qloom.streamline import dag
from qloom.streamline.chain import ChainStep
from qloom.streamline.consts import attr, eval_node, quant_params, quantize_const
from qloom.streamline.lower import Lowering, weight_matrix
from qloom.streamline.values import QConst, Stream, canonical_index, flatten_frame, is_canonical


def _plain(lw: Lowering, node, s: Stream) -> Stream:
    if s.chain:
        raise unsupported(node, "float ops between the previous quantizer and this layer "
                                f"({', '.join(st.node.op_type for st in s.chain)}): put a quantizer before it")
    return s


def _acc_name(node) -> str:
    """The accumulator tensor: the node's output, or a new name when a bias Add follows it."""
    return node.output[0] if len(node.input) < 3 else f"{node.output[0]}__acc"


def _with_bias(node, out: Stream, bias: np.ndarray | None) -> Stream:
    """A Gemm/Conv bias becomes the first step of the pending float chain (an Add node)."""
    if bias is None:
        return out
    name = f"{node.output[0]}__bias"
    add = helper.make_node("Add", [out.chain_start, name], [node.output[0]], name=f"{node.name}_bias")
    return out.with_(chain=(ChainStep(add, {name: bias.astype(np.float32)}),))


def _add_matvec(lw: Lowering, node, s: Stream, w_int: np.ndarray, w_scale: np.ndarray, w_dtype: IntType,
                in_shape, frame_out, index_out, start: str) -> Stream:
    """Append a MatVec (MH, MW) reading frames `in_shape`; the output is a pending accumulator."""
    in_scale = np.unique(s.scale)
    if in_scale.size != 1:  # e.g. a concat of maps on different grids
        w_int, w_dtype, in_scale = _align_columns(node, s, w_int, w_dtype)
    lo, hi = sem.accumulator_bounds_per_row(w_int, int(s.lo.min()), int(s.hi.max()))
    layer = lw.add_layer(MatVec(name=lw.fresh("mvu"), in_shape=in_shape, in_dtype=s.dtype, weights=w_int,
                                w_dtype=w_dtype, acc_dtype=IntType.for_range(int(lo.min()), int(hi.max()))), s)
    return Stream(frame=frame_out, index=index_out, scale=in_scale[0] * w_scale, lo=lo, hi=hi,
                  dtype=layer.acc_dtype, chain_start=start, pending_matvec=True, producer=layer.name)


def _align_columns(node, s: Stream, w_int: np.ndarray, w_dtype: IntType):
    """Per-channel input scales a power of two apart: the shifts go into the weight columns
    (column j reads channel j % C), so the accumulator is exact on the finest input grid."""
    finest = float(s.scale.min())
    ratio = s.scale / finest
    mant, exp = np.frexp(ratio)
    if finest <= 0 or np.any(mant != 0.5):
        raise unsupported(node, "its input has per-channel scales that are not powers of two apart; weight "
                                "layers need one input scale (quantize the input with one quantizer)")
    shift = (exp - 1).astype(np.int64)
    w = w_int.astype(np.int64) << shift[np.arange(w_int.shape[1]) % s.scale.size][None, :]
    if not w_dtype.contains(w):
        w_dtype = IntType.for_range(min(0, int(w.min())), max(0, int(w.max())))
    return w, w_dtype, np.array([finest])


def _per_out(node, scale: np.ndarray, axis: int) -> np.ndarray:
    """Weight scale per output channel (must not vary along the reduction axes)."""
    moved = np.moveaxis(scale, axis, 0).reshape(scale.shape[axis], -1)
    if np.any(moved != moved[:, :1]):
        raise unsupported(node, "weight scales vary along the input axis (only per-output-channel scales)")
    return moved[:, 0]


def matmul(lw: Lowering, node) -> None:
    s = _plain(lw, node, flatten_frame(lw.stream(node.input[0], node)))
    if s.index.ndim != 1:
        raise unsupported(node, "MatMul on a tensor of rank > 2 (flatten it first)")
    w = weight_matrix(node, lw.values.get(node.input[1]))
    wq, ws = w.int_value, w.scale
    alpha, beta = 1.0, 1.0
    if node.op_type == "Gemm":
        if attr(node, "transA", 0):
            raise unsupported(node, "transA=1")
        if attr(node, "transB", 0):
            wq, ws = wq.T, ws.T
        alpha, beta = float(attr(node, "alpha", 1.0)), float(attr(node, "beta", 1.0))
    k, m = wq.shape
    w_stream = np.zeros((m, k), dtype=np.int64)
    w_stream[:, s.index] = wq.T  # columns in stream order
    out = _add_matvec(lw, node, s, w_stream, _per_out(node, ws, 1) * alpha, w.dtype, (1, 1, k), (1, 1, m),
                      np.arange(m), _acc_name(node))
    bias = np.broadcast_to(lw.const(node.input[2], node) * beta, (1, m)) if len(node.input) > 2 else None
    lw.values[node.output[0]] = _with_bias(node, out, bias)


# How a depthwise Conv (group == C_in == C_out) lowers: "vvau" (default), SlidingWindow ->
# DepthwiseMatVec, one K-vector of weights per channel; "block-diagonal", the dense (C, K*C)
# MatVec with zeros off the diagonal that qloom built before: exact too, kept only so that
# benches and tests can compare the two (bench/bench_dw.py). Channel multipliers > 1
# (C_out = m * C_in) always take the block-diagonal path.
DEPTHWISE_ENV = "QLOOM_DEPTHWISE_LOWERING"
DEPTHWISE_LOWERINGS = ("vvau", "block-diagonal")


def depthwise_lowering() -> str:
    value = os.environ.get(DEPTHWISE_ENV, "vvau").strip().lower() or "vvau"
    if value not in DEPTHWISE_LOWERINGS:
        raise QloomError(f"{DEPTHWISE_ENV}={value!r}: valid values are {', '.join(DEPTHWISE_LOWERINGS)} "
                         "(unset it for the default, vvau)")
    return value


def conv(lw: Lowering, node) -> None:
    s = _plain(lw, node, lw.stream(node.input[0], node))
    if not is_canonical(s):
        raise unsupported(node, "its input is not in NCHW layout")
    w = weight_matrix(node, lw.values.get(node.input[1]))
    oc, icg, kh, kw = w.int_value.shape
    h, wd, c = s.frame
    group = int(attr(node, "group", 1))
    if any(d != 1 for d in attr(node, "dilations", [1, 1])):
        raise unsupported(node, "dilation > 1")
    if attr(node, "auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        raise unsupported(node, "auto_pad (give explicit pads)")
    pt, pl, pb, pr = attr(node, "pads", [0, 0, 0, 0])
    stride = tuple(attr(node, "strides", [1, 1]))
    wi = w.int_value
    depthwise = False
    if group != 1:
        if not (group == c and icg == 1 and oc % c == 0):
            raise unsupported(node, f"group={group}: only group=1 and depthwise convolutions")
        depthwise = oc == c and depthwise_lowering() == "vvau"
        if not depthwise:  # block-diagonal: output channel o reads input channel o // multiplier
            dense = np.zeros((oc, c, kh, kw), dtype=np.int64)
            dense[np.arange(oc), np.arange(oc) // (oc // c)] = wi[:, 0]
            wi = dense
    pad = (pt, pl, pb, pr)
    oh, ow = (h + pt + pb - kh) // stride[0] + 1, (wd + pl + pr - kw) // stride[1] + 1
    padded = any(pad)
    if (kh, kw, stride) != (1, 1, (1, 1)) or padded:
        swg = lw.add_layer(SlidingWindow(name=lw.fresh("swg"), in_shape=s.frame, in_dtype=s.dtype, kernel=(kh, kw),
                                         stride=stride, pad=pad, pad_value=0), s)
        # zero padding of a bipolar input: the window carries {-1, 0, +1} (INT2), exactly
        s = s.with_(dtype=swg.out_dtype, producer=swg.name, pending_matvec=False)
    w_scale = _per_out(node, w.scale, 0)
    if depthwise:
        out = _add_depthwise(lw, s, wi[:, 0].reshape(oc, kh * kw), w_scale, w.dtype, (oh, ow, kh * kw * c), padded,
                             _acc_name(node))
    else:
        w_stream = wi.transpose(0, 2, 3, 1).reshape(oc, -1)  # columns (kh, kw, c)
        out = _add_matvec(lw, node, s, w_stream, w_scale, w.dtype, (oh, ow, kh * kw * c),
                          (oh, ow, oc), canonical_index(oc, oh, ow), _acc_name(node))
    bias = lw.const(node.input[2], node).reshape(1, oc, 1, 1) if len(node.input) > 2 else None
    lw.values[node.output[0]] = _with_bias(node, out, bias)


def _add_depthwise(lw: Lowering, s: Stream, w_int: np.ndarray, w_scale: np.ndarray, w_dtype: IntType, in_shape,
                   padded: bool, start: str) -> Stream:
    """Append a DepthwiseMatVec (C, K) reading windows `in_shape` (H, W, K*C); the output is a
    pending accumulator. Channel c reads only input channel c, so per-channel input scales need
    no alignment (unlike a MatVec): they multiply into that channel's output scale, and the
    bounds are per channel (a padded window also holds 0)."""
    lo_in = np.minimum(s.lo, 0) if padded else s.lo
    hi_in = np.maximum(s.hi, 0) if padded else s.hi
    w = w_int.astype(np.int64)
    pos, neg = np.clip(w, 0, None).sum(axis=1), np.clip(w, None, 0).sum(axis=1)
    lo = (pos * lo_in + neg * hi_in).astype(np.int64)
    hi = (pos * hi_in + neg * lo_in).astype(np.int64)
    layer = lw.add_layer(DepthwiseMatVec(name=lw.fresh("vvau"), in_shape=in_shape, in_dtype=s.dtype, weights=w,
                                         w_dtype=w_dtype,
                                         acc_dtype=IntType.for_range(int(lo.min()), int(hi.max()))), s)
    oh, ow, _ = in_shape
    c = w.shape[0]
    return Stream(frame=(oh, ow, c), index=canonical_index(c, oh, ow), scale=s.scale * w_scale, lo=lo, hi=hi,
                  dtype=layer.acc_dtype, chain_start=start, pending_matvec=True, producer=layer.name)


def pool(lw: Lowering, node) -> None:
    s = _plain(lw, node, lw.stream(node.input[0], node))
    if not is_canonical(s):
        raise unsupported(node, "its input is not in NCHW layout")
    h, w, c = s.frame
    if node.op_type == "GlobalAveragePool":
        kernel, stride, pad = (h, w), (1, 1), (0, 0, 0, 0)
    else:
        kernel = tuple(attr(node, "kernel_shape"))
        stride = tuple(attr(node, "strides", [1, 1]))
        pad = tuple(attr(node, "pads", [0, 0, 0, 0]))
        if attr(node, "ceil_mode", 0) or any(d != 1 for d in attr(node, "dilations", [1, 1])):
            raise unsupported(node, "ceil_mode=1 or dilation > 1")
    mode = PoolMode.MAX if node.op_type == "MaxPool" else PoolMode.SUM
    if mode is PoolMode.MAX and np.any(s.scale <= 0):
        raise unsupported(node, "max pool over a negatively scaled tensor")
    if mode is PoolMode.SUM and any(pad) and not attr(node, "count_include_pad", 0):
        raise unsupported(node, "padded average pool with count_include_pad=0")
    if s.pending_matvec:  # pool the accumulators: the MatVec keeps no activation
        s = s.with_(pending_matvec=False)
    layer = lw.add_layer(Pool(name=lw.fresh("pool"), in_shape=s.frame, in_dtype=s.dtype, mode=mode, kernel=kernel,
                              stride=stride, pad=pad), s)
    oh, ow, _ = layer.out_shape
    n = kernel[0] * kernel[1]
    scale = s.scale if mode is PoolMode.MAX else s.scale / n
    lo = s.lo if mode is PoolMode.MAX else np.minimum(0, s.lo * n)
    hi = s.hi if mode is PoolMode.MAX else s.hi * n
    lw.values[node.output[0]] = Stream(frame=(oh, ow, c), index=canonical_index(c, oh, ow), scale=scale,
                                       lo=lo, hi=hi, dtype=layer.out_dtype, chain_start=node.output[0],
                                       producer=layer.name)


def elementwise(lw: Lowering, node) -> None:
    ins = [lw.values.get(i) for i in node.input]
    streams = [v for v in ins if isinstance(v, Stream)]
    if not streams:
        return constant_node(lw, node)
    if len(streams) > 1:
        if node.op_type == "Add" and len(streams) == 2:
            return dag.add_streams(lw, node)
        raise unsupported(node, "it combines two activation tensors (only an Add of two quantized streams, "
                                "a residual add, is supported)")
    s = streams[0]
    if s.index.ndim not in (1, 3) or (s.index.ndim == 3 and not is_canonical(s)):
        raise unsupported(node, "elementwise op on a tensor that is neither (N, C) nor NCHW")
    consts = {}
    for name, v in zip(node.input, ins):
        if isinstance(v, Stream) or not name:
            continue
        c = np.asarray(lw.const(name, node))
        if node.op_type != "BatchNormalization" and c.size > 1:
            # one value per stream channel, laid out like the chain's evaluation tensor
            pc = lw.per_channel(c.astype(np.float64), s, node)
            c = pc[lw.eval_order(s)].reshape(lw.eval_shape(s)).astype(c.dtype)
        consts[name] = c
    lw.values[node.output[0]] = s.with_(chain=s.chain + (ChainStep(node, consts),))


def layout(lw: Lowering, node) -> None:
    v = lw.values.get(node.input[0])
    if not isinstance(v, Stream):
        return constant_node(lw, node)
    out_shape = lw.onnx_shape(node.output[0])
    if node.op_type == "Transpose":
        perm = list(attr(node, "perm"))
        if perm[0] != 0:
            raise unsupported(node, "a transpose that moves the batch axis")
        index = v.index.transpose([p - 1 for p in perm[1:]])
    else:
        index = v.index.reshape(out_shape)
    flatten = index.ndim == 1 and v.index.ndim != 1
    if flatten:
        if v.pending_matvec:
            raise unsupported(node, "flattening an accumulator that is not quantized yet")
        chain = _flatten_chain(v.chain, index % v.channels, v.channels)
        v = flatten_frame(v).with_(chain=chain)
    if not v.chain:  # the layout's output is the tensor the next float op reads
        lw.values[node.output[0]] = v.with_(index=index, chain_start=node.output[0])
        return
    v2 = v.with_(index=index)
    moved = lw.eval_shape(v2) != lw.eval_shape(v) or not np.array_equal(lw.eval_order(v2), lw.eval_order(v))
    if moved and not flatten:
        raise unsupported(node, "a layout change between float ops that moves channels (quantize before it)")
    # the chain's evaluation tensor is per stream channel: the layout is an identity there
    ident = helper.make_node("Identity", [v.chain[-1].node.output[0]], [node.output[0]], name=f"{node.name}_chain")
    lw.values[node.output[0]] = v2.with_(chain=v.chain + (ChainStep(ident),))


def _flatten_chain(chain: tuple[ChainStep, ...], pick: np.ndarray, channels: int) -> tuple[ChainStep, ...]:
    """The pending float ops re-laid out for a flattened frame (every element its own channel).

    The chain is evaluated on one tensor per stream channel: before the flatten (M, C[, 1, 1]),
    after it (M, H*W*C), element i of the new layout in old channel pick[i]. Per-channel
    constants are gathered the same way; scalars stay scalars.
    """
    out = []
    for step in chain:
        consts = {}
        for name, c in step.consts.items():
            c = np.asarray(c)
            per_channel = c.size == channels and (c.size > 1 or step.node.op_type == "BatchNormalization")
            consts[name] = c.reshape(-1)[pick] if per_channel else c.reshape(())
        out.append(ChainStep(step.node, consts))
    return tuple(out)


def quantizer(lw: Lowering, node) -> None:
    v = lw.values.get(node.input[0])
    if isinstance(v, Stream) and v.is_float:
        return lw.input_quant(node, v)
    if isinstance(v, Stream):
        return lw.quantize_stream(node, v)
    if node.op_type in ("Quant", "IntQuant", "BipolarQuant"):
        x = lw.const(node.input[0], node)
        p = quant_params(node, lambda n: lw.const(n, node))
        value = eval_node(lw.model, node, {i: lw.const(i, node) for i in node.input if i})[node.output[0]]
        lw.values[node.output[0]] = quantize_const(node, x, p, value)
        return
    constant_node(lw, node)


def constant_node(lw: Lowering, node) -> None:
    ins = {i: lw.const(i, node) for i in node.input if i}
    v0 = lw.values.get(node.input[0])
    outs = eval_node(lw.model, node, ins)
    if isinstance(v0, QConst) and node.op_type in ("Transpose", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"):
        iv = eval_node(lw.model, node, {**ins, node.input[0]: v0.int_value.astype(np.float32)})[node.output[0]]
        sc = eval_node(lw.model, node, {**ins, node.input[0]: v0.scale.astype(np.float32)})[node.output[0]]
        lw.values[node.output[0]] = QConst(outs[node.output[0]], iv.astype(np.int64), sc.astype(np.float64), v0.dtype)
        return
    lw.values.update(outs)


def head(lw: Lowering, node) -> None:
    s = lw.stream(node.input[0], node)
    if node.output[0] not in [o.name for o in lw.model.graph.output] and node.op_type != "TopK":
        raise unsupported(node, "ArgMax/TopK must end the model")
    if node.op_type == "Softmax":
        lw.softmax = True
        lw.values[node.output[0]] = s
        return
    k = 1 if node.op_type == "ArgMax" else int(np.asarray(lw.const(node.input[1], node)).reshape(-1)[0])
    if node.op_type == "TopK" and not attr(node, "largest", 1):
        raise unsupported(node, "TopK with largest=0")
    lw.head = (node, k)
    lw.values[node.output[-1]] = s


HANDLERS = {
    "MatMul": matmul, "Gemm": matmul, "Conv": conv,
    "MaxPool": pool, "AveragePool": pool, "GlobalAveragePool": pool,
    **{op: elementwise for op in ("Add", "Sub", "Mul", "Div", "BatchNormalization", "Relu")},
    **{op: layout for op in ("Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Identity", "Dropout")},
    **{op: quantizer for op in ("Quant", "IntQuant", "BipolarQuant", "MultiThreshold", "Trunc")},
    "Softmax": head, "ArgMax": head, "TopK": head,
    "Concat": dag.concat,
}
