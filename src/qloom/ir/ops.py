"""The closed set of hardware IR layers.

Every layer produces one stream and reads one stream per input port: `inputs` names the
producing layers in port order, `()` meaning the previous layer of the graph (so a linear
pipeline names nothing). Fork, AddStreams and Concat are the branching layers. A stream frame is channels-last
`(H, W, C)`; a dense layer sees `(1, 1, C)`. Elements are integers of the layer's `in_dtype`
/ `out_dtype`. What each layer computes is defined once, in `qloom.semantics`; the fields
here are the layer's specification (shapes, types, constants) plus its folding (PE, SIMD,
memory style), changed with `dataclasses.replace`.

Groups (see the bottom of the file) say which layers carry weights, which are host-side.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from qloom.ir.types import BIPOLAR, IntType

Shape = tuple[int, int, int]


class MemStyle(str, enum.Enum):
    """Where a layer keeps its weights/thresholds (chosen by folding)."""

    AUTO = "auto"  # let the resource model pick
    BLOCK = "block"  # block RAM (RAMB18/36)
    DISTRIBUTED = "distributed"  # LUTRAM
    REGISTERS = "registers"  # constants folded into logic


class PoolMode(str, enum.Enum):
    MAX = "max"
    SUM = "sum"  # window sum; an AveragePool's division is a following Threshold


@dataclass(frozen=True, kw_only=True, eq=False)
class TensorRef:
    """Where a layer's output corresponds to a QONNX tensor: onnx_value == int_value * scale.

    `index` has the ONNX tensor's shape without the batch axis and gives, for each ONNX
    element, its position in the flattened channels-last stream frame; `scale` has the same
    shape. Equivalence tests use it to compare every layer with `execute_onnx`.
    """

    tensor: str
    index: np.ndarray
    scale: np.ndarray

    def to_onnx(self, frames: np.ndarray) -> np.ndarray:
        """Integer stream frames (N, H, W, C) -> ONNX-layout values (N, *onnx_shape).

        Computed as the quantizer does, `int * scale` in float32, so it matches bit for bit.
        """
        flat = frames.reshape(frames.shape[0], -1)
        return flat[:, self.index].astype(np.float32) * self.scale.astype(np.float32)


@dataclass(frozen=True, kw_only=True, eq=False)
class Layer:
    """Common fields: a unique name, the input frame shape and element type (of port 0), and
    `inputs`: the names of the layers whose streams it reads, in port order (() = the previous
    layer, or the graph input for the first)."""

    name: str
    in_shape: Shape
    in_dtype: IntType
    ref: TensorRef | None = None
    inputs: tuple[str, ...] = ()
    hardware: ClassVar[bool] = True  # False: runs on the host (driver), not in the FPGA

    @property
    def kind(self) -> str:
        return type(self).__name__

    @property
    def in_shapes(self) -> tuple[Shape, ...]:
        """The frame shape each input port expects."""
        return (self.in_shape,)

    @property
    def in_dtypes(self) -> tuple[IntType, ...]:
        """The element type each input port expects."""
        return (self.in_dtype,)

    @property
    def out_shape(self) -> Shape:
        return self.in_shape

    @property
    def out_dtype(self) -> IntType:
        return self.in_dtype

    def _check_shape(self, shape: Shape, what: str) -> None:
        if len(shape) != 3 or any(int(d) < 1 for d in shape):
            raise ValueError(f"{self.name}: {what} must be (H, W, C) with positive sizes, got {shape}")


def _check_thresholds(layer: Layer, thresholds: np.ndarray, channels: int) -> None:
    if thresholds.ndim != 2 or thresholds.shape[0] not in (1, channels):
        raise ValueError(
            f"{layer.name}: thresholds must be (C, T) or (1, T) with C={channels}, got {thresholds.shape}"
        )
    if thresholds.shape[1] and np.any(np.diff(thresholds, axis=1) < 0):
        raise ValueError(f"{layer.name}: thresholds must be sorted ascending along each row")


def threshold_out_dtype(n_thresholds: int, out_base: int, out_step: int) -> IntType:
    """Type of `out_base + out_step * count` for count in 0..n_thresholds."""
    if out_step == 2 and out_base == -1 and n_thresholds == 1:
        return BIPOLAR
    return IntType.for_range(out_base, out_base + out_step * n_thresholds)


# What a model's input holds, so verification feeds it what it expects: an image's pixel p
# (uint8) becomes float32 p / divisor; "integer": the input already is integers of in_dtype.
INPUT_CONVENTIONS = {
    "pixel/256": 256.0,  # qloom's zoo: the 1/256 input quantizer recovers p exactly
    "pixel/255": 255.0,  # torchvision ToTensor, FINN's bnn_pynq notebooks
    "integer": 1.0,
}


@dataclass(frozen=True, kw_only=True, eq=False)
class InputQuant(Layer):
    """Host-side input quantizer: float model input (N, C, H, W) -> integer stream.

    Mirrors the model's first Quant/BipolarQuant node exactly (qonnx semantics:
    clip to [min, max] of the integer type, then round with `rounding`).
    `in_dtype` is unused for the float input and set equal to `out_type`, except for an
    "integer" input, where it is the input's type (and the quantizer an identity).

    With `thresholds` (float32, (C, T) or (1, T) per frame channel) it instead computes
    out = out_base + out_step * #(x >= t) on the input laid out as the (H, W, C) frame:
    the exact form of float ops before the quantizer (bnn_pynq's `2 * x - 1`), whose
    output is a monotonic step function of the float input. `scale` is then the
    quantizer's output scale (its tensor is int * scale) and `zero_point` 0.
    """

    scale: np.ndarray  # scalar or per channel (C,)
    zero_point: np.ndarray  # scalar or per channel (C,)
    out_type: IntType
    narrow: bool = False
    rounding: str = "ROUND"
    thresholds: np.ndarray | None = None
    out_base: int = 0
    out_step: int = 1
    input_convention: str = "pixel/256"
    hardware: ClassVar[bool] = False

    def __post_init__(self) -> None:
        self._check_shape(self.in_shape, "in_shape")
        if self.input_convention not in INPUT_CONVENTIONS:
            raise ValueError(f"{self.name}: input_convention {self.input_convention!r} is not one of "
                             f"{sorted(INPUT_CONVENTIONS)}")
        if self.thresholds is not None:
            if self.thresholds.dtype != np.float32:
                raise ValueError(f"{self.name}: input thresholds must be float32, got {self.thresholds.dtype}")
            _check_thresholds(self, self.thresholds, self.in_shape[2])
            want = threshold_out_dtype(self.thresholds.shape[1], self.out_base, self.out_step)
            if not self.out_type.contains(np.array([want.min, want.max])):
                raise ValueError(f"{self.name}: {self.thresholds.shape[1]} thresholds from {self.out_base} "
                                 f"step {self.out_step} do not fit {self.out_type}")

    @property
    def pixel_divisor(self) -> float:
        return INPUT_CONVENTIONS[self.input_convention]

    @property
    def out_dtype(self) -> IntType:
        return self.out_type


class _Accumulating:
    """What MatVec and DepthwiseMatVec share: an integer accumulator per output, optionally
    requantized by thresholds (out = out_base + out_step * #(acc >= t)); one home for the types."""

    @property
    def vectors(self) -> int:
        """Input vectors per frame (output pixels of a convolution, 1 for dense)."""
        return self.in_shape[0] * self.in_shape[1]

    @property
    def binary(self) -> bool:
        """Bipolar weights and inputs: computed as XNOR-popcount."""
        return self.w_dtype.bipolar and self.in_dtype.bipolar

    @property
    def out_dtype(self) -> IntType:
        if self.thresholds is None:
            return self.acc_dtype
        return threshold_out_dtype(self.thresholds.shape[1], self.out_base, self.out_step)

    @property
    def thr_dtype(self) -> IntType | None:
        """Storage type of the thresholds (they are clipped into [acc.min, acc.max + 1])."""
        if self.thresholds is None:
            return None
        t = self.thresholds
        if t.size == 0:
            return self.acc_dtype
        return IntType.for_range(min(int(t.min()), 0), max(int(t.max()), 0))


@dataclass(frozen=True, kw_only=True, eq=False)
class MatVec(_Accumulating, Layer):
    """Matrix-vector(-threshold) unit: out = act(W @ x) for each of H*W input vectors.

    weights: (MH, MW) integers of `w_dtype`; input vector length MW = in_shape[2].
    thresholds: (MH, T) or None. With thresholds, out = out_base + out_step * #(acc >= t);
    without, out = acc (the accumulator, `acc_dtype`). Folding: MH % pe == 0, MW % simd == 0;
    `mmv` input vectors (output pixels) per cycle against one weight read, only at pe = MH and
    simd = MW (`mmv_choices`: a word then holds mmv whole vectors in, mmv whole outputs out, so
    both streams keep the plain element order).
    """

    weights: np.ndarray
    w_dtype: IntType
    acc_dtype: IntType
    thresholds: np.ndarray | None = None
    out_base: int = 0
    out_step: int = 1
    pe: int = 1
    simd: int = 1
    mem_style: MemStyle = MemStyle.AUTO
    mmv: int = 1

    def __post_init__(self) -> None:
        self._check_shape(self.in_shape, "in_shape")
        if self.weights.ndim != 2 or self.weights.shape[1] != self.in_shape[2]:
            raise ValueError(
                f"{self.name}: weights must be (MH, MW={self.in_shape[2]}), got {self.weights.shape}"
            )
        if not self.w_dtype.contains(self.weights):
            raise ValueError(f"{self.name}: weights do not fit {self.w_dtype}")
        if self.thresholds is not None:
            _check_thresholds(self, self.thresholds, self.mh)
        if self.mh % self.pe or self.mw % self.simd:
            raise ValueError(
                f"{self.name}: PE={self.pe} must divide MH={self.mh} and SIMD={self.simd} must divide MW={self.mw}"
            )
        if self.mmv not in self.mmv_choices(self.pe, self.simd):
            raise ValueError(f"{self.name}: MMV={self.mmv} is not legal at PE={self.pe}, SIMD={self.simd}; valid: "
                             f"{', '.join(map(str, self.mmv_choices(self.pe, self.simd)))} (MMV > 1 needs PE=MH="
                             f"{self.mh} and SIMD=MW={self.mw}, and MMV must divide the {self.vectors} vectors)")

    def mmv_choices(self, pe: int, simd: int) -> tuple[int, ...]:
        """Legal vectors per cycle at (pe, simd): 1, and at pe = MH, simd = MW every divisor of
        the vectors per frame (a word of mmv vectors is mmv*MW consecutive stream elements)."""
        if pe != self.mh or simd != self.mw:
            return (1,)
        v = self.vectors
        return tuple(d for d in range(1, v + 1) if v % d == 0)

    @property
    def mh(self) -> int:
        return int(self.weights.shape[0])

    @property
    def mw(self) -> int:
        return int(self.weights.shape[1])

    @property
    def out_shape(self) -> Shape:
        return (self.in_shape[0], self.in_shape[1], self.mh)


@dataclass(frozen=True, kw_only=True, eq=False)
class DepthwiseMatVec(_Accumulating, Layer):
    """Depthwise (vector-vector) unit, FINN's VVAU: one weight vector per channel.

    in_shape (H, W, K*C) is a plain SlidingWindow's output (element order (kh, kw, c),
    channels innermost); out[h, w, c] = act_c(sum_k weights[c, k] * x[h, w, k*C + c]).
    weights: (C, K) integers of `w_dtype`; thresholds (C, T), (1, T) or None as MatVec's.
    Folding: `pe` channels per cycle (PE | C), `simd` kernel positions per cycle (SIMD | K;
    which pairs the hardware takes: `qloom.fold.rules`).
    """

    weights: np.ndarray
    w_dtype: IntType
    acc_dtype: IntType
    thresholds: np.ndarray | None = None
    out_base: int = 0
    out_step: int = 1
    pe: int = 1
    simd: int = 1
    mem_style: MemStyle = MemStyle.AUTO

    def __post_init__(self) -> None:
        self._check_shape(self.in_shape, "in_shape")
        if self.weights.ndim != 2 or self.weights.shape[0] * self.weights.shape[1] != self.in_shape[2]:
            raise ValueError(f"{self.name}: weights must be (C, K) with K*C = {self.in_shape[2]} (the window "
                             f"length), got {self.weights.shape}")
        if not self.w_dtype.contains(self.weights):
            raise ValueError(f"{self.name}: weights do not fit {self.w_dtype}")
        if self.thresholds is not None:
            _check_thresholds(self, self.thresholds, self.channels)
        if self.pe < 1 or self.simd < 1 or self.channels % self.pe or self.k % self.simd:
            raise ValueError(f"{self.name}: PE={self.pe} must divide C={self.channels} and SIMD={self.simd} "
                             f"must divide K={self.k}")

    @property
    def channels(self) -> int:
        return int(self.weights.shape[0])

    @property
    def k(self) -> int:
        """Kernel positions kh*kw."""
        return int(self.weights.shape[1])

    @property
    def out_shape(self) -> Shape:
        return (self.in_shape[0], self.in_shape[1], self.channels)


@dataclass(frozen=True, kw_only=True, eq=False)
class Threshold(Layer):
    """Standalone multi-threshold: out = out_base + out_step * #(x >= t) per channel."""

    thresholds: np.ndarray  # (C, T) or (1, T)
    out_base: int = 0
    out_step: int = 1
    pe: int = 1
    mem_style: MemStyle = MemStyle.AUTO

    def __post_init__(self) -> None:
        self._check_shape(self.in_shape, "in_shape")
        _check_thresholds(self, self.thresholds, self.in_shape[2])
        if self.in_shape[2] % self.pe:
            raise ValueError(f"{self.name}: PE={self.pe} must divide C={self.in_shape[2]}")

    @property
    def out_dtype(self) -> IntType:
        return threshold_out_dtype(self.thresholds.shape[1], self.out_base, self.out_step)

    @property
    def thr_dtype(self) -> IntType:
        t = self.thresholds
        if t.size == 0:
            return self.in_dtype
        return IntType.for_range(min(int(t.min()), 0), max(int(t.max()), 0))


def _window_out(size: int, k: int, s: int, pad_lo: int, pad_hi: int) -> int:
    return (size + pad_lo + pad_hi - k) // s + 1


@dataclass(frozen=True, kw_only=True, eq=False)
class SlidingWindow(Layer):
    """im2col for convolutions: each output pixel gets its kh*kw*C window.

    Window element order is (kh, kw, c), channels innermost, matching the MatVec weight
    columns. Padding is `pad = (top, left, bottom, right)` filled with `pad_value`. A pad
    value outside the input type widens the output (`out_dtype`): zero padding of a bipolar
    input emits {-1, 0, +1} as INT2, so the padded positions contribute 0 to the MatVec.

    Folding: `simd` channels per window word, `kpar` window words per output word (the
    output stream carries simd * kpar elements per word; `kpar_choices` lists the legal ones),
    `mmv` output pixels (whole windows) per word, FINN's MMV: only with one whole window per
    window word already (simd = C, kpar = KH*KW); the input word then holds mmv pixels
    (`mmv_choices`: mmv divides W and OW, so a word never straddles a row).
    """

    kernel: tuple[int, int]
    stride: tuple[int, int] = (1, 1)
    pad: tuple[int, int, int, int] = (0, 0, 0, 0)
    pad_value: int = 0
    simd: int = 1
    kpar: int = 1
    mmv: int = 1

    def __post_init__(self) -> None:
        self._check_shape(self.in_shape, "in_shape")
        if min(self.out_shape[:2]) < 1:
            raise ValueError(f"{self.name}: kernel {self.kernel} larger than padded input {self.in_shape}")
        if self.in_shape[2] % self.simd:
            raise ValueError(f"{self.name}: SIMD={self.simd} must divide C={self.in_shape[2]}")
        if self.kpar not in self.kpar_choices(self.simd):
            raise ValueError(f"{self.name}: KPAR={self.kpar} is not legal at SIMD={self.simd}; "
                             f"valid: {', '.join(map(str, self.kpar_choices(self.simd)))}")
        if self.mmv not in self.mmv_choices(self.simd, self.kpar):
            raise ValueError(f"{self.name}: MMV={self.mmv} is not legal at SIMD={self.simd}, KPAR={self.kpar}; valid: "
                             f"{', '.join(map(str, self.mmv_choices(self.simd, self.kpar)))} (MMV > 1 needs SIMD=C="
                             f"{self.in_shape[2]} and KPAR=KH*KW={self.kernel[0] * self.kernel[1]}, and MMV must "
                             f"divide W={self.in_shape[1]} and OW={self.out_shape[1]})")

    def mmv_choices(self, simd: int, kpar: int) -> tuple[int, ...]:
        """Legal output pixels per word at (simd, kpar): 1, and with a whole window per window
        word (simd = C, kpar = KH*KW) every common divisor of W and OW: the input word is mmv
        whole pixels and the output word mmv whole windows, both plain stream order; qloom_swg
        banks its ring by column modulo mmv, each bank written once per input word."""
        (kh, kw), w, ow = self.kernel, self.in_shape[1], self.out_shape[1]
        if simd != self.in_shape[2] or kpar != kh * kw:
            return (1,)
        g = math.gcd(w, ow)
        return tuple(d for d in range(1, g + 1) if g % d == 0)

    def kpar_choices(self, simd: int) -> tuple[int, ...]:
        """Legal window words per output word at `simd`: a divisor of the channel words CF of a
        pixel, or whole pixels of one kernel row (a divisor of KW times CF), or whole kernel rows
        (a divisor of KH times KW*CF), so every lane sits at a fixed offset in the window."""
        (kh, kw), cf = self.kernel, self.in_shape[2] // simd
        out = {d for d in range(1, cf + 1) if cf % d == 0}
        out |= {cf * d for d in range(1, kw + 1) if kw % d == 0}
        out |= {kw * cf * d for d in range(1, kh + 1) if kh % d == 0}
        return tuple(sorted(out))

    @property
    def out_shape(self) -> Shape:
        h, w, c = self.in_shape
        (kh, kw), (sh, sw), (pt, pl, pb, pr) = self.kernel, self.stride, self.pad
        return (_window_out(h, kh, sh, pt, pb), _window_out(w, kw, sw, pl, pr), kh * kw * c)

    @property
    def widens(self) -> bool:
        """The pad value is not a value of the input type: the output type is wider."""
        return any(self.pad) and not self.in_dtype.contains(self.pad_value)

    @property
    def out_dtype(self) -> IntType:
        if not self.widens:
            return self.in_dtype
        t = self.in_dtype
        return IntType.for_range(min(t.min, self.pad_value), max(t.max, self.pad_value))


@dataclass(frozen=True, kw_only=True, eq=False)
class Pool(Layer):
    """Max or sum over kh x kw windows, per channel. Max padding acts as -infinity."""

    mode: PoolMode
    kernel: tuple[int, int]
    stride: tuple[int, int]
    pad: tuple[int, int, int, int] = (0, 0, 0, 0)
    pe: int = 1

    def __post_init__(self) -> None:
        self._check_shape(self.in_shape, "in_shape")
        if min(self.out_shape[:2]) < 1:
            raise ValueError(f"{self.name}: pool kernel {self.kernel} larger than input {self.in_shape}")
        if self.in_shape[2] % self.pe:
            raise ValueError(f"{self.name}: PE={self.pe} must divide C={self.in_shape[2]}")

    @property
    def out_shape(self) -> Shape:
        h, w, c = self.in_shape
        (kh, kw), (sh, sw), (pt, pl, pb, pr) = self.kernel, self.stride, self.pad
        return (_window_out(h, kh, sh, pt, pb), _window_out(w, kw, sw, pl, pr), c)

    @property
    def out_dtype(self) -> IntType:
        if self.mode is PoolMode.MAX:
            return self.in_dtype
        n = self.kernel[0] * self.kernel[1]
        return IntType.for_range(min(0, n * self.in_dtype.min), n * self.in_dtype.max)


@dataclass(frozen=True, kw_only=True, eq=False)
class LabelSelect(Layer):
    """Top-k class indices, largest value first; ties go to the lower index."""

    k: int = 1

    def __post_init__(self) -> None:
        self._check_shape(self.in_shape, "in_shape")
        if self.in_shape[:2] != (1, 1):
            raise ValueError(f"{self.name}: label select needs a (1, 1, C) input, got {self.in_shape}")
        if not 1 <= self.k <= self.in_shape[2]:
            raise ValueError(f"{self.name}: k={self.k} must be in 1..{self.in_shape[2]}")

    @property
    def out_shape(self) -> Shape:
        return (1, 1, self.k)

    @property
    def out_dtype(self) -> IntType:
        return IntType.for_range(0, self.in_shape[2] - 1)


@dataclass(frozen=True, kw_only=True, eq=False)
class Fork(Layer):
    """One stream copied to `k` consumers (the only layer whose output has several readers)."""

    k: int
    pe: int = 1

    def __post_init__(self) -> None:
        self._check_shape(self.in_shape, "in_shape")
        if self.k < 2:
            raise ValueError(f"{self.name}: a fork needs k >= 2 consumers, got {self.k}")
        if self.in_shape[2] % self.pe:
            raise ValueError(f"{self.name}: PE={self.pe} must divide C={self.in_shape[2]}")


@dataclass(frozen=True, kw_only=True, eq=False)
class AddStreams(Layer):
    """Elementwise sum of two streams of one shape: out = (a << shift_a) + (b << shift_b), exact.

    Port 0 (a) has `in_dtype`, port 1 (b) `in_dtype_b`; the shifts align two quantization
    scales whose ratio is a power of two. The output type holds the sum's whole range.
    """

    in_dtype_b: IntType
    shift_a: int = 0
    shift_b: int = 0
    pe: int = 1

    def __post_init__(self) -> None:
        self._check_shape(self.in_shape, "in_shape")
        if self.shift_a < 0 or self.shift_b < 0:
            raise ValueError(f"{self.name}: shifts must be >= 0, got {self.shift_a}, {self.shift_b}")
        if self.in_shape[2] % self.pe:
            raise ValueError(f"{self.name}: PE={self.pe} must divide C={self.in_shape[2]}")

    @property
    def in_shapes(self) -> tuple[Shape, ...]:
        return (self.in_shape, self.in_shape)

    @property
    def in_dtypes(self) -> tuple[IntType, ...]:
        return (self.in_dtype, self.in_dtype_b)

    @property
    def out_dtype(self) -> IntType:
        a, b = self.in_dtype, self.in_dtype_b
        return IntType.for_range((a.min << self.shift_a) + (b.min << self.shift_b),
                                 (a.max << self.shift_a) + (b.max << self.shift_b))


@dataclass(frozen=True, kw_only=True, eq=False)
class Concat(Layer):
    """Channel concatenation of len(channels) streams with equal (H, W), in port order.

    `in_shape`/`in_dtype` are port 0's; port i is (H, W, channels[i]) of dtypes[i]. The output
    type holds every port's values (the ports' type when they are all equal).
    """

    channels: tuple[int, ...]
    dtypes: tuple[IntType, ...]
    pe: int = 1

    def __post_init__(self) -> None:
        self._check_shape(self.in_shape, "in_shape")
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        object.__setattr__(self, "dtypes", tuple(self.dtypes))
        if len(self.channels) < 2 or len(self.dtypes) != len(self.channels):
            raise ValueError(f"{self.name}: a concat needs >= 2 ports with one dtype each, got "
                             f"channels {self.channels} and {len(self.dtypes)} dtypes")
        if min(self.channels) < 1:
            raise ValueError(f"{self.name}: channel counts must be positive, got {self.channels}")
        if self.in_shape[2] != self.channels[0] or self.in_dtype != self.dtypes[0]:
            raise ValueError(f"{self.name}: in_shape/in_dtype must be port 0's ({self.channels[0]} channels "
                             f"of {self.dtypes[0]}), got {self.in_shape} of {self.in_dtype}")
        if any(c % self.pe for c in self.channels):
            raise ValueError(f"{self.name}: PE={self.pe} must divide every channel count {self.channels}")

    @property
    def in_shapes(self) -> tuple[Shape, ...]:
        h, w, _ = self.in_shape
        return tuple((h, w, c) for c in self.channels)

    @property
    def in_dtypes(self) -> tuple[IntType, ...]:
        return self.dtypes

    @property
    def out_shape(self) -> Shape:
        return (self.in_shape[0], self.in_shape[1], sum(self.channels))

    @property
    def out_dtype(self) -> IntType:
        if len(set(self.dtypes)) == 1:
            return self.dtypes[0]
        return IntType.for_range(min(t.min for t in self.dtypes), max(t.max for t in self.dtypes))


# Named groups of the closed op set.
LAYER_TYPES: tuple[type[Layer], ...] = (InputQuant, MatVec, Threshold, SlidingWindow, Pool, LabelSelect,
                                        Fork, AddStreams, Concat, DepthwiseMatVec)
WITH_WEIGHTS = (MatVec, DepthwiseMatVec)
WITH_THRESHOLDS = (MatVec, Threshold, DepthwiseMatVec)
HOST_SIDE = (InputQuant,)
BRANCHING = (Fork, AddStreams, Concat)  # the layers of a DAG: several readers or several inputs
