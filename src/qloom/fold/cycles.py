"""Cycle model per frame: each layer's cycles are its hardware interface's
(`qloom.hw.interface`, the formulas the RTL implements).

The pipeline's initiation interval (cycles per frame) is the largest of these and of the
words per frame on the top's DMA ports (`dma_geometry`: one word per clock each side); fps
is clock / II. Latency is modelled in `latency_cycles` (see there); the RTL testbench will
measure the real figure.

Over a DAG (`schedule`) a layer starts when its latest input does (a join waits for its
slowest port), so the latency is the critical path's; `edge_fifos` sizes the FIFO of every
edge from the same schedule (a join's faster port, a skip path, buffers the words that
arrive while the join waits for its slower one), puts it on the wide side of the edge's
width converter (`fifo_par`: a converter never throttles a burst, so it needs no cycle
model of its own) and resolves its memory style (`fold.memstyle.fifo_mem_style`); the top
generator builds and the cost model counts exactly these records.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from qloom.errors import QloomError
from qloom.fold.memstyle import fifo_mem_style
from qloom.fold.model import cost_model
from qloom.hw import fifo_depth, interface, layer_cycles, port_words
from qloom.hw.interface import FIFO_MIN_FILL, FIFO_SLACK
from qloom.ir import (AddStreams, Concat, DepthwiseMatVec, Fork, Graph, LabelSelect, Layer, MatVec, MemStyle, Pool,
                      SlidingWindow, Threshold)


DMA_WIDTHS = tuple(8 << i for i in range(8))  # what the Xilinx AXI DMA takes: 8 .. 1024 bits
DMA_CONVERTER_DEPTH = 2  # the input converter's output register and its FIFO's


@dataclass(frozen=True)
class DmaSide:
    """One DMA port: `width`-bit words of `per_word` elements; `words` per frame; the layer's
    stream carries `par` elements per word (a width converter sits between when they differ)."""

    width: int
    per_word: int
    words: int
    par: int
    elems: int
    bits: int

    @property
    def converter(self) -> bool:
        return self.per_word != self.par


def _layers_ii(graph: Graph) -> int:
    return max((layer_cycles(l) for l in graph.hardware_layers), default=0)


def dma_geometry(graph: Graph, in_width: int | None = None) -> tuple[DmaSide, DmaSide]:
    """The top's DMA input and output ports.

    Input: the first layer's natural word (SIMD/PE elements) when that is a power of two
    from 8 to 1024 bits (no converter); otherwise, or with `in_width` forced, words of
    floor(W / bits) elements packed densely, W the smallest power of two whose words per
    frame do not exceed the layers' II (capped at 1024). Output: the last layer's word
    zero-padded to a power of two, or narrowed by a divisor of its PE when wider than 1024.
    """
    hw = graph.hardware_layers
    if not hw:
        raise QloomError(f"graph {graph.name} has no hardware layers: no DMA ports")
    first, last = hw[0], hw[-1]
    b, par, e = first.in_dtype.bits, interface(first).in_par, math.prod(first.in_shape)
    ii = _layers_ii(graph)
    if in_width is not None:
        if in_width not in DMA_WIDTHS or in_width < b:
            raise QloomError(f"DMA input width {in_width}: use a power of two from {max(8, b)} to 1024 bits "
                             f"(elements of {first.name}'s input are {b} bits)")
        w = in_width
    elif par * b in DMA_WIDTHS:
        w = par * b
    else:
        fits = [x for x in DMA_WIDTHS if x >= b and -(-e // (x // b)) <= ii]
        w = fits[0] if fits else DMA_WIDTHS[-1]
    k = par if w == par * b else w // b
    din = DmaSide(w, k, -(-e // k), par, e, b)
    b, par, e = last.out_dtype.bits, interface(last).out_par, math.prod(last.out_shape)
    if b > DMA_WIDTHS[-1]:
        raise QloomError(f"{last.name}: {b}-bit output elements do not fit a 1024-bit DMA word")
    d = max(x for x in range(1, par + 1) if par % x == 0 and x * b <= DMA_WIDTHS[-1])
    w = next(x for x in DMA_WIDTHS if x >= d * b)
    return din, DmaSide(w, d, e // d, par, e, b)


def dma_ii(graph: Graph, in_width: int | None = None) -> int:
    """The pipeline's II with its DMA ports: max(layers, DMA words per frame in, out)."""
    din, dout = dma_geometry(graph, in_width)
    return max(_layers_ii(graph), din.words, dout.words)


