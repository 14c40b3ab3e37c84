"""Stream packing: frames of integers <-> the bytes on the top's AXI-Stream ports.

The one home of the element layout. Verify, the drivers and the co-simulation call
`pack_frames` / `unpack_frames` with a port entry of design.json's "dma" ("in" or "out");
the RTL generator writes its `.mem` images with `pack_rows` / `hex_lines`.

A "dma" port entry (written by `dma_port`):

    port             "s_axis" or "m_axis"
    width            W bits per word, a power of two from 8 to 1024 (what the Xilinx AXI DMA takes)
    elem_bits        b bits per element, = the element type's bits
    elems_per_word   k elements per word (k * b <= W)
    elems_per_frame  e = H * W * C
    words_per_frame  n = ceil(e / k); bytes_per_frame = n * W / 8
    dtype, signed    the element type ("UINT8", "INT4", "BIPOLAR"); signed: two's complement
                     (false for unsigned and for bipolar, which has its own 1-bit code)
    shape            [H, W, C]
    order            the sentence below

Layout: a frame is its channels-last (H, W, C) elements in C order. Element j of a frame
sits in word j // k at bits [(j % k) * b, (j % k + 1) * b); element 0 is in the LSBs of
word 0. Elements are two's complement when signed, plain binary when unsigned, and
bipolar {-1, +1} as -1 -> 0, +1 -> 1 (`IntType.encode`). Bits above k * b in a word and
the unused elements of a frame's last word are zero. Every frame starts on a new word. A
word is W / 8 bytes, least significant byte first (little endian), so a frame is
`bytes_per_frame` bytes and N frames are N * bytes_per_frame bytes back to back.

TLAST: the top raises m_axis_tlast on the last word of every output frame whose input
frame ended with s_axis_tlast high (design.json "dma.tlast"); a DMA transfer of N input
frames with TLAST on its last beat is answered by N output frames, TLAST on the last.
"""

from __future__ import annotations

import numpy as np

from qloom.errors import QloomError
from qloom.ir.types import IntType

DMA_WIDTHS = tuple(8 << i for i in range(8))  # 8 .. 1024 bits
ORDER = "channels-last (H, W, C); element 0 in the LSBs of word 0; the last word zero-padded"


# ---------------------------------------------------------------- design.json "dma" ports


