"""The report's charts, drawn with matplotlib on an Agg canvas (no pyplot state, no display) and
returned as PNG data URIs, so the page is one self-contained file.

Each function takes plain numbers (from report.json / verify.json) and returns a data URI.
"""

from __future__ import annotations

import base64
import io

import numpy as np

BOTTLENECK = "#d62728"  # the slowest layer, in red on the cycles chart (the browser test looks for it)
LAYER = "#1f77b4"
TRAIN, VERIFY = "#8c8c8c", "#2ca02c"
SOURCES = ("estimate", "Yosys", "Vivado (IP)")  # the rows of the resource chart, in this order


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=90, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _uri(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})  # no version stamp: same build, same bytes
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def accuracy_chart(rows: list[tuple[str, float, str]]) -> str:
    """Horizontal bars, one per stage (training stages grey, verification stages green)."""
    fig = _figure(8.5, 0.45 * len(rows) + 1.0)
    ax = fig.add_subplot()
    names = [r[0] for r in rows][::-1]
    values = [100 * r[1] for r in rows][::-1]
    colors = [VERIFY if "frames" in r[2] else TRAIN for r in rows][::-1]
    bars = ax.barh(names, values, color=colors)
    ax.bar_label(bars, labels=[f"{v:.2f}%" for v in values], padding=3)
    ax.set_xlim(0, 112)
    ax.set_xlabel("top-1 accuracy (%)  -  grey: training (test set), green: verification frames")
    ax.grid(axis="x", alpha=0.3)
    return _uri(fig)


def cycles_chart(layers: list[dict], bottleneck: str | None, ii: float | None) -> str:
    """Cycles per frame of each hardware layer, the bottleneck in red, with its PE x SIMD."""
    fig = _figure(max(8.0, 1.1 * len(layers) + 2), 3.6)
    ax = fig.add_subplot()
    x = np.arange(len(layers))
    cycles = [l.get("cycles") or 0 for l in layers]
    colors = [BOTTLENECK if l["name"] == bottleneck else LAYER for l in layers]
    bars = ax.bar(x, cycles, color=colors)
    fold = ["\n".join(f"{k} {l[k.lower()]}" for k in ("PE", "SIMD") if l.get(k.lower())) for l in layers]
    ax.bar_label(bars, labels=[f"{c:,}" for c in cycles], padding=2, fontsize=8)
    ax.set_xticks(x, [f"{l['name']}\n{l.get('kind', '')}\n{f}" for l, f in zip(layers, fold)], fontsize=8)
    if ii:
        ax.axhline(ii, color=BOTTLENECK, ls="--", lw=1, label=f"initiation interval {ii:,} cycles/frame")
        ax.legend(loc="upper right", fontsize=8)
    ax.set_ylabel("cycles per frame")
    ax.set_ylim(0, max(cycles + [1]) * 1.25)
    ax.set_title("cycles per frame per layer (red: the bottleneck)", fontsize=10)
    return _uri(fig)


def resource_chart(parts: dict[str, dict[str, dict[str, float]]], capacity: dict[str, float] | None,
                   keys=("LUT", "FF", "BRAM18", "DSP")) -> str:
    """One panel per resource: a stacked bar per source (estimate, Yosys, Vivado), one segment per
    part (layer, FIFOs, DMA converter), as a share of the board (or in units without a board).

    parts: source -> part -> {resource: count}.
    """
    from matplotlib import colormaps

    names = list(dict.fromkeys(p for src in parts.values() for p in src))
    cmap = colormaps["tab20"]
    fig = _figure(10, 1.0 + 1.1 * len(keys))
    axes = fig.subplots(len(keys), 1, squeeze=False)[:, 0]
    sources = [s for s in SOURCES if s in parts]
    for ax, key in zip(axes, keys):
        cap = (capacity or {}).get(key)
        for row, src in enumerate(sources):
            left = 0.0
            for i, name in enumerate(names):
                v = float(parts[src].get(name, {}).get(key, 0) or 0)
                v = 100 * v / cap if cap else v
                if v:
                    ax.barh(row, v, left=left, color=cmap(i % 20), label=name if key == keys[0] and row == 0 else None)
                left += v
            ax.text(left, row, f" {left:.1f}%" if cap else f" {left:,.0f}", va="center", fontsize=8)
        ax.set_yticks(range(len(sources)), sources, fontsize=8)
        ax.invert_yaxis()
        if cap:
            ax.axvline(100, color="k", lw=1)
            ax.axvline(85, color="k", lw=0.8, ls=":")
            ax.set_xlim(0, 115)
            ax.set_ylabel(f"{key}\n({cap:,.0f})", rotation=0, ha="right", va="center", fontsize=9)
        else:
            ax.set_ylabel(key, rotation=0, ha="right", va="center", fontsize=9)
    axes[-1].set_xlabel("% of the board's capacity (solid: 100%, dotted: the 85% auto-folding cap)" if capacity
                        else "count (no --board: no capacity)")
    fig.legend(loc="outside upper center", ncols=min(len(names), 8), fontsize=8)
    return _uri(fig)


def confusion_chart(matrix: list[list[int]]) -> str:
    """Counts of (true class, predicted class); the diagonal is what was right."""
    m = np.asarray(matrix)
    k = m.shape[0]
    fig = _figure(5.2, 4.6)
    ax = fig.add_subplot()
    im = ax.imshow(m, cmap="Blues")
    fig.colorbar(im, ax=ax, shrink=0.8)
    if k <= 20:
        top = m.max() or 1
        for i in range(k):
            for j in range(k):
                if m[i, j]:
                    ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if m[i, j] > top / 2 else "black")
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    ax.set_xlabel("predicted class (IR = hardware)")
    ax.set_ylabel("true class")
    return _uri(fig)
