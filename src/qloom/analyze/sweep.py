"""Accuracy against bit width for one model family: short QAT runs at each (w, a), plus float.

Each run is an ordinary `qloom train` into OUT/sweep/MODEL (so every point can be built,
verified or analyzed later); the rows keep the numbers of its metrics.json. With the float twin,
each QAT point with w, a >= 2 also gets `ptq_accuracy`: plain PTQ (`qloom quantize`) of the float
model at the same bits, into OUT/sweep/FAMILY-ptq-wWaA.
"""

from __future__ import annotations

import time
from pathlib import Path

from qloom.errors import QloomError

DEFAULT_BITS = (1, 2, 4, 8)


def sweep_pairs(bits, grid: bool = False) -> list[tuple[int, int]]:
    """(w, a) pairs: the diagonal w = a, or every combination with `grid`."""
    bits = sorted(set(bits))
    return [(w, a) for w in bits for a in bits] if grid else [(b, b) for b in bits]


def _ptq_point(float_dir: Path, dataset: str, out: Path, w: int, a: int, limit_eval, seed: int) -> float:
    """Test accuracy of plain 8-bit-input PTQ (`qloom quantize`, default options) at (w, a)."""
    from qloom.quantize import PTQConfig, ptq

    return ptq(str(float_dir), dataset, out, PTQConfig(weight_bits=w, act_bits=a, seed=seed),
               limit_eval=limit_eval, progress=False)["test_accuracy"]


def bit_width_sweep(family: str, dataset: str, out, *, bits=DEFAULT_BITS, grid: bool = False,
                    with_float: bool = True, epochs: int = 3, limit_train: int | None = None,
                    limit_eval: int | None = None, seed: int = 0, progress: bool = False, **recipe) -> dict:
    """Train FAMILY-wWaA for every pair (and FAMILY-float) briefly; returns the sweep dict."""
    from qloom.models import FAMILIES, VALID_BITS
    from qloom.train import train_zoo_model

    if family not in FAMILIES:
        raise QloomError(f"unknown model family {family!r} for --sweep; valid: {', '.join(FAMILIES)}")
    bad = [b for b in bits if b not in VALID_BITS]
    if bad or not bits:
        raise QloomError(f"--sweep-bits {','.join(map(str, bits))}: each must be one of {', '.join(map(str, VALID_BITS))}")
    out = Path(out)
    keys = ("model", "weight_bits", "act_bits", "test_accuracy", "val_accuracy", "train_seconds")
    t0 = time.perf_counter()
    float_row, float_dir = None, out / "sweep" / f"{family}-float"
    if with_float:  # first: each QAT point then gets a PTQ point of the float twin beside it
        m = train_zoo_model(family, dataset, float_dir, epochs=epochs, limit_train=limit_train,
                            limit_eval=limit_eval, seed=seed, progress=progress, float_model=True, **recipe)
        float_row = {k: m[k] for k in keys}
    rows = []
    for w, a in sweep_pairs(bits, grid):
        name = f"{family}-w{w}a{a}"
        m = train_zoo_model(name, dataset, out / "sweep" / name, epochs=epochs, limit_train=limit_train,
                            limit_eval=limit_eval, seed=seed, progress=progress, **recipe)
        row = {k: m[k] for k in keys}
        row["ptq_accuracy"] = _ptq_point(float_dir, dataset, out / "sweep" / f"{family}-ptq-w{w}a{a}", w, a,
                                         limit_eval, seed) if with_float and min(w, a) >= 2 else None
        rows.append(row)
        if progress:
            ptq_note = f", PTQ of the float twin {row['ptq_accuracy']:.4f}" if row["ptq_accuracy"] is not None else ""
            print(f"sweep {name}: test accuracy {m['test_accuracy']:.4f}{ptq_note} ({m['train_seconds']:.0f} s)")
    if float_row is not None:
        rows.append(float_row)
    return {"family": family, "dataset": dataset, "epochs": epochs, "limit_train": limit_train,
            "limit_eval": limit_eval, "seed": seed, "grid": grid, "rows": rows,
            "seconds": round(time.perf_counter() - t0, 1)}
