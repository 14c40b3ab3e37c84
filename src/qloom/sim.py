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
    lo, hi = sem.quantize_range(l.out_type.bits, l.out_type.signed, l.narrow, zp)
    q = sem.quantize(x, scale, zp, l.out_type.bits, l.out_type.signed, l.narrow, l.rounding,
                     bipolar=l.out_type.bipolar, dtype=sem.int_dtype(lo, hi))
    q = np.moveaxis(q, 1, -1) if q.ndim > 2 else q
    return q.reshape((q.shape[0],) + tuple(l.in_shape))


def _matvec(l: ops.MatVec, x: np.ndarray) -> np.ndarray:
    acc = sem.matvec(x, l.weights)
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


EXECUTORS: dict[type, Callable[[ops.Layer, np.ndarray], np.ndarray]] = {
    ops.InputQuant: _input_quant,
    ops.MatVec: _matvec,
    ops.Threshold: _threshold,
    ops.SlidingWindow: _sliding_window,
    ops.Pool: _pool,
    ops.LabelSelect: _label_select,
}


def _dispatch(layer: ops.Layer, x: np.ndarray) -> np.ndarray:
    try:
        fn = EXECUTORS[type(layer)]
    except KeyError:
        raise NotImplementedError(f"no simulator for {layer.kind}") from None
    return fn(layer, x)


def run_layer(layer: ops.Layer, x: np.ndarray) -> np.ndarray:
    """One layer's output (int64) for a batch of its input frames."""
    return _dispatch(layer, x).astype(np.int64, copy=False)


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
    numpy type of its IntType, times the chunk stays within 4 * `semantics.CHUNK` bytes
    (cache-sized), so the time per frame does not grow with the batch and memory stays
    bounded (the fused convolutions chunk further). Whole chunks also amortise each layer's
    per-call cost (the weight-cache check, one GEMM call)."""
    layers = graph.layers[start:]
    sizes = [_frame_bytes(l.out_shape, l.out_dtype) for l in layers
             if not isinstance(l, ops.SlidingWindow)]  # im2col: never built
    sizes += [_frame_bytes(l.in_shape, l.in_dtype) for l in layers[:1]]
    return max(1, 4 * sem.CHUNK // max(1, max(sizes, default=1)))


def _frame_bytes(shape, dtype) -> int:
    return int(np.prod(shape)) * sem.int_dtype(dtype.min, dtype.max).itemsize


def _run_chunk(layers, x: np.ndarray, trace: bool) -> tuple[np.ndarray, dict]:
    outputs = {}
    i = 0
    while i < len(layers):
        layer = layers[i]
        if layer.hardware:  # a dense layer reads a whole frame as one vector (same element order)
            x = x.reshape((x.shape[0],) + tuple(layer.in_shape))
        nxt = layers[i + 1] if i + 1 < len(layers) else None
        if isinstance(layer, ops.SlidingWindow) and isinstance(nxt, ops.MatVec):
            acc = sem.conv_matvec(x, nxt.weights, layer.kernel, layer.stride, layer.pad, layer.pad_value)
            x = acc if nxt.thresholds is None else sem.threshold_activation(acc, nxt.thresholds, nxt.out_base, nxt.out_step)
            layer, i = nxt, i + 1
        else:
            x = _dispatch(layer, x)
        if trace:
            outputs[layer.name] = x
        i += 1
    return x, outputs


def execute(graph: Graph, x: np.ndarray, trace: bool = False, start: int = 0):
    """Run the graph on a batch.

    x: float model input (N, C, H, W) if the graph starts with its InputQuant (start=0), or
    integer frames (N, H, W, C) to start at layer `start`. Returns the final integer output
    (N, H, W, C) as int64; with trace=True, also a dict layer name -> that layer's output
    (int64). A SlidingWindow feeding a MatVec runs fused with it (`semantics.conv_matvec`),
    so its im2col tensor is never built and does not appear in the trace. The batch runs in
    cache-sized chunks (`chunk_frames`); inside, values keep their narrowest integer type.
    """
    layers = graph.layers[start:]
    step = chunk_frames(graph, start)
    starts = range(0, max(len(x), 1), step)
    with _blas_threads(1):
        done = [_run_chunk(layers, x[b:b + step], trace) for b in starts]
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
