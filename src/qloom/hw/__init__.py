"""Backend-neutral hardware facts of a folded layer (`interface`): what every backend's cost
model and emitter read, so each fact has one home."""

from qloom.hw.interface import (LayerInterface, clip_thresholds, fifo_depth, interface, layer_cycles,
                                port_words, threshold_compare_type)

__all__ = ["LayerInterface", "interface", "layer_cycles", "fifo_depth", "threshold_compare_type", "clip_thresholds",
           "port_words"]
