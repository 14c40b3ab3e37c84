"""Automatic folding: the cheapest folding for a frame rate, or the fastest one that fits.

Resources add up over layers and the frame rate is set by the slowest layer alone, so for
a given initiation interval T each layer can be chosen on its own: the cheapest legal
(PE, SIMD, mem_style) whose cycles are <= T. Choosing every layer at exactly the pipeline's
T is what balances it: no layer is made faster (and bigger) than the bottleneck needs.

- `target_fps`: T = floor(clock / fps); minimise a resource cost, each resource weighted by
  1 / its capacity on the board (Zynq-7020 if none is given), so a LUT and a BRAM18 are
  compared by the share of the device they take.
- `board` alone: the smallest T (candidates: every cycle count some layer can reach) at
  which a selection fits under `margin` (85%) of LUT, FF, BRAM18 and DSP. Fitting is a
  small multi-resource knapsack: raise the weight of whichever resource is over its cap
  (Lagrangian relaxation) and re-choose, a few dozen cheap passes per T; if none fits,
  repair the closest one move by move; then a local search lowers the cost under the caps.
  Binary search over T (a selection that fits at T also fits at any larger T).

Each layer option includes its input FIFO; width converters depend on two neighbours, so
a last pass moves layers between their Pareto-optimal options to shrink converters, and
the search is repeated with a lowered cap if they still push a total over it (`_solve`).

A window generator feeding a depthwise unit is not searched on its own: each option of the
unit carries the window folding that emits its input word (`rules.window_folding`), with
both layers' cycles (the larger) and resources (the sum), so the pair never needs a
converter (`_tie_windows`).

Unlike FINN's greedy SetFolding (see `greedy.py`), every (PE, SIMD) pair and the memory
style are searched jointly, and `cycles <= T` replaces FINN's strict `<`. For a target
frame rate, the baseline's own totals at the same T are an extra cap, so the result never
uses more LUT, BRAM18 or DSP than FINN's heuristic would (see `_cheapest`).
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from qloom.errors import QloomError
from qloom.fold import boards
from qloom.fold.boards import Board, get_board
from qloom.fold.greedy import finn_greedy_fold
from qloom.fold.model import CostModel, cost_model
from qloom.fold.resources import KEYS, layer_resources, resources
from qloom.fold.rules import fold_fields, legal_folding, legal_values, window_folding, window_ties
from qloom.hw import interface, layer_cycles
from qloom.ir import Graph, Layer, MemStyle

DEFAULT_BOARD = "xc7z020"  # normalises the cost when no board is given
SEARCH_STYLES = (MemStyle.AUTO, MemStyle.BLOCK, MemStyle.DISTRIBUTED)
LAGRANGE_ROUNDS = 40
GLUE_ROUNDS = 6


@dataclass
class _Options:
    """Every legal folding of one layer: changes, cycles (n,), resources (n, 4) in KEYS order.
    A tied pair (`_tie_windows`): the leader's option i also sets layer `follower` to
    `follower_changes[i]`; the follower has one empty option and names its `leader`."""

    layer: Layer
    changes: list[dict]
    cycles: np.ndarray
    res: np.ndarray
    follower: int | None = None
    follower_changes: list[dict] | None = None
    leader: int | None = None


def _tie_windows(graph: Graph, opts: list[_Options]) -> list[_Options]:
    """Each depthwise unit's options joined with the window folding each one needs (the
    unit's options without one are dropped; a unit with none at all stays untied)."""
    opts = list(opts)
    index = {o.layer.name: n for n, o in enumerate(opts)}
    for dw, sw in window_ties(graph).items():
        d, w = index[dw], index[sw]
        od, ow = opts[d], opts[w]
        keep, follow, cycles, res = [], [], [], []
        for i, ch in enumerate(od.changes):
            unit = _shallow(od.layer, ch)
            f = window_folding(ow.layer, unit.pe, unit.simd, unit.channels)
            j = next((j for j, c in enumerate(ow.changes) if f is not None and c == f), None)
            if j is None:
                continue
            keep.append(ch)
            follow.append(f)
            cycles.append(max(od.cycles[i], ow.cycles[j]))
            res.append(od.res[i] + ow.res[j])
        if keep:
            opts[d] = _Options(od.layer, keep, np.array(cycles, dtype=np.int64), np.array(res), follower=w,
                               follower_changes=follow)
            opts[w] = _Options(ow.layer, [{}], np.zeros(1, dtype=np.int64), np.zeros((1, len(KEYS))), leader=d)
    return opts


