"""The self-contained analysis page: inline CSS, figures as data URIs, no scripts, no network."""

from __future__ import annotations

import html

from qloom.analyze.metrics import __doc__ as FORMULAS

CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:13px;margin:1em 0}th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}.fig{display:inline-block;margin:6px;vertical-align:top}
.fig img{max-width:100%;border:1px solid #eee}pre{background:#f7f7f7;padding:8px;font-size:12px;overflow-x:auto}
.best{font-weight:bold;color:#2a7a2a}"""


def _e(v) -> str:
    return html.escape(str(v))


def _db(v) -> str:
    return "exact" if v is None else f"{v:.1f}"


def _layer_table(layers: list[dict]) -> str:
    head = ("<tr><th class=l>quantizer</th><th class=l>where</th><th>bits</th><th>scale</th><th>values</th>"
            "<th>clipped %</th><th>SQNR model (dB)</th><th>rescaled</th><th>symmetric</th><th>asymmetric</th></tr>")
    rows = []
    for l in layers:
        sc = l["scale"]
        scale = f"{sc['min']:.3g}..{sc['max']:.3g} (per channel)" if isinstance(sc, dict) else f"{sc:.4g}"
        sym, asym = l["symmetric"]["sqnr_db"], l["asymmetric"]["sqnr_db"]
        inf = float("inf")
        better = "asymmetric" if (inf if asym is None else asym) > (inf if sym is None else sym) else "symmetric"
        cells = {"symmetric": _db(sym), "asymmetric": _db(asym)}
        cells[better] = f"<span class=best>{cells[better]}</span>"
        rows.append(f"<tr><td class=l>{_e(l['name'])}</td><td class=l>{_e(l['where'])}</td><td>{l['bits']}</td>"
                    f"<td>{scale}</td><td>{l['n_values']}</td><td>{100 * l['clip_fraction']:.2f}</td>"
                    f"<td>{_db(l['sqnr_db'])}</td><td>{_db(l.get('sqnr_rescaled_db'))}</td>"
                    f"<td>{cells['symmetric']}</td><td>{cells['asymmetric']}</td></tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _pct(v) -> str:
    return "" if v is None else f"{100 * v:.2f}"


def _sweep_table(sweep: dict) -> str:
    rows = "".join(
        f"<tr><td class=l>{_e(r['model'])}</td><td>{_e(r.get('weight_bits') or 'float')}</td>"
        f"<td>{_e(r.get('act_bits') or 'float')}</td><td>{_pct(r['test_accuracy'])}</td>"
        f"<td>{_pct(r.get('ptq_accuracy'))}</td><td>{_pct(r['val_accuracy'])}</td><td>{r['train_seconds']:.0f}</td></tr>"
        for r in sweep["rows"])
    return ("<table><tr><th class=l>model</th><th>weight bits</th><th>act bits</th><th>test acc % (QAT)</th>"
            f"<th>PTQ of float %</th><th>val acc %</th><th>train s</th></tr>{rows}</table>")


def section_html(result: dict, figures: list[tuple[str, str]] | None = None, level: int = 2) -> str:
    """The analysis as an HTML fragment (tables, figures, definitions) with headings of `level`:
    the body of analysis.html, and what a build report embeds as its quantization section."""
    from qloom.analyze.plots import analysis_figures

    figures = analysis_figures(result) if figures is None else figures
    h = f"h{level}"
    parts = []
    if result.get("layers"):
        acc = result.get("accuracy")
        if acc is not None:
            parts.append(f"<p>Model <b>{_e(result.get('model') or result.get('source'))}</b> on {result['frames']} "
                         f"{_e(result['dataset'])} test images; QONNX reference accuracy on them: {100 * acc:.2f}%.</p>")
        parts.append(f"<{h}>Per-quantizer error</{h}><p>SQNR of the model's own quantizer on real data (also "
                     "after the best overall rescaling, which a following BatchNorm does for free), and of a "
                     "symmetric and an asymmetric grid of the same bit width on the same tensor (the better "
                     "of the two in bold).</p>")
        parts.append(_layer_table(result["layers"]))
    if result.get("sweep"):
        parts.append(f"<{h}>Accuracy against bit width</{h}>" + _sweep_table(result["sweep"]))
    parts.append(f"<{h}>Figures</{h}>")
    for title, uri in figures:
        parts.append(f"<div class=fig><img alt='{_e(title)}' title='{_e(title)}' src='{uri}'></div>")
    parts.append(f"<{h}>Definitions</{h}><pre>{_e(FORMULAS.strip())}</pre>")
    return "\n".join(parts)


def render_page(result: dict, figures: list[tuple[str, str]] | None = None) -> str:
    """analysis.html for `result` (the analysis.json dict); CSS is `CSS` (the fragment's classes)."""
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>qloom analysis</title><style>{CSS}</style>"
             "</head><body>", "<h1>qloom quantization analysis</h1>", section_html(result, figures)]
    if result.get("command"):
        parts.append(f"<p><small>made by <code>{_e(result['command'])}</code></small></p>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
