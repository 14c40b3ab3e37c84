"""Print benchmark rows as an aligned text table (every bench script uses this)."""

from __future__ import annotations


def print_table(title: str, rows: list[dict]) -> None:
    """Print `rows` (dicts with the same keys) under `title`, columns aligned."""
    print(f"\n== {title} ==")
    if not rows:
        print("(no rows)")
        return
    keys = list(rows[0].keys())
    cells = [[str(r.get(k, "")) for k in keys] for r in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
    print("  ".join(k.ljust(w) for k, w in zip(keys, widths)))
    print("  ".join("-" * w for w in widths))
    for c in cells:
        print("  ".join(v.ljust(w) for v, w in zip(c, widths)))