def _folded(opts: list[_Options], picks: list[int], n: int) -> Layer:
    """Layer n at the selection `picks` (a tied follower at its leader's pick)."""
    o = opts[n]
    if o.leader is not None:
        return _shallow(o.layer, opts[o.leader].follower_changes[picks[o.leader]])
    return _shallow(o.layer, o.changes[picks[n]])


def _shallow(layer: Layer, changes: dict) -> Layer:
    """A refolded copy without re-running the layer checks (values come from legal_values)."""
    new = copy.copy(layer)
    for k, v in changes.items():
        object.__setattr__(new, k, v)
    return new


def layer_options(layer: Layer, coeffs=None, fifo: bool = False) -> _Options:
    """Enumerate the folding space of one layer with its cycles and resources (plus its
    input FIFO if `fifo`; width converters depend on two layers and are checked later)."""
    legal = legal_values(layer)
    grids: list[dict] = [{}]
    for f in fold_fields(layer):
        values = SEARCH_STYLES if f == "mem_style" else legal[f]
        grids = [{**g, f: v} for g in grids for v in values]
    grids = [g for g in grids if legal_folding(layer, g)]  # a window's kpar depends on its SIMD
    model = cost_model(coeffs)
    cycles, res = [], []
    for ch in grids:
        l = _shallow(layer, ch)
        cycles.append(layer_cycles(l))
        r = layer_resources(l, model)
        f = {}
        for port in range(len(l.in_shapes)) if fifo else ():  # a join has a FIFO on each input
            f = {k: f.get(k, 0) + v for k, v in model.fifo(l, 1, port=port).items()}
        res.append([r[k] + f.get(k, 0) for k in KEYS])
    return _Options(layer, grids, np.array(cycles, dtype=np.int64), np.array(res, dtype=np.float64))


def _select(opts: list[_Options], t: int, weights: np.ndarray) -> list[int] | None:
    """Per layer, the index of the cheapest option with cycles <= t (None if one has none)."""
    picks = []
    for o in opts:
        ok = np.flatnonzero(o.cycles <= t)
        if ok.size == 0:
            return None
        cost = o.res[ok] @ weights
        # ties: the faster option (lower latency), then the first enumerated
        best = ok[np.lexsort((o.cycles[ok], cost))[0]]
        picks.append(int(best))
    return picks


def _totals(opts: list[_Options], picks: list[int]) -> np.ndarray:
    return sum((o.res[i] for o, i in zip(opts, picks)), np.zeros(len(KEYS)))


def _excess(total: np.ndarray, cap: np.ndarray) -> float:
    """How far a selection is over its caps, summed as fractions of each cap (0: fits)."""
    return float(np.sum(np.maximum(total - cap, 0.0) / np.maximum(cap, 1.0)))


def _fit(opts: list[_Options], t: int, cap: np.ndarray, weights: np.ndarray) -> tuple[list[int] | None, list[int] | None]:
    """(the cheapest selection at t under cap found, or None; the least-overloaded one tried).

    Lagrangian relaxation: start from the device-share `weights`, multiply the weight of
    every resource over its cap by its overload squared and re-choose. If no round fits,
    repair the least-overloaded selection move by move; then polish with `_improve`.
    """
    best, best_excess = None, math.inf
    w = weights.copy()
    for _ in range(LAGRANGE_ROUNDS):
        picks = _select(opts, t, w)
        if picks is None:
            return None, None
        total = _totals(opts, picks)
        ex = _excess(total, cap)
        if ex < best_excess:
            best, best_excess = picks, ex
        if ex == 0.0:
            break
        over = total / np.maximum(cap, 1e-9)
        w = w * np.where(over > 1.0, np.maximum(over, 1.25) ** 2, 1.0)
    fitted = best if best_excess == 0.0 else _repair(opts, t, best, cap)
    if fitted is None:
        return None, best
    fitted = _improve(opts, t, fitted, cap, weights)
    return fitted, fitted


