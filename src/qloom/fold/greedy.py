"""FINN's SetFolding greedy heuristic, reimplemented on the qloom IR as a baseline.

From finn `transformation/fpgadataflow/set_folding.py`: layer by layer, independently,
- MatVec: PE = SIMD = 1; raise SIMD through the divisors of MW until the layer's cycles are
  below the target, stopping (and reverting one step) once the weight stream per PE,
  W * SIMD, would exceed `mvau_wwidth_max` (36 bits); then raise PE through the divisors of
  MH until the target is met or PE = MH.
- Threshold, Pool: raise PE through the divisors of C; SlidingWindow: raise SIMD likewise.
- DepthwiseMatVec (FINN's VVAU): raise PE through the divisors of C, then, at PE = C, SIMD
  through the kernel positions its window can emit whole; the window generator in front is
  then folded to the unit's word (FINN sets the depthwise SWU's SIMD to the VVAU's PE).
- "met" means strictly fewer cycles than the target (FINN's `cyc < target`).
With two-pass relaxation, if some layer cannot reach the target, the whole pass is rerun
with the achieved bottleneck as the target so the other layers are not over-provisioned.
Memory styles are left as they are. This is the baseline `auto_fold` is compared against.
"""

from __future__ import annotations

import dataclasses

from qloom.hw import layer_cycles
from qloom.fold.rules import divisors, legal_values, match_windows, window_folding, window_ties
from qloom.ir import AddStreams, Concat, DepthwiseMatVec, Fork, Graph, Layer, MatVec, Pool, SlidingWindow, Threshold


def _raise_until(layer: Layer, field: str, size: int, target: int) -> Layer:
    """FINN `optimize_attribute_val`: the first divisor whose cycles beat the target (or the max)."""
    for v in divisors(size):
        layer = dataclasses.replace(layer, **{field: v})
        if layer_cycles(layer) < target:
            break
    return layer


def _fold_layer(layer: Layer, target: int, wwidth_max: int, dw_simds: dict | None = None) -> Layer:
    if isinstance(layer, DepthwiseMatVec):
        layer = _raise_until(dataclasses.replace(layer, pe=1, simd=1), "pe", layer.channels, target)
        if layer.pe == layer.channels and layer_cycles(layer) >= target:
            for simd in (dw_simds or {}).get(layer.name, divisors(layer.k)):
                layer = dataclasses.replace(layer, simd=simd)
                if layer_cycles(layer) < target:
                    break
        return layer
    if isinstance(layer, MatVec):
        layer = dataclasses.replace(layer, pe=1, simd=1)
        for simd in divisors(layer.mw):
            prev = layer.simd
            layer = dataclasses.replace(layer, simd=simd)
            if layer_cycles(layer) < target:
                break
            if layer.w_dtype.bits * simd > wwidth_max:
                layer = dataclasses.replace(layer, simd=prev)
                break
        return _raise_until(layer, "pe", layer.mh, target)
    if isinstance(layer, (Threshold, Pool)):
        return _raise_until(dataclasses.replace(layer, pe=1), "pe", layer.in_shape[2], target)
    if isinstance(layer, SlidingWindow):
        return _raise_until(dataclasses.replace(layer, simd=1), "simd", layer.in_shape[2], target)
    if isinstance(layer, (Fork, AddStreams, Concat)):  # FINN's DuplicateStreams/AddStreams/Concat: PE
        return _raise_until(dataclasses.replace(layer, pe=1), "pe", max(legal_values(layer)["pe"]), target)
    return layer  # LabelSelect, InputQuant: nothing to fold


def finn_greedy_fold(graph: Graph, target_cycles: int, *, mvau_wwidth_max: int = 36,
                     two_pass_relaxation: bool = True) -> Graph:
    """FINN SetFolding(target_cycles_per_frame=target_cycles) on a qloom graph."""
    simds = {dw: [s for s in divisors(graph.layer(dw).k)
                  if window_folding(graph.layer(sw), graph.layer(dw).channels, s, graph.layer(dw).channels)]
             for dw, sw in window_ties(graph).items()}
    folded = graph.with_layers([_fold_layer(l, target_cycles, mvau_wwidth_max, simds) for l in graph.layers])
    folded = match_windows(folded)
    if two_pass_relaxation:
        achieved = max((layer_cycles(l) for l in folded.hardware_layers), default=0)
        if achieved > target_cycles:
            return finn_greedy_fold(graph, achieved, mvau_wwidth_max=mvau_wwidth_max, two_pass_relaxation=False)
    return folded
