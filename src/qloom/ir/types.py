"""Integer datatypes of the hardware IR.

An `IntType` is what one stream element or one memory word holds:
- unsigned `bits`-wide: 0 .. 2**bits - 1
- signed two's complement: -2**(bits-1) .. 2**(bits-1) - 1
- bipolar (bits == 1): the values -1 and +1, stored as one bit b with value 2*b - 1
  (the XNOR-popcount encoding of FINN's binarized networks).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class IntType:
    bits: int
    signed: bool
    bipolar: bool = False

    def __post_init__(self) -> None:
        if self.bits < 1 or self.bits > 64:
            raise ValueError(f"IntType bits must be in 1..64, got {self.bits}")
        if self.bipolar and (self.bits != 1 or not self.signed):
            raise ValueError("a bipolar type is 1 bit and signed")
        if self.signed and self.bits == 1 and not self.bipolar:
            raise ValueError("a 1-bit signed type must be bipolar")

    @property
    def min(self) -> int:
        if self.bipolar:
            return -1
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def max(self) -> int:
        if self.bipolar:
            return 1
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    @property
    def name(self) -> str:
        if self.bipolar:
            return "BIPOLAR"
        return f"{'INT' if self.signed else 'UINT'}{self.bits}"

    def __str__(self) -> str:
        return self.name

    def contains(self, values: np.ndarray | int) -> bool:
        """True if every value is representable (bipolar: only -1 and +1)."""
        v = np.asarray(values)
        if v.size == 0:
            return True
        if self.bipolar:
            return bool(np.all((v == -1) | (v == 1)))
        return bool(v.min() >= self.min and v.max() <= self.max)

    def encode(self, values: np.ndarray) -> np.ndarray:
        """Values -> unsigned bit patterns (uint64) as they travel on a stream."""
        v = np.asarray(values, dtype=np.int64)
        if self.bipolar:
            return ((v + 1) // 2).astype(np.uint64)
        mask = (1 << self.bits) - 1
        return (v & mask).astype(np.uint64)

    def decode(self, patterns: np.ndarray) -> np.ndarray:
        """Unsigned bit patterns -> values (int64); inverse of `encode`."""
        p = np.asarray(patterns, dtype=np.uint64).astype(np.int64)
        if self.bipolar:
            return 2 * p - 1
        if self.signed:
            sign = 1 << (self.bits - 1)
            return (p ^ sign) - sign
        return p

    @staticmethod
    def for_range(lo: int, hi: int) -> "IntType":
        """Smallest non-bipolar type holding every integer in [lo, hi]."""
        lo, hi = int(lo), int(hi)
        if lo > hi:
            raise ValueError(f"empty range [{lo}, {hi}]")
        if lo >= 0:
            return IntType(max(1, hi.bit_length()), signed=False)
        bits = max((-lo - 1).bit_length(), max(hi, 0).bit_length()) + 1
        return IntType(max(2, bits), signed=True)

    @staticmethod
    def parse(name: str) -> "IntType":
        """Inverse of `name`: 'INT4', 'UINT8', 'BIPOLAR'."""
        n = name.upper()
        if n == "BIPOLAR":
            return BIPOLAR
        if n.startswith("UINT"):
            return IntType(int(n[4:]), signed=False)
        if n.startswith("INT"):
            return IntType(int(n[3:]), signed=True)
        raise ValueError(f"unknown integer type {name!r}")


BIPOLAR = IntType(1, signed=True, bipolar=True)