def _repair(opts: list[_Options], t: int, picks: list[int], cap: np.ndarray) -> list[int] | None:
    """Greedy repair: repeatedly make the one-layer move that most reduces the excess."""
    picks = list(picks)
    total = _totals(opts, picks)
    ex = _excess(total, cap)
    while ex > 0.0:
        move, move_ex = None, ex
        for n, o in enumerate(opts):
            after = total - o.res[picks[n]] + o.res
            exs = np.sum(np.maximum(after - cap, 0.0) / np.maximum(cap, 1.0), axis=1)
            exs[o.cycles > t] = np.inf
            i = int(np.argmin(exs))
            if exs[i] < move_ex - 1e-12:
                move, move_ex = (n, i, after[i]), float(exs[i])
        if move is None:
            return None
        n, i, total = move
        picks[n], ex = i, move_ex
    return picks


def _improve(opts: list[_Options], t: int, picks: list[int], limit: np.ndarray, weights: np.ndarray) -> list[int]:
    """Local search from a selection under `limit`: move one layer at a time to a cheaper
    option that keeps every total under the limit, until no move helps."""
    picks = list(picks)
    total = _totals(opts, picks)
    changed = True
    while changed:
        changed = False
        for n, o in enumerate(opts):
            after = total - o.res[picks[n]] + o.res  # totals if layer n took each option
            ok = (o.cycles <= t) & np.all(after <= limit + 1e-9, axis=1)
            cost = o.res @ weights
            cost[~ok] = np.inf
            best = int(np.argmin(cost))
            if cost[best] < cost[picks[n]] - 1e-12:
                picks[n], total, changed = best, after[best], True
    return picks


def _pareto(o: _Options, t: int) -> np.ndarray:
    """Indices of the options with cycles <= t that no other such option dominates."""
    ok = np.flatnonzero(o.cycles <= t)
    r = o.res[ok]
    dominated = [bool(np.any(np.all(r <= r[j], axis=1) & np.any(r < r[j], axis=1))) for j in range(len(ok))]
    return ok[~np.array(dominated, dtype=bool)]


def _edges(opts: list[_Options], graph: Graph) -> list[tuple[int, int, int]]:
    """The streams between hardware layers as (producer, consumer, port) option indices."""
    index = {o.layer.name: n for n, o in enumerate(opts) if o.layer.hardware}
    return [(index[p], index[c], port) for p, c, port in graph.edges() if p in index and c in index]


def _dwc(opts: list[_Options], picks: list[int], edge: tuple[int, int, int], coeffs: CostModel) -> np.ndarray:
    """Resources of the width converter on one edge (producer, consumer, port)."""
    p, c, port = edge
    prev, layer = _folded(opts, picks, p), _folded(opts, picks, c)
    r = coeffs.converter(interface(prev).out_par, interface(layer).in_par, layer.in_dtypes[port].bits)
    return np.array([r[key] for key in KEYS], dtype=np.float64)


def _polish_glue(opts: list[_Options], t: int, picks: list[int], limit: np.ndarray, weights: np.ndarray,
                 coeffs: CostModel, edges: list[tuple[int, int, int]]) -> list[int]:
    """Width converters depend on two neighbours' parallelism, so the per-layer search cannot
    see them. Move one layer at a time to another of its Pareto-optimal options (so every
    layer stays balanced) when that lowers the cost of layer + converters on its edges and
    takes no total, converters included, over `limit` (nor further over it)."""
    picks = list(picks)
    hw = [n for n, o in enumerate(opts) if o.layer.hardware]
    total = _totals(opts, picks) + sum((_dwc(opts, picks, e, coeffs) for e in edges), np.zeros(len(KEYS)))
    for _ in range(4):
        changed = False
        for n in hw:
            sides = [e for e in edges if n in e[:2] or (opts[n].follower is not None and opts[n].follower in e[:2])]
            def local(c: int, n: int = n, sides: list = sides) -> np.ndarray:
                trial = picks[:n] + [c] + picks[n + 1:]
                return opts[n].res[c] + sum((_dwc(opts, trial, e, coeffs) for e in sides), np.zeros(len(KEYS)))
            now = local(picks[n])
            best, best_cost = picks[n], now @ weights
            room = np.maximum(limit, total)  # no total may cross the limit or grow beyond it
            for c in _pareto(opts[n], t):
                r = local(int(c))
                if r @ weights < best_cost - 1e-12 and np.all(total - now + r <= room + 1e-9):
                    best, best_cost = int(c), r @ weights
            if best != picks[n]:
                total = total - now + local(best)
                picks[n], changed = best, True
        if not changed:
            break
    return picks


