"""Accuracy against bit width for one model family: short QAT runs at each (w, a), plus float.

Each run is an ordinary `qloom train` into OUT/sweep/MODEL (so every point can be built,
verified or analyzed later); the rows keep the numbers of its metrics.json.
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
    runs = [(f"{family}-w{w}a{a}", False) for w, a in sweep_pairs(bits, grid)]
    if with_float:
        runs.append((f"{family}-float", True))
    rows = []
    t0 = time.perf_counter()
    for name, is_float in runs:
        m = train_zoo_model(name if not is_float else family, dataset, Path(out) / "sweep" / name, epochs=epochs,
                            limit_train=limit_train, limit_eval=limit_eval, seed=seed, progress=progress,
                            float_model=is_float, **recipe)
        rows.append({k: m[k] for k in ("model", "weight_bits", "act_bits", "test_accuracy", "val_accuracy",
                                       "train_seconds")})
        if progress:
            print(f"sweep {name}: test accuracy {m['test_accuracy']:.4f} ({m['train_seconds']:.0f} s)")
    return {"family": family, "dataset": dataset, "epochs": epochs, "limit_train": limit_train,
            "limit_eval": limit_eval, "seed": seed, "grid": grid, "rows": rows,
            "seconds": round(time.perf_counter() - t0, 1)}
