"""Vectorized, integer-exact execution of a hardware graph on a batch (the golden model).

Every layer dispatches to its function in `qloom.semantics`; nothing here re-derives math.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from qloom import semantics as sem
from qloom.ir import ops
from qloom.ir.graph import Graph


def _input_quant(l: ops.InputQuant, x: np.ndarray) -> np.ndarray:
    # x: float (N, C, H, W) or (N, C) as the QONNX model takes it -> int (N, H, W, C)
    x = np.asarray(x, dtype=np.float32)
    if l.thresholds is not None:  # float thresholds per channel of the (H, W, C) frame
        frames = np.moveaxis(x, 1, -1) if x.ndim > 2 else x
        frames = frames.reshape((x.shape[0],) + tuple(l.in_shape))
        return l.out_base + l.out_step * sem.float_multithreshold(frames, l.thresholds)
    c = x.shape[1]
    scale = np.asarray(l.scale, dtype=np.float32)
    zp = np.asarray(l.zero_point, dtype=np.float32)
    shape = (1, c) + (1,) * (x.ndim - 2)
    scale = scale.reshape(shape) if scale.size > 1 else scale.reshape(())
    zp = zp.reshape(shape) if zp.size > 1 else zp.reshape(())
    dt = sem.quantize_dtype(l.out_type.bits, l.out_type.signed, l.narrow, zp, l.out_type.bipolar)
    q = sem.quantize(x, scale, zp, l.out_type.bits, l.out_type.signed, l.narrow, l.rounding,
                     bipolar=l.out_type.bipolar, dtype=dt)
    q = np.moveaxis(q, 1, -1) if q.ndim > 2 else q
    return q.reshape((q.shape[0],) + tuple(l.in_shape))


def _matvec(l: ops.MatVec, x: np.ndarray) -> np.ndarray:
    acc = sem.matvec(x, l.weights)
    if l.thresholds is None:
        return acc
    return sem.threshold_activation(acc, l.thresholds, l.out_base, l.out_step)


def _depthwise_matvec(l: ops.DepthwiseMatVec, x: np.ndarray) -> np.ndarray:
    acc = sem.depthwise_matvec(x, l.weights)
    if l.thresholds is None:
        return acc
    return sem.threshold_activation(acc, l.thresholds, l.out_base, l.out_step)


def _threshold(l: ops.Threshold, x: np.ndarray) -> np.ndarray:
    return sem.threshold_activation(x, l.thresholds, l.out_base, l.out_step)


def _sliding_window(l: ops.SlidingWindow, x: np.ndarray) -> np.ndarray:
    return sem.sliding_window(x, l.kernel, l.stride, l.pad, l.pad_value)


def _pool(l: ops.Pool, x: np.ndarray) -> np.ndarray:
    return sem.pool(x, l.mode, l.kernel, l.stride, l.pad)


def _label_select(l: ops.LabelSelect, x: np.ndarray) -> np.ndarray:
    return sem.label_select(x, l.k)


def _fork(l: ops.Fork, x: np.ndarray) -> np.ndarray:
    return x  # every reader gets the same frames (nothing downstream writes into an input)


def _add_streams(l: ops.AddStreams, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return sem.add_streams(a, b, l.shift_a, l.shift_b)


def _concat(l: ops.Concat, *xs: np.ndarray) -> np.ndarray:
    return sem.concat(xs)


EXECUTORS: dict[type, Callable[..., np.ndarray]] = {
    ops.InputQuant: _input_quant,
    ops.MatVec: _matvec,
    ops.Threshold: _threshold,
    ops.SlidingWindow: _sliding_window,
    ops.Pool: _pool,
    ops.LabelSelect: _label_select,
    ops.Fork: _fork,
    ops.AddStreams: _add_streams,
    ops.Concat: _concat,
    ops.DepthwiseMatVec: _depthwise_matvec,
}


_ACCUMULATE = {ops.MatVec: sem.matvec, ops.DepthwiseMatVec: sem.depthwise_matvec}


def _dispatch(layer: ops.Layer, x: np.ndarray, *more: np.ndarray) -> np.ndarray:
    try:
        fn = EXECUTORS[type(layer)]
    except KeyError:
        raise NotImplementedError(f"no simulator for {layer.kind}") from None
    return fn(layer, x, *more)


def run_layer(layer: ops.Layer, x: np.ndarray, *more: np.ndarray) -> np.ndarray:
    """One layer's output (int64) for a batch of its input frames (one array per input port)."""
    return _dispatch(layer, x, *more).astype(np.int64, copy=False)


_CONTROLLER = None


def _blas_threads(n: int):
    """BLAS limited to n threads: a multi-threaded GEMM on a small chunk waits for its other
    threads, which on a loaded machine costs 10-30x (measured); running chunks on 2 Python
    threads instead measured slower than one."""
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController  # a dependency of scikit-learn

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=n, user_api="blas")