def _apply(graph: Graph, opts: list[_Options], picks: list[int]) -> Graph:
    layers = [dataclasses.replace(o.layer, **o.changes[i]) if o.changes[i] else o.layer for o, i in zip(opts, picks)]
    for o, i in zip(opts, picks):
        if o.follower is not None:
            layers[o.follower] = dataclasses.replace(layers[o.follower], **o.follower_changes[i])
    return graph.with_layers(layers)


def _real(graph: Graph, coeffs: CostModel) -> np.ndarray:
    """Totals of the full model, stream glue (FIFOs, width converters) included."""
    tot = resources(graph, coeffs)["totals"]
    return np.array([tot[k] for k in KEYS], dtype=np.float64)


def _solve(graph: Graph, opts: list[_Options], t: int, limit: np.ndarray, weights: np.ndarray,
           coeffs: CostModel) -> Graph | None:
    """The cheapest folding at t whose full totals are under `limit`.

    The search sees each layer with its input FIFO; width converters between layers are
    added afterwards by `resources`. If they push a total over the limit, search again with
    that limit lowered by the overshoot (a few rounds; converters are small).
    """
    lim = limit.copy()
    for _ in range(GLUE_ROUNDS):
        picks, _ = _fit(opts, t, lim, weights)
        if picks is None:
            return None
        fitted = _apply(graph, opts, picks)
        polished = _apply(graph, opts, _polish_glue(opts, t, picks, limit, weights, coeffs, _edges(opts, graph)))
        # the polish counts each layer with its input FIFO at the search's depth, the full model with
        # the FIFO depths of the final folding: when it takes a fitting selection over the limit,
        # keep the selection as fitted (CNV-w2a2 on the Zybo: 2,304 cycles fit unpolished, and the
        # polished one went 469 LUT over, so the search settled for 2,400)
        for folded in (polished, fitted):
            over = _real(folded, coeffs) - limit
            if np.all(over <= 1e-9):
                return folded
        lim = lim - 2 * np.maximum(over, 0.0) - (over > 0)
    return None


def _cheapest(graph: Graph, opts: list[_Options], t: int, limit: np.ndarray, weights: np.ndarray,
              coeffs: CostModel) -> Graph | None:
    """The cheapest folding with cycles <= t under `limit`, never worse than FINN's.

    FINN's SetFolding at the same interval (its "<" made "<=") caps LUT, BRAM18 and DSP as
    well, so the result uses at most the baseline's LUT, BRAM18 and DSP, and usually well
    below. Without that cap the scalar cost alone could trade, say, 300 LUTs for 3 BRAM18s
    against the baseline. When no folding under the cap exists (width converters), the
    cheapest balanced one is kept if its scalar cost is no higher than the baseline's;
    the baseline itself is the last fallback.
    """
    greedy = finn_greedy_fold(graph, t + 1)
    if max(layer_cycles(l) for l in greedy.hardware_layers) <= t:
        ref = _real(greedy, coeffs)
        ref[KEYS.index("FF")] = np.inf  # FF: qloom's own rough model, and never the scarce one
        if np.all(ref <= limit):
            found = _solve(graph, opts, t, np.minimum(limit, ref), weights, coeffs)
            if found is not None:
                return found
            # Width converters can make every balanced folding a few LUTs dearer than the
            # baseline (which never converts, or widens cheaply). Keep ours if it is no more
            # expensive by the device-share cost, else the baseline.
            ours = _solve(graph, opts, t, limit, weights, coeffs)
            if ours is not None and _real(ours, coeffs) @ weights <= _real(greedy, coeffs) @ weights:
                return ours
            return greedy
    return _solve(graph, opts, t, limit, weights, coeffs)


def _fmt(res: np.ndarray) -> str:
    return ", ".join(f"{int(round(v)):,} {k}" for k, v in zip(KEYS, res))