def tlast_queue_depth(graph: Graph, in_width: int | None = None, coeffs=None) -> int:
    """Flags in qloom_tlast's queue: the frames in flight between a frame's last input word
    and its last output word, bounded by twice the modelled latency over the II, plus 2 (a
    queue too small would only stall the input; the RTL benches measure the II)."""
    return 2 * math.ceil(latency_cycles(graph, coeffs) / max(1, dma_ii(graph, in_width))) + 2


def _head_tail(layer: Layer) -> tuple[int, int]:
    """(input words needed before the first output, cycles from the last input to the last
    output) of one layer."""
    h, w, c = layer.in_shape
    io = interface(layer)
    if isinstance(layer, MatVec):
        sf, nf = layer.mw // layer.simd, layer.mh // layer.pe
        # the first PE group needs a whole input vector; after the last input word the
        # remaining NF-1 neuron folds of the last vector still run, SF cycles each
        return sf, (nf - 1) * sf + 1
    if isinstance(layer, DepthwiseMatVec):
        # a pixel's first output word needs its last kernel fold's first word; the last
        # input word is the last output's
        cf, kf = layer.channels // layer.pe, layer.k // layer.simd
        return (kf - 1) * cf + 1, 1
    if isinstance(layer, SlidingWindow):
        # qloom_swg double-buffers whole frames: reading starts once the frame is in, and
        # every window of the frame is read after its last input word
        return io.in_words, io.out_words
    if isinstance(layer, Pool):
        kh, kw = layer.kernel
        words = c // layer.pe
        return ((kh - 1) * w + kw) * words, words
    if isinstance(layer, Threshold):
        return 1, 1
    if isinstance(layer, LabelSelect):
        return c, layer.k  # top-k is known after the last element
    if isinstance(layer, (Fork, AddStreams, Concat)):
        return 1, 1  # word by word (a join once every port has its word: `schedule`)
    raise NotImplementedError(f"no latency model for {layer.kind}")


def schedule(graph: Graph, coeffs=None) -> dict[str, tuple[float, float]]:
    """Hardware layer name -> (first, last) cycle of its output words for one frame, pipeline
    empty (the model of `latency_cycles`). A layer reading several streams starts from the
    latest first word and the latest last word of its inputs."""
    hw = graph.hardware_layers
    if not hw:
        return {}
    din, _ = dma_geometry(graph)
    # the DMA words arrive one per clock; a width converter passes them on at that rate
    dma_first = float(DMA_CONVERTER_DEPTH) if din.converter else 0.0
    dma_last = dma_first + float(max(interface(hw[0]).in_words, din.words) - 1)
    model = cost_model(coeffs)
    times: dict[str, tuple[float, float]] = {}
    for layer in hw:
        ports = [times[p] for p in graph.input_names(layer.name) if p in times]
        first_in = max((f for f, _ in ports), default=dma_first)
        last_in = max((last for _, last in ports), default=dma_last)
        need, tail = _head_tail(layer)
        depth = model.depth(layer)
        n_in = interface(layer).in_words
        rate = (last_in - first_in) / max(1, n_in - 1)  # cycles between input words
        first_out = first_in + (need - 1) * rate + 1 + depth
        last_out = max(last_in + tail, first_in + layer_cycles(layer) - 1) + depth
        times[layer.name] = (first_out, max(last_out, first_out))
    return times


def latency_cycles(graph: Graph, coeffs=None) -> int:
    """Cycles from the first input word of a frame to its last output word, pipeline empty.

    Model (an estimate, to be checked against RTL simulation): the host streams the first
    hardware layer's input at one word per cycle. For each layer we track when its first
    and last input words arrive. Its first output leaves once `need` input words have
    arrived (at the observed arrival rate) plus its register depth; its last output leaves
    at the later of (last input + tail) and (first input + its own cycles), i.e. it is
    either starved by its producer or bound by its own throughput. Outputs of one layer
    are the next layer's inputs (`schedule`, which follows a DAG's critical path).
    Backpressure from a slower consumer is covered by the consumer's own-throughput term.
    """
    times = schedule(graph, coeffs)
    if not times:
        return 0
    return int(math.ceil(times[graph.hardware_layers[-1].name][1])) + 1


