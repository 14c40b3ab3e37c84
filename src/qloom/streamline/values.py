"""What the lowering knows about each QONNX tensor: a constant, or the live integer stream.

A `Stream` is the output of one IR layer (`producer`), seen through the float ops that
are still pending: the ONNX tensor equals `chain(int_stream * scale)`; with no chain it is
simply `int_stream * scale` per stream channel. `index` maps every ONNX element (batch axis
dropped) to its position in the flattened channels-last frame, so Reshape/Flatten/Transpose
are bookkeeping, never hardware. Before the model's first quantizer the stream is the float
model input itself (`dtype is None`): only elementwise and layout ops may read it, and the
quantizer closing its chain becomes the host-side `InputQuant`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from qloom.ir import IntType
from qloom.streamline.chain import ChainStep


@dataclass(frozen=True)
class QConst:
    """A constant from a quantizer: value == int_value * scale (both with value's shape)."""

    value: np.ndarray
    int_value: np.ndarray
    scale: np.ndarray
    dtype: IntType


@dataclass(frozen=True)
class Stream:
    frame: tuple[int, int, int]  # (H, W, C) of the IR stream
    index: np.ndarray  # ONNX shape (no batch) -> flat frame position
    scale: np.ndarray  # (C,) float: chain input = int * scale
    lo: np.ndarray  # (C,) exact bounds of the integer stream per channel
    hi: np.ndarray
    dtype: IntType | None  # None: the float model input, not quantized yet
    chain: tuple[ChainStep, ...] = ()
    chain_start: str = ""  # ONNX tensor the chain reads (int * scale)
    pending_matvec: bool = False  # the producer is a MatVec still waiting for its activation
    producer: str = ""  # the IR layer whose output stream this is ("": the float model input)

    @property
    def is_float(self) -> bool:
        return self.dtype is None

    @property
    def channels(self) -> int:
        return self.frame[2]

    def with_(self, **kw) -> "Stream":
        return replace(self, **kw)


def canonical_index(c: int, h: int, w: int) -> np.ndarray:
    """Index map of an NCHW tensor (C, H, W) over a channels-last (H, W, C) frame."""
    ci, hi, wi = np.meshgrid(np.arange(c), np.arange(h), np.arange(w), indexing="ij")
    return (hi * w + wi) * c + ci


def is_canonical(stream: Stream) -> bool:
    h, w, c = stream.frame
    return stream.index.shape == (c, h, w) and np.array_equal(stream.index, canonical_index(c, h, w))


def flatten_frame(stream: Stream) -> Stream:
    """View an (H, W, C) frame as one (1, 1, H*W*C) vector: same element order, per-element channels."""
    h, w, c = stream.frame
    if (h, w) == (1, 1):
        return stream
    reps = h * w
    return stream.with_(
        frame=(1, 1, h * w * c),
        scale=np.tile(stream.scale, reps),
        lo=np.tile(stream.lo, reps),
        hi=np.tile(stream.hi, reps),
    )