def _param_bits(graph: Graph) -> int:
    """Bits of weights and thresholds: what must live in on-chip memory whatever the folding."""
    bits = 0
    for l in graph.layers:
        if getattr(l, "weights", None) is not None:
            bits += l.weights.size * l.w_dtype.bits
        if getattr(l, "thresholds", None) is not None:
            bits += l.thresholds.size * l.thr_dtype.bits
    return bits


def _no_fit(graph: Graph, opts: list[_Options], board: Board, cap: np.ndarray, margin: float,
            best: list[int] | None, what: str) -> QloomError:
    floor = sum((o.res.min(axis=0) for o in opts), np.zeros(len(KEYS)))
    reached = _fmt(_totals(opts, best)) if best is not None else "none"
    return QloomError(
        f"{graph.name} cannot fit {board.name} ({board.part}) {what}. Cap ({margin:.0%} of the device): "
        f"{_fmt(cap)}. Closest folding found: {reached}. Smallest reachable, each resource minimised on "
        f"its own: {_fmt(floor)}. Weights and thresholds hold {_param_bits(graph) / 1e6:.2f} Mbit; the "
        f"device has {board.BRAM18 * 18432 / 1e6:.2f} Mbit of block RAM. Try a larger board or fewer bits."
    )


def auto_fold(graph: Graph, *, target_fps: float | None = None, board: str | Board | None = None,
              clock_mhz: float | None = None, margin: float = 0.85, coeffs=None) -> Graph:
    """Fold `graph` for `target_fps` (cheapest), or for `board` (fastest that fits), or both."""
    if target_fps is None and board is None:
        raise QloomError("auto folding needs a target frame rate (target_fps) or a board to fill")
    b = get_board(board) if board is not None else None
    clock = boards.clock_mhz(b, clock_mhz)
    hw = graph.hardware_layers
    if not hw:
        return graph
    coeffs = cost_model(coeffs)
    opts = _tie_windows(graph, [layer_options(l, coeffs, fifo=l.hardware and l is not hw[0]) for l in graph.layers])
    fastest = max(int(o.cycles.min()) for o in opts)
    slowest = max(int(o.cycles.max()) for o in opts)
    cap_board = b or get_board(DEFAULT_BOARD)
    cap = np.array([cap_board.capacity[k] for k in KEYS], dtype=np.float64) * margin
    weights = 1.0 / np.maximum(cap, 1.0)  # a resource costs the share of the device it takes

    if target_fps is not None:
        if target_fps <= 0:
            raise QloomError(f"target_fps must be positive, got {target_fps}")
        t = math.floor(clock * 1e6 / target_fps)
        if t < max(fastest, 1):
            o = next(o for o in opts if int(o.cycles.min()) == fastest)
            pair = f" with its window {opts[o.follower].layer.name!r}" if o.follower is not None else ""
            raise QloomError(
                f"{graph.name}: {target_fps:,.0f} fps at {clock:g} MHz needs <= {t} cycles per frame, but layer "
                f"{o.layer.name!r}{pair} needs at least {fastest} even fully unfolded "
                f"(max {clock * 1e6 / fastest:,.0f} fps)"
            )
        limit = cap if b is not None else np.full(len(KEYS), np.inf)
        folded = _cheapest(graph, opts, t, limit, weights, coeffs)
        if folded is None:
            raise _no_fit(graph, opts, b, cap, margin, _fit(opts, t, cap, weights)[1],
                          f"at {target_fps:,.0f} fps ({t} cycles per frame)")
        return folded

    # board only: the smallest initiation interval at which a folding fits
    ts = np.unique(np.concatenate([o.cycles for o in opts]))
    ts = ts[(ts >= fastest) & (ts <= slowest)]
    folded = _solve(graph, opts, int(ts[-1]), cap, weights, coeffs)
    if folded is None:
        raise _no_fit(graph, opts, b, cap, margin, _fit(opts, int(ts[-1]), cap, weights)[1], "at any folding")
    lo, hi = 0, len(ts) - 1  # ts[hi] fits
    while lo < hi:
        mid = (lo + hi) // 2
        found = _solve(graph, opts, int(ts[mid]), cap, weights, coeffs)
        if found is not None:
            hi, folded = mid, found
        else:
            lo = mid + 1
    return folded