def _arrived(first: float, span: float, words: int, ii: int, t: float) -> int:
    """Words of a stream whose frames (`words` each, evenly spread over `span` cycles) start
    at first + k*ii, k = 0, 1, ..., that have come by time t."""
    if t < first:
        return 0
    frames = math.floor((t - first) / ii) + 1  # frames begun by t
    full = 0 if t - first < span else min(frames, math.floor((t - first - span) / ii) + 1)
    spacing = span / max(1, words - 1)
    n = full * words
    for k in range(full, frames):  # frames still arriving at t (one or two)
        n += words if spacing <= 0 else min(words, math.floor((t - first - k * ii) / spacing) + 1)
    return n


def _skew_words(arrive: tuple[float, float], start: tuple[float, float], words: int, ii: int) -> int:
    """Most words of a port queued in front of its join: the port's frames arrive from
    arrive[0] to arrive[1] and the join takes them from start[0] to start[1] (frames `ii`
    apart, each evenly spread); the queue peaks where a frame's arrival ends or its
    consumption starts, so those times are checked over the frames in flight. 0 when the
    port never waits."""
    if start[0] <= arrive[0] and start[1] <= arrive[1]:
        return 0
    a_span, j_span = arrive[1] - arrive[0], start[1] - start[0]
    frames = math.ceil((max(start[1], arrive[1]) - min(start[0], arrive[0])) / ii) + 2
    worst = 0
    for k in range(frames):
        for t in (arrive[1] + k * ii, start[0] + k * ii, arrive[0] + k * ii, start[1] + k * ii):
            came = _arrived(arrive[0], a_span, words, ii, t)
            taken = _arrived(start[0], j_span, words, ii, t - 1e-6)  # the word taken at t is still queued
            worst = max(worst, came - taken)
    return worst


def fifo_par(out_par: int, in_par: int) -> int:
    """Elements per word of an edge's FIFO between a producer emitting `out_par` and a
    consumer taking `in_par` elements per word: the FIFO sits on the wide side of the width
    converter. Behind a narrowing converter the producer's burst (a pool's row, a MatVec's
    PE group) would wait on the converter, which passes one wide word per out_par/in_par
    clocks; queued in front of it, the burst leaves at the producer's rate and the converter
    drains at the consumer's. In front of a widening converter the consumer's burst (an
    MVTU's vector) would wait the same way, so that FIFO stays behind it."""
    return max(out_par, in_par)


@dataclass(frozen=True)
class EdgeFifo:
    """The FIFO of one DAG edge: `depth` words of `par` elements (`fifo_par`: on the wide side
    of the edge's width converter, `before` it when that is the producer's side), stored in
    `style` (`fold.memstyle.fifo_mem_style`: LUTRAM, or block RAM when deep and wide)."""

    depth: int
    par: int
    before: bool
    style: MemStyle = MemStyle.DISTRIBUTED


