"""Quantization error arithmetic: SQNR, the symmetric and the asymmetric (zero-point) grids.

The course's equations, spelled out once (b bits, x a float tensor):
  symmetric:  s = max|x| / (2^(b-1) - 1), q = clamp(round(x / s), -(2^(b-1) - 1), 2^(b-1) - 1),
              x_hat = s * q (zero-point 0, narrow signed range; b = 1: x_hat = +-max|x|)
  asymmetric: s = (max - min) / (2^b - 1), z = round(-min / s), q = clamp(round(x / s) + z, 0, 2^b - 1),
              x_hat = s * (q - z)
  SQNR (dB) = 10 log10( sum x^2 / sum (x - x_hat)^2 )   (None when x_hat == x: no error)
  rescaled SQNR: the SQNR of a * x_hat with the best a = <x, x_hat> / <x_hat, x_hat>; where a
              BatchNorm or scale follows (every zoo layer), the grid's overall scale is free and
              only this one measures the loss (e.g. bipolar weights of scale 1 on latent weights)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def sqnr_db(x: np.ndarray, x_hat: np.ndarray) -> float | None:
    """Signal-to-quantization-noise ratio in dB of x_hat against x; None when the error is 0."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    err = float(np.sum((x - np.asarray(x_hat, dtype=np.float64).reshape(-1)) ** 2))
    if err == 0.0:
        return None
    signal = float(np.sum(x**2))
    return float(10.0 * np.log10(signal / err)) if signal > 0 else float("-inf")


def sqnr_rescaled_db(x: np.ndarray, x_hat: np.ndarray) -> float | None:
    """SQNR of x_hat after the least-squares rescaling a * x_hat (see the module docstring)."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    xh = np.asarray(x_hat, dtype=np.float64).reshape(-1)
    energy = float(np.dot(xh, xh))
    a = float(np.dot(x, xh)) / energy if energy > 0 else 0.0
    return sqnr_db(x, a * xh)


@dataclass(frozen=True)
class Grid:
    """A uniform grid: level k (qmin <= k <= qmax) stands for scale * (k - zero_point)."""

    scale: float
    zero_point: int
    qmin: int
    qmax: int

    def levels(self) -> np.ndarray:
        return self.scale * (np.arange(self.qmin, self.qmax + 1) - self.zero_point)

    def fake_quant(self, x: np.ndarray) -> np.ndarray:
        """x -> x_hat on this grid (round half to even, as numpy and Brevitas' ROUND)."""
        if self.scale == 0:
            return np.zeros_like(np.asarray(x, dtype=np.float64))
        q = np.clip(np.round(np.asarray(x, dtype=np.float64) / self.scale) + self.zero_point, self.qmin, self.qmax)
        return self.scale * (q - self.zero_point)

    def clip_fraction(self, x: np.ndarray) -> float:
        """Fraction of x beyond the outermost levels by more than half a step (clipped, not rounded)."""
        lo, hi = self.scale * (self.qmin - self.zero_point - 0.5), self.scale * (self.qmax - self.zero_point + 0.5)
        x = np.asarray(x)
        return float(np.mean((x < lo) | (x > hi))) if x.size else 0.0


def symmetric_grid(x: np.ndarray, bits: int) -> Grid:
    """Zero-point-free signed grid whose outermost levels are +-max|x|."""
    m = float(np.max(np.abs(x))) if np.size(x) else 0.0
    if bits == 1:
        return BipolarGrid(scale=m, zero_point=0, qmin=-1, qmax=1)
    n = 2 ** (bits - 1) - 1
    return Grid(scale=m / n, zero_point=0, qmin=-n, qmax=n)


class BipolarGrid(Grid):
    """+-scale only (no zero level): 1-bit symmetric quantization, x_hat = scale * sign(x)."""

    def levels(self) -> np.ndarray:
        return np.array([-self.scale, self.scale])

    def fake_quant(self, x: np.ndarray) -> np.ndarray:
        return self.scale * np.where(np.asarray(x, dtype=np.float64) >= 0, 1.0, -1.0)


def asymmetric_grid(x: np.ndarray, bits: int) -> Grid:
    """The zero-point grid spanning [min, max] of x: s = (max - min)/(2^b - 1), z = round(-min/s)."""
    lo = float(np.min(x)) if np.size(x) else 0.0
    hi = float(np.max(x)) if np.size(x) else 0.0
    n = 2**bits - 1
    s = (hi - lo) / n
    z = int(np.round(-lo / s)) if s > 0 else 0
    return Grid(scale=s, zero_point=z, qmin=0, qmax=n)


def compare_grids(x: np.ndarray, bits: int) -> dict:
    """SQNR of the symmetric and the asymmetric grid at `bits` on the same tensor x."""
    out = {}
    for kind, grid in (("symmetric", symmetric_grid(x, bits)), ("asymmetric", asymmetric_grid(x, bits))):
        out[kind] = {"scale": grid.scale, "zero_point": grid.zero_point, "qmin": grid.qmin, "qmax": grid.qmax,
                     "sqnr_db": sqnr_db(x, grid.fake_quant(x))}
    return out