def chunk_frames(graph: Graph, start: int = 0) -> int:
    """Frames per chunk: the largest per-frame tensor of the graph, in bytes of the narrowest
    numpy type of its IntType, times the chunk stays within 8 * `semantics.CHUNK` bytes
    (2 MB: a core's L2 here), so the time per frame does not grow with the batch and memory
    stays bounded (the fused convolutions chunk further). Whole chunks also amortise each
    layer's per-call cost (the cache lookups, one GEMM call, ~10 numpy calls): where frames
    are small (a dense net), a chunk has at least `MIN_FRAMES` frames while that stays within
    4x the budget (measured: TFC 1.44 us/frame at 668 frames, 1.28 at 2672; CNV and the
    depthwise net fastest at this budget, slower at 4x)."""
    layers = graph.layers[start:]
    sizes = [_frame_bytes(l.out_shape, l.out_dtype) for l in layers
             if not isinstance(l, ops.SlidingWindow)]  # im2col: never built
    sizes += [_frame_bytes(l.in_shape, l.in_dtype) for l in layers[:1]]
    biggest = max(1, max(sizes, default=1))
    frames = 8 * sem.CHUNK // biggest
    if MIN_FRAMES * biggest <= 32 * sem.CHUNK:
        frames = max(frames, MIN_FRAMES)
    return max(1, frames)


MIN_FRAMES = 2048


def _frame_bytes(shape, dtype) -> int:
    return int(np.prod(shape)) * sem.int_dtype(dtype.min, dtype.max).itemsize


class _Plan:
    """Which layers of a run to compute, what each reads, and when a stream can be dropped.

    The given streams: the graph input (named None) when starting at layer 0, else the output
    of layer start - 1 (the frames passed in), plus `feeds` (layer name -> its output frames,
    used instead of computing it). Only what the stop layer depends on is computed, walking
    back until given streams (a branch from before `start` needs its stream in `feeds`). A
    SlidingWindow whose reader is a computed MatVec (DepthwiseMatVec) runs fused into it
    (`semantics.conv_matvec`, `semantics.depthwise_conv`). Without a trace, a max Pool that is
    the only reader of a thresholded MatVec (DepthwiseMatVec) runs that layer's activation after
    pooling its accumulators (`semantics.pooled_activation`, where `semantics.pool_commutes`):
    the same outputs from a fraction of the threshold work; the MatVec's own output is then
    never formed (a trace shows every layer's output, so it runs them in order).
    """

    def __init__(self, graph: Graph, start: int, stop: int | None, feeds, trace: bool = False) -> None:
        layers = graph.layers
        names = [l.name for l in layers]
        stop = len(layers) - 1 if stop is None else stop
        self.x_name = names[start - 1] if start else None
        given = set(feeds or ()) | {self.x_name}
        src = {n: graph.input_names(n) or (None,) for n in names}
        index = {n: i for i, n in enumerate(names)}
        need, early, todo = set(), [], ([names[stop]] if stop >= 0 else [])
        while todo:
            n = todo.pop()
            if n in given or n in need:
                continue
            if n is None:
                raise ValueError(f"execute from layer {start}: the stream of {early[0] if early else names[0]} "
                                 f"(before layer {start}) is needed; give its frames in feeds")
            if index[n] < start:
                early.append(n)
            need.add(n)
            todo.extend(reversed(src[n]))
        self.fused: dict[str, ops.SlidingWindow] = {}
        for n in need:
            p = src[n][0]
            if isinstance(graph.layer(n), (ops.MatVec, ops.DepthwiseMatVec)) and p in need and isinstance(graph.layer(p), ops.SlidingWindow):
                self.fused[n] = graph.layer(p)
        self.pooled: dict[str, ops.MatVec | ops.DepthwiseMatVec] = {}  # a Pool -> the layer whose activation it runs
        for n in () if trace else need:
            pool, p = graph.layer(n), src[n][0]
            if not (isinstance(pool, ops.Pool) and p in need and p != self.out_name(names, stop)):
                continue
            mv = graph.layer(p)
            readers = [m for m in need if p in src[m]]
            if (isinstance(mv, (ops.MatVec, ops.DepthwiseMatVec)) and mv.thresholds is not None and readers == [n]
                    and sem.pool_commutes(pool.mode, pool.kernel, pool.pad, mv.out_step)):
                self.pooled[n] = mv
        self.raw = {mv.name for mv in self.pooled.values()}  # these output their accumulators
        skip = {w.name for w in self.fused.values()}
        self.steps = [(l, src[self.fused[l.name].name] if l.name in self.fused else src[l.name])
                      for l in layers[:stop + 1] if l.name in need and l.name not in skip]
        self.last_use = {n: k for k, (_, ins) in enumerate(self.steps) for n in ins}
        self.out = self.out_name(names, stop)

    @staticmethod
    def out_name(names: list[str], stop: int) -> str | None:
        return names[stop] if stop >= 0 else None


