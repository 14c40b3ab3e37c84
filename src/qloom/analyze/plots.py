"""Matplotlib figures of an analysis result (the analysis.json dict), as embeddable data URIs.

Drawn from the JSON alone (histograms and grids are stored there), so the build report can
embed the same figures from a saved analysis.json without re-running the model. Uses the
object-oriented API on an Agg canvas: no pyplot state, no display, no global backend switch.
"""

from __future__ import annotations

import base64
import io

import numpy as np

MAX_GRID_LINES = 64  # above this many levels every k-th level is drawn (a 255-line comb is a grey smear)
COLORS = {"model": "#1f77b4", "symmetric": "#ff7f0e", "asymmetric": "#2ca02c"}


def _figure(width: float = 6.4, height: float = 2.8):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _data_uri(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def grid_levels(grid: dict) -> np.ndarray:
    """The level values of a stored grid (analysis.json layers[i].grid)."""
    if grid.get("bipolar"):
        return np.array([-grid["scale"], grid["scale"]])
    return grid["scale"] * (np.arange(grid["qmin"], grid["qmax"] + 1) - grid["zero_point"])


def _fmt_db(v) -> str:
    return "exact" if v is None else f"{v:.1f} dB"


def histogram_figure(layer: dict) -> str:
    """Histogram of the float tensor with the quantizer's grid levels drawn over it."""
    h = layer["histogram"]
    edges, counts = np.asarray(h["edges"]), np.asarray(h["counts"], dtype=float)
    fig = _figure()
    ax = fig.add_subplot()
    ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color="#9ecae1", edgecolor="none", label="float values")
    levels = grid_levels(layer["grid"])
    step = max(1, int(np.ceil(len(levels) / MAX_GRID_LINES)))
    shown = levels[::step]
    for v in shown:
        ax.axvline(v, color="#d62728", lw=0.6, alpha=0.7)
    ax.plot([], [], color="#d62728", lw=0.8,
            label=f"grid: {len(levels)} levels" + (f" (every {step}th shown)" if step > 1 else ""))
    ax.set_yscale("log" if counts.max() > 50 * max(1.0, np.median(counts[counts > 0])) else "linear")
    unit = "value / per-channel scale (grid steps)" if h.get("unit") == "step" else "value"
    ax.set_xlabel(unit)
    ax.set_ylabel("count")
    ax.legend(loc="upper right", fontsize=7, frameon=False)
    ax.set_title(f"{layer['name']}: {layer['where']}\n{layer['bits']}-bit, SQNR {_fmt_db(layer['sqnr_db'])}, "
                 f"clipped {100 * layer['clip_fraction']:.2f}%", fontsize=8)
    return _data_uri(fig)


def sqnr_figure(layers: list[dict]) -> str:
    """Per-layer SQNR: the model's own quantizer beside the symmetric and asymmetric grids."""
    rows = [l for l in layers if l["role"] != "input"]
    fig = _figure(max(6.4, 0.9 * len(rows) + 2), 3.0)
    ax = fig.add_subplot()
    x = np.arange(len(rows))
    width = 0.27
    for i, (key, label) in enumerate((("model", "model's quantizer"), ("symmetric", "symmetric (max |x|)"),
                                      ("asymmetric", "asymmetric (min/max, zero point)"))):
        vals = [(l["sqnr_db"] if key == "model" else l[key]["sqnr_db"]) for l in rows]
        vals = [np.nan if v is None else v for v in vals]
        ax.bar(x + (i - 1) * width, vals, width, label=label, color=COLORS[key])
    ax.set_xticks(x, [f"{l['name']}\n{l['role'][:3]} {l['bits']}b" for l in rows], fontsize=7)
    ax.set_ylabel("SQNR (dB)")
    ax.axhline(0, color="black", lw=0.5)
    ax.legend(fontsize=7, frameon=False, ncols=3, loc="upper center", bbox_to_anchor=(0.5, 1.18))
    return _data_uri(fig)


def sweep_figure(sweep: dict) -> str:
    """Test accuracy against bits: QAT (solid) and PTQ of the float twin (dotted), float dashed.

    Diagonal sweeps (w = a) draw one line over the bit widths; a grid sweep one line per
    activation bit width, against weight bits."""
    fig = _figure(5.2, 3.2)
    ax = fig.add_subplot()
    rows = [r for r in sweep["rows"] if r.get("weight_bits") is not None]
    groups = sorted({r["act_bits"] for r in rows}) if sweep.get("grid") else [None]
    for a in groups:
        sel = [r for r in rows if a is None or r["act_bits"] == a]
        tag = "" if a is None else f", a{a}"
        qat = sorted((r["weight_bits"], r["test_accuracy"]) for r in sel)
        line = ax.plot([p[0] for p in qat], [100 * p[1] for p in qat], marker="o", label=f"QAT{tag}")
        ptq = sorted((r["weight_bits"], r["ptq_accuracy"]) for r in sel if r.get("ptq_accuracy") is not None)
        if ptq:
            ax.plot([p[0] for p in ptq], [100 * p[1] for p in ptq], marker="s", ls=":", color=line[0].get_color(),
                    label=f"PTQ of the float model{tag}")
    for r in sweep["rows"]:
        if r.get("weight_bits") is None:
            ax.axhline(100 * r["test_accuracy"], ls="--", color="grey", label=f"float {100 * r['test_accuracy']:.2f}%")
    bits = sorted({r["weight_bits"] for r in rows})
    ax.set_xscale("log", base=2)
    ax.set_xticks(bits, [str(b) for b in bits])
    ax.set_xlabel("weight bits" if sweep.get("grid") else "bits (weights = activations)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{sweep['family']} on {sweep['dataset']}, {sweep['epochs']} epochs", fontsize=9)
    ax.legend(fontsize=7, frameon=False)
    ax.grid(alpha=0.3)
    return _data_uri(fig)


def analysis_figures(result: dict) -> list[tuple[str, str]]:
    """[(title, data URI of a PNG)] for an analysis result: SQNR summary, one histogram per
    quantizer, and the bit-width sweep when present. `<img src=URI>` embeds each."""
    figs: list[tuple[str, str]] = []
    layers = result.get("layers") or []
    if layers:
        figs.append(("Quantization error per layer (SQNR)", sqnr_figure(layers)))
        for layer in layers:
            figs.append((f"{layer['name']}: {layer['where']}", histogram_figure(layer)))
    if result.get("sweep"):
        figs.append(("Accuracy against bit width", sweep_figure(result["sweep"])))
    return figs