def edge_fifos(graph: Graph, coeffs=None) -> dict[tuple[str, str, int], EdgeFifo]:
    """Every edge's FIFO between hardware layers, keyed (producer, consumer, consumer's port):
    the one home of the rule the top generator builds and the cost model counts (depth from
    `edge_fifo_words` in consumer words, then in words of the FIFO's side, `fifo_par`)."""
    model = cost_model(coeffs)
    out = {}
    for (p, c, q), words in edge_fifo_words(graph, model).items():
        a, b = interface(graph.layer(p)).out_par, interface(graph.layer(c)).in_par
        par = fifo_par(a, b)
        depth = max(-(-words * b // par), FIFO_MIN_FILL + FIFO_SLACK)
        bits = graph.layer(c).in_dtypes[q].bits
        out[(p, c, q)] = EdgeFifo(depth, par, par != b, fifo_mem_style(depth, par * bits, model))
    return out


def resized(fifo: EdgeFifo, depth: int, bits: int, coeffs=None) -> EdgeFifo:
    """`fifo` given `depth` words of `bits`-bit elements instead (a user's override), its
    memory style resolved again for that size."""
    return EdgeFifo(depth, fifo.par, fifo.before, fifo_mem_style(depth, fifo.par * bits, coeffs))


def edge_fifo_depths(graph: Graph, coeffs=None) -> dict[tuple[str, str, int], int]:
    """Words of the FIFO on each edge (in words of its side, `edge_fifos`)."""
    return {k: f.depth for k, f in edge_fifos(graph, coeffs).items()}


def _block_words(producer: Layer, consumer: Layer) -> int:
    """The producer's output block in words of the consumer's input: a pool's row of PE-wide
    words is PE/in_par times as many words after a narrowing converter. (The linear top's
    `hw.fifo_depth(consumer, producer.out_block)` counts producer words; kept there so linear
    designs stay as they are.)"""
    a, b = interface(producer), interface(consumer)
    return -(-a.out_block * a.out_par // b.in_par)


def edge_fifo_words(graph: Graph, coeffs=None) -> dict[tuple[str, str, int], int]:
    """Elements of the FIFO on each edge between hardware layers, in the consumer's input
    words, keyed (producer, consumer, consumer's port) (`edge_fifos` turns them into the
    FIFO's own words).

    Every edge: `hw.fifo_depth` (the consumer's input burst + the producer's output block in
    consumer words, `_block_words`, at least 2, + 2 words of slack). In front of a join (AddStreams, Concat) the port also
    holds what it receives while the join waits for its other ports:
    - the words arriving while the join waits for its slowest port (`_skew_words` over
      `schedule`: beside a branch whose first output needs a window, a vector or a frame);
    - plus the frames the other ports' branches can queue beyond this port's (their FIFOs
      and the words each core holds in its issue stages and output queue, the cost model's
      `queue_words`): a fork faster than the slow branch fills those queues, and a skip path
      sees the same words wait;
    and for a Concat the other ports' words of a pixel (read while this port waits). With
    these the fork feeding both branches is never held back by the join, so a DAG neither
    deadlocks nor runs below its II (checked in RTL simulation, tests/test_dag_rtl_top.py).
    """
    times = schedule(graph, coeffs)
    if not times:
        return {}
    model = cost_model(coeffs)
    ii = max(1, dma_ii(graph))
    held: dict[str, float] = {}  # frames the deepest path up to a layer's output can queue
    depths = {}
    for layer in graph.hardware_layers:
        name = layer.name
        sources = [p for p in graph.input_names(name) if p in times]
        base = {q: fifo_depth(interface(layer), _block_words(graph.layer(p), layer)) for q, p in enumerate(sources)}
        if len(sources) > 1:
            start = (max(times[p][0] for p in sources), max(times[p][1] for p in sources))
            words = port_words(layer)
            deepest = max(held[p] for p in sources)
            for q, p in enumerate(sources):
                skew = _skew_words(times[p], start, words[q], ii)
                ahead = math.ceil((deepest - held[p]) * words[q])
                base[q] += skew + ahead
                if isinstance(layer, Concat):
                    pixels = layer.in_shape[0] * layer.in_shape[1]
                    base[q] += sum(w for r, w in enumerate(words) if r != q) // pixels
        words = port_words(layer)
        paths = [held[p] + base[q] / max(1, words[q]) for q, p in enumerate(sources)]
        held[name] = max(paths, default=0.0) + model.queue_words(layer) / max(1, interface(layer).out_words)
        for q, p in enumerate(sources):
            depths[(p, name, q)] = base[q]
    return depths


def performance(graph: Graph, clock_mhz: float, coeffs=None) -> dict:
    """Cycles per layer, initiation interval, latency, frames per second, bottleneck."""
    cycles = {l.name: layer_cycles(l) for l in graph.layers}
    hw = [l.name for l in graph.hardware_layers]
    ii = max((cycles[n] for n in hw), default=0)
    bottleneck = next((n for n in hw if cycles[n] == ii), None)
    dma = {}
    if hw:
        din, dout = dma_geometry(graph)
        dma = {"in": din.words, "out": dout.words}
        for side in ("in", "out"):  # the DMA side limits the II only if it is slower
            if dma[side] > ii:
                ii, bottleneck = dma[side], f"dma.{side}"
    latency = latency_cycles(graph, coeffs)
    hz = clock_mhz * 1e6
    return {
        "cycles": cycles,
        "cycles_per_frame": ii,
        "latency_cycles": latency,
        "latency_us": latency / clock_mhz if clock_mhz else None,
        "fps": hz / ii if ii else float("inf"),
        "clock_mhz": clock_mhz,
        "bottleneck": bottleneck,
        "dma_words_per_frame": dma,
    }