def _run_chunk(plan: _Plan, x: np.ndarray, feeds: dict, trace: bool) -> tuple[np.ndarray, dict]:
    values = {**feeds, plan.x_name: x}
    outputs = {}
    for k, (layer, ins) in enumerate(plan.steps):
        if layer.name in plan.fused:
            sw = plan.fused[layer.name]
            v = values[ins[0]]
            v = v.reshape((v.shape[0],) + tuple(sw.in_shape))
            conv = sem.depthwise_conv if isinstance(layer, ops.DepthwiseMatVec) else sem.conv_matvec
            acc = conv(v, layer.weights, sw.kernel, sw.stride, sw.pad, sw.pad_value)
            y = acc if layer.thresholds is None or layer.name in plan.raw else sem.threshold_activation(
                acc, layer.thresholds, layer.out_base, layer.out_step)
        else:
            xs = [values[n] for n in ins]
            if layer.hardware:  # a dense layer reads a whole frame as one vector (same element order)
                xs = [v.reshape((v.shape[0],) + tuple(s)) for v, s in zip(xs, layer.in_shapes)]
            if layer.name in plan.pooled:  # a max Pool running its reader's activation
                mv = plan.pooled[layer.name]
                y = sem.pooled_activation(xs[0], mv.thresholds, mv.out_base, mv.out_step, layer.kernel, layer.stride,
                                          layer.pad)
            elif layer.name in plan.raw:
                y = _ACCUMULATE[type(layer)](*xs, layer.weights)
            else:
                y = _dispatch(layer, *xs)
        values[layer.name] = y
        if trace:
            outputs[layer.name] = y
        for n in set(ins):  # drop a stream once its last reader ran
            if plan.last_use.get(n) == k and n != plan.out:
                values.pop(n, None)
    return values[plan.out], outputs


def execute(graph: Graph, x: np.ndarray, trace: bool = False, start: int = 0, *,
            stop: int | None = None, feeds: dict[str, np.ndarray] | None = None):
    """Run the graph on a batch, following its DAG.

    x: float model input (N, C, H, W) if the graph starts with its InputQuant (start=0), or
    integer frames (N, H, W, C): the output of layer start - 1, to start at layer `start`.
    `stop` (a layer index): end there (its output is returned); `feeds`: layer name -> frames
    used as that layer's output instead of computing it (e.g. a reference's, or a branch's
    stream from before `start`). Returns the final integer output (N, H, W, C) as int64; with
    trace=True, also a dict layer name -> that layer's output (int64) for every layer computed.
    A SlidingWindow feeding a MatVec or DepthwiseMatVec runs fused with it (`semantics.conv_matvec`,
    `semantics.depthwise_conv`), so its
    im2col tensor is never built and does not appear in the trace; without a trace, a max Pool
    reading a thresholded MatVec pools its accumulators before the activation (`_Plan`). The
    batch runs in cache-sized chunks (`chunk_frames`); inside, values keep their narrowest
    integer type.
    """
    plan = _Plan(graph, start, stop, feeds, trace)
    feeds = feeds or {}
    step = chunk_frames(graph, start)
    starts = range(0, max(len(x), 1), step)
    with _blas_threads(1), sem.checked_once():  # the layers' arrays are not changed during the run
        done = [_run_chunk(plan, x[b:b + step], {k: v[b:b + step] for k, v in feeds.items()}, trace) for b in starts]
    outs, traces = [d[0] for d in done], [d[1] for d in done]
    out = _join(outs)
    if not trace:
        return out
    return out, {k: _join([t[k] for t in traces]) for k in traces[0]}


def _join(parts: list[np.ndarray]) -> np.ndarray:
    """The chunks' outputs as one int64 array (the simulator's public type)."""
    if len(parts) == 1:
        return parts[0].astype(np.int64, copy=False)
    out = np.empty((sum(len(p) for p in parts),) + parts[0].shape[1:], dtype=np.int64)
    return np.concatenate(parts, out=out, casting="unsafe")


def logits(graph: Graph, int_out: np.ndarray) -> np.ndarray:
    """Float logits (N, C) from the integer output of the layer feeding the head, in the QONNX
    tensor's element order (a feature map is NCHW there, channels-last in the stream)."""
    flat = int_out.reshape(int_out.shape[0], -1).astype(np.float64)
    return graph.output.to_onnx(flat * graph.output.scale + graph.output.bias)


def classify(graph: Graph, x: np.ndarray, batch: int = 4096) -> tuple[np.ndarray, np.ndarray | None]:
    """Predicted labels (N,) and logits (N, C) (None when the graph ends in a LabelSelect).

    Batches bound the int64 outputs kept; `execute` chunks further inside.
    """
    labels, all_logits = [], []
    for i in range(0, len(x), batch):
        out = execute(graph, x[i:i + batch])
        if graph.ends_in_labels:
            labels.append(out.reshape(out.shape[0], -1)[:, 0])
        else:
            lg = logits(graph, out)
            all_logits.append(lg)
            labels.append(np.argmax(lg, axis=1))
    return np.concatenate(labels), (np.concatenate(all_logits) if all_logits else None)