def dma_port(port: str, width: int, dtype: IntType, shape, elems_per_word: int | None = None) -> dict:
    """The design.json "dma" entry of a port of `width` bits carrying frames of `shape`."""
    if width not in DMA_WIDTHS:
        raise ValueError(f"{port}: DMA width {width} is not a power of two from 8 to 1024")
    k = width // dtype.bits if elems_per_word is None else int(elems_per_word)
    if not 1 <= k * dtype.bits <= width:
        raise ValueError(f"{port}: {k} x {dtype.bits}-bit elements do not fit a {width}-bit word")
    e = int(np.prod(shape))
    n = -(-e // k)
    return {"port": port, "width": width, "words_per_frame": n, "bytes_per_frame": n * width // 8,
            "elem_bits": dtype.bits, "elems_per_word": k, "elems_per_frame": e, "dtype": dtype.name,
            "signed": bool(dtype.signed and not dtype.bipolar), "shape": [int(s) for s in shape], "order": ORDER}


def _geometry(port: dict) -> tuple[IntType, int, int, int, int, int]:
    """(dtype, W, b, k, e, n) of a port entry, checked."""
    try:
        dtype = IntType.parse(port["dtype"])
        w, b, k = int(port["width"]), int(port["elem_bits"]), int(port["elems_per_word"])
        e, n = int(port["elems_per_frame"]), int(port["words_per_frame"])
    except (KeyError, TypeError, ValueError) as exc:
        raise QloomError(f"bad design.json dma port {port!r}: {exc}") from None
    if w not in DMA_WIDTHS or b != dtype.bits or not 1 <= k * b <= w or n != -(-e // k) or e < 1:
        raise QloomError(f"inconsistent design.json dma port {port.get('port')!r}: width {w}, "
                         f"{k} x {b}-bit {dtype} per word, {e} elements in {n} words")
    return dtype, w, b, k, e, n


def bytes_per_frame(port: dict) -> int:
    _, w, _, _, _, n = _geometry(port)
    return n * w // 8


# ---------------------------------------------------------------- frames <-> bytes


def _frame_matrix(port: dict, frames, e: int) -> np.ndarray:
    """Frames in any shape whose trailing axes hold e elements (or one flat frame) -> (N, e)."""
    x = np.asarray(frames)
    if x.size == e and x.ndim <= len(port.get("shape", ())):
        return x.reshape(1, e)
    if x.ndim >= 2 and int(np.prod(x.shape[1:])) == e:
        return x.reshape(len(x), e)
    raise QloomError(f"frames of shape {x.shape} do not match the {port.get('port')} frame "
                     f"{port.get('shape')} ({e} elements)")


def pack_frames(port: dict, frames) -> bytes:
    """(N, *shape) integer frames -> N * bytes_per_frame bytes, laid out as the module docstring says."""
    dtype, w, b, k, e, n = _geometry(port)
    x = _frame_matrix(port, frames, e).astype(np.int64)
    if not dtype.contains(x):
        raise QloomError(f"{port.get('port')}: values outside {dtype}: [{x.min()}, {x.max()}]")
    codes = np.zeros((len(x), n * k), dtype=np.uint64)
    codes[:, :e] = dtype.encode(x)
    bits = ((codes[:, :, None] >> np.arange(b, dtype=np.uint64)) & np.uint64(1)).astype(np.uint8)
    bits = bits.reshape(len(x) * n, k * b)
    bits = np.pad(bits, ((0, 0), (0, w - k * b)))
    return np.packbits(bits, axis=1, bitorder="little").tobytes()


def unpack_frames(port: dict, data: bytes, n_frames: int, *, check_padding: bool = True) -> np.ndarray:
    """`n_frames` * bytes_per_frame bytes -> (n_frames, *shape) decoded int64 values.

    With check_padding, nonzero padding bits (above k * b, or in the unused elements of a
    frame's last word) are an error: the top writes zeros there, so they mean a fault."""
    dtype, w, b, k, e, n = _geometry(port)
    want = n_frames * n * w // 8
    raw = np.frombuffer(bytes(data), dtype=np.uint8)
    if raw.size != want:
        raise QloomError(f"{port.get('port')}: {raw.size} bytes for {n_frames} frames of "
                         f"{n * w // 8} bytes (expected {want})")
    bits = np.unpackbits(raw.reshape(n_frames * n, w // 8), axis=1, bitorder="little")
    if check_padding and bits[:, k * b:].any():
        bad = int(np.argwhere(bits[:, k * b:].any(axis=1))[0, 0])
        raise QloomError(f"{port.get('port')}: nonzero padding bits above bit {k * b} in word {bad % n} "
                         f"of frame {bad // n}")
    elems = bits[:, : k * b].reshape(n_frames, n * k, b).astype(np.uint64)
    codes = (elems << np.arange(b, dtype=np.uint64)).sum(axis=2, dtype=np.uint64)
    if check_padding and codes[:, e:].any():
        bad = int(np.argwhere(codes[:, e:].any(axis=1))[0, 0])
        raise QloomError(f"{port.get('port')}: nonzero padding elements after element {e} of frame {bad}")
    shape = tuple(int(s) for s in port.get("shape", (e,)))
    return dtype.decode(codes[:, :e]).reshape((n_frames,) + shape)


def chunks_per_word(port: dict) -> int:
    """uint32 chunks of one port word in Verilator's VlWide layout: ceil(W / 32)."""
    _, w, *_ = _geometry(port)
    return -(-w // 32)


def to_chunks(port: dict, data: bytes) -> np.ndarray:
    """Packed bytes -> (words, ceil(W / 32)) little-endian uint32 (Verilator's VlWide layout;
    a word narrower than 32 bits fills the low bytes of its chunk)."""
    _, w, *_ = _geometry(port)
    raw = np.frombuffer(bytes(data), dtype=np.uint8).reshape(-1, w // 8)
    chunks = chunks_per_word(port)
    raw = np.pad(raw, ((0, 0), (0, 4 * chunks - w // 8)))
    return np.ascontiguousarray(raw).view("<u4").reshape(-1, chunks)


def from_chunks(port: dict, chunks: np.ndarray) -> bytes:
    """Inverse of `to_chunks` (the bytes above W in a chunk are dropped)."""
    _, w, *_ = _geometry(port)
    c = chunks_per_word(port)
    raw = np.ascontiguousarray(np.asarray(chunks, dtype="<u4").reshape(-1, c)).view(np.uint8)
    return raw.reshape(-1, 4 * c)[:, : w // 8].tobytes()


# ---------------------------------------------------------------- internal streams and .mem images


def port_width(dtype: IntType, par: int) -> int:
    """Bits of a layer stream carrying `par` elements, rounded up to a multiple of 8
    (design.json "in"/"out": the first layer's input and the last layer's output)."""
    return -(-(dtype.bits * par) // 8) * 8


def pack_rows(patterns: np.ndarray, bits: int) -> list[int]:
    """(rows, n) unsigned bit patterns -> one int per row, element j at bits [j*bits, (j+1)*bits)."""
    p = np.asarray(patterns, dtype=np.uint64)
    if p.ndim != 2:
        raise ValueError(f"pack_rows wants a 2-D array, got shape {p.shape}")
    rows, n = p.shape
    if rows == 0:
        return []
    shifts = np.arange(bits, dtype=np.uint64)
    bitarr = ((p[:, :, None] >> shifts) & np.uint64(1)).astype(np.uint8).reshape(rows, n * bits)
    packed = np.packbits(bitarr, axis=1, bitorder="little")
    return [int.from_bytes(r.tobytes(), "little") for r in packed]


def unpack_rows(words: list[int], bits: int, n: int) -> np.ndarray:
    """Inverse of `pack_rows`: ints -> (rows, n) uint64 bit patterns."""
    nbytes = -(-(bits * n) // 8)
    raw = np.frombuffer(b"".join(int(w).to_bytes(nbytes, "little") for w in words), dtype=np.uint8)
    bitarr = np.unpackbits(raw.reshape(len(words), nbytes), axis=1, bitorder="little")[:, : bits * n]
    weights = np.uint64(1) << np.arange(bits, dtype=np.uint64)
    return (bitarr.reshape(len(words), n, bits).astype(np.uint64) * weights).sum(axis=2, dtype=np.uint64)


def pack_words(values: np.ndarray, dtype: IntType, par: int) -> list[int]:
    """Integer values (any shape, flattened in C order) -> layer stream words (ints) of `par` elements."""
    flat = np.asarray(values, dtype=np.int64).reshape(-1)
    if flat.size % par:
        raise ValueError(f"{flat.size} elements do not fill words of {par}")
    if not dtype.contains(flat):
        raise ValueError(f"values do not fit {dtype}")
    return pack_rows(dtype.encode(flat).reshape(-1, par), dtype.bits)


def unpack_words(words: list[int], dtype: IntType, par: int) -> np.ndarray:
    """Layer stream words -> flat int64 values (decoded), `par` per word."""
    return dtype.decode(unpack_rows(words, dtype.bits, par).reshape(-1))


def hex_lines(words: list[int], width: int) -> str:
    """$readmemh text: one zero-padded hex word per line."""
    digits = max(1, -(-width // 4))
    return "".join(f"{w:0{digits}x}\n" for w in words)
