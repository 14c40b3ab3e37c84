"""The stream packing convention shared by the RTL, its test benches and drivers.

A stream word carries `par` elements of one IntType; element 0 sits in the least
significant bits and each element is `dtype.bits` wide, encoded as `IntType.encode` does
(two's complement; bipolar +1 -> 1, -1 -> 0). A frame is the channels-last (H, W, C)
sequence of its elements, cut into words of `par` consecutive elements. Ports are padded
to a multiple of 8 bits with zeros in the MSBs (`port_width`).

Words are Python ints (widths reach thousands of bits); rows of numpy arrays go through
`pack_rows`, which is vectorized.
"""

from __future__ import annotations

import numpy as np

from qloom.ir.types import IntType


def port_width(dtype: IntType, par: int) -> int:
    """Bits of a top-level port carrying `par` elements, rounded up to a multiple of 8."""
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


def pack(values: np.ndarray, dtype: IntType, par: int) -> list[int]:
    """Integer values (any shape, flattened in C order) -> stream words of `par` elements."""
    flat = np.asarray(values, dtype=np.int64).reshape(-1)
    if flat.size % par:
        raise ValueError(f"{flat.size} elements do not fill words of {par}")
    if not dtype.contains(flat):
        raise ValueError(f"values do not fit {dtype}")
    return pack_rows(dtype.encode(flat).reshape(-1, par), dtype.bits)


def unpack(words: list[int], dtype: IntType, par: int) -> np.ndarray:
    """Stream words -> flat int64 values (decoded), `par` per word."""
    return dtype.decode(unpack_rows(words, dtype.bits, par).reshape(-1))


def hex_lines(words: list[int], width: int) -> str:
    """$readmemh text: one zero-padded hex word per line."""
    digits = max(1, -(-width // 4))
    return "".join(f"{w:0{digits}x}\n" for w in words)
