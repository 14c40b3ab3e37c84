"""Inputs for verification: real test images of a dataset, or uniform random over the input range.

Each model gets its input convention (`InputQuant.input_convention`): pixel / 256 for the zoo,
pixel / 255 for models with float preprocessing before their first quantizer (bnn_pynq as
FINN's notebooks feed it), the integers themselves for models whose input is integer.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from qloom.errors import QloomError
from qloom.ir import Graph


def _shape(graph: Graph) -> tuple[int, ...]:
    return tuple(int(d) for d in graph.onnx_input_shape[1:])


def random_inputs(graph: Graph, frames: int, seed: int = 0) -> np.ndarray:
    """Inputs drawn uniformly over what the input quantizer maps onto its integer range
    (integers of the input type for an "integer" input)."""
    iq = graph.input_quant
    if iq is None:
        raise QloomError("the graph has no input quantizer to derive an input range from")
    shape = _shape(graph)
    rng = np.random.default_rng(seed)
    if iq.input_convention == "integer":  # the model takes integers of the input type
        if iq.in_dtype.bipolar:
            return (2 * rng.integers(0, 2, size=(frames,) + shape) - 1).astype(np.float32)
        return rng.integers(iq.in_dtype.min, iq.in_dtype.max + 1, size=(frames,) + shape).astype(np.float32)
    if iq.thresholds is not None:  # float ops before the quantizer: the images' range, widened to every level
        lo, hi = 0.0, 255.0 / iq.pixel_divisor
        t = iq.thresholds[np.abs(iq.thresholds) < np.finfo(np.float32).max].astype(np.float64)
        if t.size:
            gap = (t.max() - t.min()) / max(iq.thresholds.shape[1] - 1, 1)
            lo = t.min() - gap if t.min() < lo else lo
            hi = t.max() + gap if t.max() > hi else hi
        return (lo + rng.random((frames,) + shape) * (hi - lo)).astype(np.float32)
    scale = np.asarray(iq.scale, dtype=np.float64)
    if scale.size > 1:  # per channel, channel axis first
        scale = scale.reshape((-1,) + (1,) * (len(shape) - 1))
    zp = float(np.asarray(iq.zero_point).reshape(-1)[0])
    lo, hi = (iq.out_type.min + zp - 0.5) * scale, (iq.out_type.max + zp + 0.5) * scale
    u = rng.random((frames,) + shape)
    return (np.minimum(lo, hi) + u * np.abs(hi - lo)).astype(np.float32)


def dataset_inputs(graph: Graph, dataset: str, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `frames` test images as the model takes them, and their labels."""
    from qloom.data import load_dataset, to_model_input

    images, labels = load_dataset(dataset, "test")
    if frames > len(images):
        raise QloomError(f"--frames {frames}: the {dataset} test set has {len(images)} images")
    iq = graph.input_quant
    if iq is None or iq.input_convention == "pixel/256":
        x = to_model_input(images[:frames]).numpy()
    else:  # pixel / 255 (torchvision ToTensor, as FINN's notebooks feed bnn_pynq) or the pixel itself
        if iq.input_convention == "integer" and not iq.in_dtype.contains(np.array([0, 255])):
            raise QloomError(f"the model takes {iq.in_dtype} integers, which cannot hold {dataset}'s 0..255 pixels; "
                             "use --dataset random")
        x = np.asarray(images[:frames], dtype=np.float32) / np.float32(iq.pixel_divisor)
    shape = _shape(graph)
    if int(np.prod(shape)) != int(np.prod(x.shape[1:])):
        raise QloomError(
            f"the model takes inputs of shape {shape} but {dataset} images are {tuple(x.shape[1:])}; "
            "use --dataset random or a matching dataset"
        )
    return x.reshape((frames,) + shape), labels[:frames]


# Peak bytes per element of every tensor a verification keeps for all frames at once: the
# inputs (float64 draw, float32 copy), the IR's int64 trace of each layer, the reference's
# float32 tensors and the comparison masks. Measured ~24 on a small CNN (7.6 KB per frame);
# 32 leaves a margin.
BYTES_PER_ELEMENT = 32


def bytes_needed(graph: Graph, frames: int) -> int:
    """Memory a verification of `frames` frames needs (see BYTES_PER_ELEMENT)."""
    per_frame = int(np.prod(_shape(graph))) + sum(int(np.prod(l.out_shape)) for l in graph.layers)
    return frames * per_frame * BYTES_PER_ELEMENT


def available_memory() -> int | None:
    """Bytes this process can still allocate: MemAvailable, capped by a cgroup limit; None if unknown."""
    avail = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                avail = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, AttributeError):
            avail = None
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text())
        if limit != "max":
            avail = min(avail if avail is not None else int(limit), int(limit) - used)
    except (OSError, ValueError):
        pass
    return avail


def check_memory(graph: Graph, frames: int) -> None:
    """Refuse a frame count whose arrays would not fit in memory, before allocating them."""
    need, avail = bytes_needed(graph, frames), available_memory()
    if avail is not None and need > avail:
        per_frame = need / frames
        raise QloomError(f"--frames {frames} needs about {need / 2**30:.1f} GiB but {avail / 2**30:.1f} GiB "
                         f"are available: use --frames {max(1, int(avail // per_frame))} or fewer")


def verification_inputs(graph: Graph, dataset: str, frames: int, seed: int = 0):
    if frames < 1:
        raise QloomError(f"--frames must be at least 1, got {frames}")
    if seed < 0:
        raise QloomError(f"--seed must be >= 0, got {seed}")
    check_memory(graph, frames)
    if dataset == "random":
        return random_inputs(graph, frames, seed), None
    return dataset_inputs(graph, dataset, frames)
