"""report.html: one self-contained page (inline CSS, charts as data URIs, no script, no network).

Every section has an `id` (the browser test checks them): summary, accuracy, cycles, graph,
resources, confusion, timing, rounding, analysis, vivado, artifacts. A section without data
says what command would give it, rather than vanishing.
"""

from __future__ import annotations

import html

from qloom import artifacts as A
from qloom.report import charts
from qloom.report import graph as hwgraph
from qloom.report.collect import Build, accuracies

GENERATOR = "qloom report"  # <meta name=generator>: marks a report.html that qloom may overwrite
SECTIONS = ("summary", "accuracy", "cycles", "graph", "resources", "confusion", "timing", "rounding", "analysis",
            "vivado", "artifacts")
KEYS = ("LUT", "FF", "BRAM18", "DSP")

CSS = """body{font-family:system-ui,sans-serif;max-width:1180px;margin:1.5em auto;padding:0 1em;color:#222}
h1{margin-bottom:0}h2{border-bottom:2px solid #ddd;padding-bottom:3px;margin-top:1.6em}
table{border-collapse:collapse;font-size:13px;margin:.6em 0}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}img.chart{max-width:100%;border:1px solid #eee}.cards{display:flex;flex-wrap:wrap;gap:10px;margin:1em 0}.card{border:1px solid #ddd;border-radius:6px;padding:8px 12px;
min-width:140px}.card b{display:block;font-size:20px}.ok{color:#2a7a2a}.bad{color:#b00}.note{color:#555;font-size:13px}
svg.graph{max-width:100%;height:auto;display:block;margin:.5em 0}
.warn{background:#fff4e0;border-left:4px solid #e0a030;padding:6px 10px}code{background:#f3f3f3;padding:0 3px}"""


def _e(v) -> str:
    return html.escape(str(v))


def _n(v, fmt="{:,}") -> str:
    return "-" if v is None else fmt.format(v)


def _table(head: list[str], rows: list[list], left: int = 1) -> str:
    th = "".join(f"<th class=l>{_e(h)}</th>" if i < left else f"<th>{_e(h)}</th>" for i, h in enumerate(head))
    body = "".join("<tr>" + "".join(f"<td class=l>{c}</td>" if i < left else f"<td>{c}</td>" for i, c in enumerate(r))
                   + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def _img(uri: str, alt: str) -> str:
    return f"<img class=chart alt='{_e(alt)}' src='{uri}'>"


def _section(sid: str, title: str, body: str) -> str:
    return f"<section id={sid}><h2>{_e(title)}</h2>\n{body}\n</section>"


def _status(entry: dict) -> str:
    ok = entry.get("mismatches") == 0 and entry.get("passed", True) and not entry.get("error")
    return "<span class=ok>bit-exact</span>" if ok else "<span class=bad>FAILED</span>"


def _summary(b: Build) -> str:
    r, bj = b.report, b.build
    board = (r.get("board") or {})
    cards = [("model", _e(b.metrics.get("model") or (b.model.name if b.model else "?"))),
             ("board", _e(board.get("name") or "none (no --board)")),
             ("stages", _e(", ".join(bj.get("stages", {})) or "-")),
             ("cycles / frame", _n(r.get("cycles_per_frame"))),
             ("frames/s at target clock", _n(r.get("fps"), "{:,.0f}"))]
    util = (r.get("yosys") or {}).get("utilization") or board.get("utilization") or {}
    if util.get("LUT") is not None:
        by = "Yosys" if (r.get("yosys") or {}).get("utilization") else "estimate"
        cards.append((f"LUT of the board ({by})", f"{100 * util['LUT']:.1f}%"))
    ld = b.synth.get("logic_depth")
    depth = ld.get("design") if isinstance(ld, dict) else None
    if isinstance(depth, dict) and depth.get("logic_levels") is not None:  # details and caveat: the timing section
        cards.append(("logic depth (cells only, no routing)",
                      f"{_n(depth['logic_levels'])} levels <small>{_n(depth.get('path_ns'), '{:.1f}')} ns</small>"))
    for level, e in b.verify.items():
        cards.append((f"verify {level}", f"{_status(e)} <small>{e.get('frames')} frames</small>"))
    html_cards = "".join(f"<div class=card>{_e(k)}<b>{v}</b></div>" for k, v in cards)
    body = f"<div class=cards>{html_cards}</div>"
    if not bj.get("complete", True):
        body += "<p class=warn>build.json says this build is not complete: some stages are missing.</p>"
    if (b.dir / A.VERIFY_STALE_JSON).exists() and not b.verify:
        body += (f"<p class=warn>A rebuild replaced what was verified ({A.VERIFY_STALE_JSON}); "
                 "run <code>qloom verify DIR</code> again.</p>")
    for p in b.problems:
        body += f"<p class=warn>{_e(p)}</p>"
    return _section("summary", "Summary", body)


def _accuracy(b: Build) -> str:
    rows = accuracies(b)
    if not rows:
        return _section("accuracy", "Accuracy at every stage",
                        "<p class=note>No accuracy known yet: no metrics.json beside the model and no verification; "
                        "run <code>qloom verify DIR --level ir --level rtl</code>.</p>")
    table = _table(["stage", "top-1 accuracy", "measured on"],
                   [[_e(s), f"{100 * v:.2f}%", _e(w)] for s, v, w in rows])
    note = ("<p class=note>Training figures come from the training folder's metrics.json (whole test set); "
            "verification figures from verify.json on its frames. Bit-exact levels agree frame by frame, "
            "so their accuracies are equal on the same frames.</p>")
    return _section("accuracy", "Accuracy at every stage", _img(charts.accuracy_chart(rows), "accuracy") + table + note)


def _hw_layers(b: Build) -> list[dict]:
    return [l for l in b.report.get("layers", []) if l.get("hardware", True) and l.get("kind") != "InputQuant"]


def _cycles(b: Build) -> str:
    layers, r = _hw_layers(b), b.report
    if not layers:
        return _section("cycles", "Cycles per layer", "<p class=note>No report.json: build through 'fold'.</p>")
    rows = [[_e(l["name"]), _e(l.get("kind")), f"{_e(l.get('in_shape'))} &rarr; {_e(l.get('out_shape'))}",
             _n(l.get("pe")), _n(l.get("simd")), _n(l.get("kpar")), _e(l.get("mem_style") or "-"), _n(l.get("cycles")),
             "<b class=bad>bottleneck</b>" if l["name"] == r.get("bottleneck") else ""] for l in layers]
    table = _table(["layer", "kind", "shape (H, W, C)", "PE", "SIMD", "KPAR", "memory", "cycles", ""], rows, left=3)
    if any(l.get("kpar") is not None for l in layers):
        table += "<p class=note>KPAR: a sliding window's window words per output word (SIMD channels each).</p>"
    chart = charts.cycles_chart(layers, r.get("bottleneck"), r.get("cycles_per_frame"))
    return _section("cycles", "Cycles per layer and folding", _img(chart, "cycles per layer") + table)


def _graph(b: Build) -> str:
    title = "Hardware graph"
    if b.graph is None or not b.report.get("layers"):
        return _section("graph", title, "<p class=note>No folded IR and report.json yet: build through 'fold'.</p>")
    nodes, edges = hwgraph.hardware_graph(b.graph, b.report, b.design)
    ii, hot = b.report.get("cycles_per_frame"), b.report.get("bottleneck")
    notes = [("Layers in topological order, top to bottom (rows: the longest path from the DMA input); "
              "each box: kind, folding, cycles per frame and a bar of its share of the initiation interval "
              f"({_n(ii)} cycles/frame, set by <b class=bad>{_e(hot or '-')}</b>, in red).")]
    known = [e for e in edges if e.fifo is not None]
    if known:
        notes.append("Arrows: the streams, labelled with the words of the FIFO in front of the consumer "
                     "(p<i>n</i>: its input port), as rtl/design.json builds them.")
    elif b.design:
        notes.append("rtl/design.json names no FIFO depths (an older qloom): the arrows carry none.")
    else:
        notes.append("No FIFO depths yet: the rtl stage writes them to rtl/design.json (build without "
                     "<code>--stop-after fold</code>, or <code>--resume</code>).")
    rows = [[_e(e.src), _e(e.dst), _n(e.port) if e.ports > 1 else "-", _n(e.fifo),
             f"{e.dwc['in']} &rarr; {e.dwc['out']}" if isinstance(e.dwc, dict) and "in" in e.dwc else "-"]
            for e in edges if e.dst != hwgraph.OUT]
    table = (f"<details><summary>every stream ({len(rows)})</summary>"
             + _table(["from", "to", "port", "FIFO depth (words)", "width converter (elements/word)"], rows, left=2)
             + "</details>")
    body = hwgraph.svg(nodes, edges, ii) + "".join(f"<p class=note>{n}</p>" for n in notes) + table
    return _section("graph", title, body)


def _resource_parts(b: Build) -> dict:
    r, parts = b.report, {}
    layers = _hw_layers(b)
    parts["estimate"] = {l["name"]: l.get("resources") or {} for l in layers}
    fifo = {k: sum((s or {}).get(k, 0) for s in (r.get("streams") or {}).values()) for k in KEYS}
    parts["estimate"]["FIFOs / converters"] = fifo
    if r.get("dma"):
        parts["estimate"]["DMA input converter"] = r["dma"]
    if any(l.get("yosys") for l in layers):
        parts["Yosys"] = {l["name"]: l.get("yosys") or {} for l in layers}
        ys = r.get("streams_yosys") or {}
        parts["Yosys"]["FIFOs / converters"] = {k: sum((s or {}).get(k, 0) for s in ys.values()) for k in KEYS}
    ip = (r.get("vivado") or {}).get("ip") or {}
    if ip:
        parts["Vivado (IP)"] = {"whole IP (Vivado)": {k: ip.get(k) or 0 for k in KEYS}}
    return parts


def _resources(b: Build) -> str:
    r = b.report
    layers = _hw_layers(b)
    if not layers:
        return _section("resources", "Resources per layer", "<p class=note>No report.json: build through 'fold'.</p>")
    board = r.get("board") or {}
    cap = board.get("capacity")
    rows = []
    for l in layers:
        est, ys = l.get("resources") or {}, l.get("yosys") or {}
        rows.append([_e(l["name"])] + [_n(est.get(k)) + (f" / {_n(ys.get(k))}" if ys else "") for k in KEYS])
    streams, ystreams = r.get("streams") or {}, r.get("streams_yosys") or {}
    if streams:
        est = {k: sum((v or {}).get(k, 0) for v in streams.values()) for k in KEYS}
        ys = {k: sum((v or {}).get(k, 0) for v in ystreams.values()) for k in KEYS} if ystreams else {}
        rows.append(["FIFOs / width converters"] + [_n(est[k]) + (f" / {_n(ys[k])}" if ys else "") for k in KEYS])
    tot, ytot = r.get("totals") or {}, ((r.get("yosys") or {}).get("total") or {})
    yrow = {"LUT": ytot.get("slice_LUT"), "FF": ytot.get("FF"), "BRAM18": ytot.get("BRAM18"), "DSP": ytot.get("DSP")}
    rows.append(["<b>total</b>"] + [f"<b>{_n(tot.get(k))}</b>" + (f" / <b>{_n(yrow[k])}</b>" if ytot else "")
                                    for k in KEYS])
    if cap:
        rows.append([f"board {_e(board.get('name'))}"] + [_n(cap.get(k)) for k in KEYS])
    table = _table(["layer", *(f"{k} (estimate{' / Yosys' if ytot else ''})" for k in KEYS)], rows)
    notes = [] if ytot else ["Yosys has not run: the same <code>qloom build</code> command with <code>--resume</code> "
                             "and without <code>--stop-after</code> adds its per-layer counts."]
    if ytot:
        notes.append(_e((r.get("yosys") or {}).get("note") or "") + "; LUT = slice LUTs (logic + LUTRAM/SRL).")
    if r.get("totals_with_dma"):
        notes.append(f"With the DMA input converter: {_n(r['totals_with_dma'].get('LUT'))} LUT estimated.")
    parts = _resource_parts(b)
    used = [k for k in KEYS if any((c or {}).get(k) for src in parts.values() for c in src.values())]
    if unused := [k for k in KEYS if k not in used]:
        notes.append(f"No {', '.join(unused)} used (not drawn).")
    chart = charts.resource_chart(parts, cap, keys=tuple(used or ["LUT"]))
    body = _img(chart, "resources per layer") + table
    return _section("resources", "Resources per layer against the board",
                    body + "".join(f"<p class=note>{n}</p>" for n in notes))


def _confusion(b: Build) -> str:
    ir = b.verify.get("ir", {})
    m = ir.get("confusion")
    if not m:
        why = ("verification ran without labelled data" if ir else "the IR is not verified yet")
        return _section("confusion", "Confusion matrix",
                        f"<p class=note>No confusion matrix: {why}; run <code>qloom verify DIR --level ir "
                        "--dataset mnist</code>.</p>")
    note = (f"<p class=note>The IR's (= the hardware's, where verified bit-exact) classes on {ir.get('frames')} "
            f"{_e(ir.get('dataset'))} frames.</p>")
    return _section("confusion", "Confusion matrix", _img(charts.confusion_chart(m), "confusion matrix") + note)


def _timing(b: Build) -> str:
    r, rtl, drv = b.report, b.verify.get("rtl", {}), b.verify.get("driver", {})
    mhz = r.get("clock_mhz") or b.design.get("clock_mhz")
    if not mhz:
        return _section("timing", "Latency and throughput", "<p class=note>No report.json: build through 'fold'.</p>")
    ii, lat = r.get("cycles_per_frame"), r.get("latency_cycles")
    us = 1.0 / mhz
    rows = [["cycles per frame (initiation interval)", _n(ii), _n(rtl.get("cycles_per_frame"), "{:,.1f}"),
             _n(drv.get("cycles_per_frame"), "{:,.2f}")],
            ["latency (cycles)", _n(lat), _n(rtl.get("latency_cycles")), "-"],
            [f"latency at {mhz:g} MHz (&micro;s)", _n(lat * us if lat else None, "{:.3f}"),
             _n(rtl["latency_cycles"] * us if rtl.get("latency_cycles") else None, "{:.3f}"), "-"],
            [f"frames/s at {mhz:g} MHz", _n(r.get("fps"), "{:,.0f}"),
             _n(mhz * 1e6 / rtl["cycles_per_frame"] if rtl.get("cycles_per_frame") else None, "{:,.0f}"),
             _n(drv.get("board_frames_per_second"), "{:,.0f}")]]
    table = _table(["", "model (fold)", "RTL simulation", "driver + DMA co-sim"], rows)
    timing = (r.get("vivado") or {}).get("timing") or {}
    if timing:
        met = "<span class=ok>met</span>" if timing.get("met") else "<span class=bad>not met</span>"
        clock = (f"<p>Vivado's timing report (imported): target {_n(timing.get('target_mhz'))} MHz, WNS "
                 f"{_n(timing.get('wns_ns'))} ns, {met}; achieved {_n(timing.get('achieved_mhz'), '{:.1f}')} MHz.</p>")
    else:
        clock = (f"<p class=warn>{mhz:g} MHz is a <b>target</b> clock, not a measured one: nothing here is timed "
                 "(no place and route has run; the logic depth below adds up cell delays only). Frames/s and "
                 "microseconds are cycles divided by that target. Vivado's timing report, once "
                 "<code>qloom deploy DIR --import-reports</code> has read it, shows here.</p>")
    note = ("<p class=note>Measured cycles: RTL simulation in its stall-free steady state; driver co-simulation "
            "through the AXI DMA model.</p>")
    return _section("timing", "Latency and throughput", clock + table + note + _depth(b, mhz))


DEEP_SHARE = 0.5  # cells alone over half the period: routing, commonly as much again, may not fit


def _levels(e: dict) -> str:
    """Vivado's way of writing a path's levels: `13 (CARRY4=8 LUT2=1 ...)`."""
    kinds = " ".join(f"{k}={v}" for k, v in (e.get("levels") or {}).items())
    return f"{_n(e.get('logic_levels'))}" + (f" ({_e(kinds)})" if kinds else "")


def _share(share) -> str:
    if not isinstance(share, (int, float)):
        return "-"
    return f"<b class=bad>{100 * share:.0f}%</b>" if share >= DEEP_SHARE else f"{100 * share:.0f}%"


def _depth(b: Build, mhz: float) -> str:
    """The logic-depth estimate of synth.json (Yosys `sta`, cell delays only), labelled as such."""
    head = "<h3>Logic depth (Yosys, cell delays only)</h3>"
    if not b.synth:
        return head + ("<p class=note>No logic depth: no synth.json yet (the synth stage adds it: build without "
                       "<code>--stop-after</code>, or <code>--resume</code>).</p>")
    ld = b.synth.get("logic_depth")
    if not isinstance(ld, dict):
        return head + "<p class=note>synth.json holds no logic depth (an older qloom): rerun the synth stage.</p>"
    if not isinstance(ld.get("design"), dict):
        why = ld.get("error") or ld.get("note") or "Yosys found no register-to-register path"
        return head + f"<p class=note>No logic depth: {_e(why)}.</p>"
    d = ld["design"]
    share = d.get("share_of_target_period")
    where = f" in layer {_e(d['layer'])}" if d.get("layer") else (
        f" in {_e(d['end_instance'])}" if d.get("end_instance") else "")
    flag = None  # None: no share known; "": not deep
    if isinstance(share, (int, float)):
        flag = "" if share < DEEP_SHARE else (" <b class=bad>Over half the target period in cells alone: this path "
                                              f"may not meet {mhz:g} MHz once routed.</b>")
    of_period = f", {100 * share:.0f}% of the {1000 / mhz:g} ns target period" if flag is not None else ""
    body = (f"<p>Longest register-to-register path{where}: <b>{_levels(d)}</b> logic levels, "
            f"{_n(d.get('lut_levels'))} of them LUTs; its cells alone take {_n(d.get('path_ns'), '{:.2f}')} ns"
            f"{of_period}.{flag or ''}</p>")
    rows = [[_e(inst), _e(e.get("layer") or "-"), _e(e.get("part") or e.get("module") or "-"), _levels(e),
             _n(e.get("lut_levels")), _n(e.get("path_ns"), "{:.2f}"), _share(e.get("share_of_target_period")),
             _e(f"{e.get('start')} -> {e.get('end')}")] for inst, e in (ld.get("instances") or {}).items()]
    if rows:
        body += _table(["instance", "layer", "part", "logic levels", "LUT levels", "cell delay (ns)",
                        "of target period", "path from -> to"], rows, left=3)
    untimed = ld.get("untimed_cells") or []
    body += (f"<p class=note>{_e(ld.get('note') or '')} Each instance's own path starts at its inputs or "
             "registers; a path that crosses from one instance into the next counts only in the design's line."
             + (f" Cells without delays in the library (paths through them are cut): {_e(', '.join(untimed))}."
                if untimed else "") + "</p>")
    return head + body


def _rounding(b: Build) -> str:
    ties, ir = b.report.get("reference_ties"), b.verify.get("ir", {})
    parts = []
    if ir:
        rr = ir.get("reference_rounding") or {}
        exact = ir.get("exact_reference")
        parts.append(_table(["", "value"], [
            ["exact reference (power-of-two scales: every element compared with zero tolerance)", _e(exact)],
            ["elements within the reference's float32 rounding", _n(rr.get("elements"))],
            ["frames with such elements", _n(rr.get("frames"))],
            ["near ties (class differs only through the reference's rounding)", _n(ir.get("near_ties"))],
            ["mismatching frames", _n(ir.get("mismatches"))]]))
        hits = ir.get("reference_ties") or []
        if hits:
            rows = [[_e(t["layer"]), t["channel"], t["threshold"], t.get("hits", "-")] for t in hits[:30]]
            parts.append(_table(["layer", "channel", "threshold", "hits in verification"], rows))
    if ties:
        layers = sorted({t["layer"] for t in ties})
        parts.append(f"<p>{len(ties)} reference tie(s) at build time in {_e(', '.join(layers))}: thresholds an exact "
                     "integer accumulator can hit where the float reference rounds.</p>")
    elif ties is not None:
        parts.append("<p>No reference ties: no threshold sits where the float reference would round.</p>")
    if not parts:
        parts.append("<p class=note>Nothing known yet (build through 'fold', then verify).</p>")
    return _section("rounding", "Reference rounding and ties", "".join(parts))


def _analysis(b: Build) -> str:
    if b.analysis is None:
        model = b.model.parent if b.model else "MODEL_DIR"
        return _section("analysis", "Quantization analysis",
                        "<p class=note>No analysis.json in DIR or beside the model: "
                        f"<code>qloom analyze {_e(model)} --out DIR/analysis</code> adds it.</p>")
    from qloom.analyze.html import section_html

    page = b.analysis_path.with_name("analysis.html")
    link = f"<p>Full page: {_link(b, page)}</p>" if page.is_file() else ""
    try:
        body = section_html(b.analysis, level=3)
    except (KeyError, TypeError, ValueError, IndexError) as exc:  # another qloom's or a hand-edited file
        body = (f"<p class=warn>{_e(b.rel(b.analysis_path))} could not be drawn ({type(exc).__name__}: {_e(exc)}); "
                "run <code>qloom analyze</code> again.</p>")
    return _section("analysis", "Quantization analysis", link + body)


def _vivado(b: Build) -> str:
    v = b.report.get("vivado")
    if not v:
        return _section("vivado", "Vivado", "<p class=note>No Vivado figures: after <code>deploy/build.sh</code> on "
                        "the Vivado machine, <code>qloom deploy DIR --import-reports</code> brings them here."
                        "</p>")
    rows, design, ip = [], v.get("design") or {}, v.get("ip") or {}
    for k in KEYS:
        c = design.get(k) if isinstance(design.get(k), dict) else {}
        util = c.get("utilization")
        rows.append([k, _n(ip.get(k)), _n(c.get("used")), _n(c.get("available")),
                     "-" if util is None else f"{100 * util:.1f}%"])
    head = ["resource", "qloom IP", "whole block design", "available", "utilization"]
    return _section("vivado", "Vivado (imported reports)", _table(head, rows))


ARTIFACTS = [(A.BUILD_JSON, "stages, options, hashes"), (A.FRONTEND_ONNX, "cleaned QONNX: the reference"),
             (A.IR_JSON, "integer IR"), (A.IR_ONNX, "the IR for Netron"), (A.FOLDED_JSON, "IR with folding"),
             (A.FOLDING_JSON, "the folding (editable, --folding)"), (A.REPORT_JSON, "cycles and resources"),
             (A.ESTIMATE_JSON, "the fold stage's estimate alone"),
             ("rtl/qloom_top.sv", "top-level Verilog"), ("rtl/design.json", "ports and stream packing"),
             ("rtl/lint.json", "Verilator lint"),
             (A.SYNTH_JSON, "Yosys counts and logic depth"), (A.VERIFY_JSON, "verification"),
             ("deploy/README.md", "how to run it on the board"), ("deploy/build.sh", "Vivado build"),
             ("deploy/sw/qloom_driver.c", "bare-metal C driver"), ("deploy/pynq/qloom_pynq.py", "PYNQ driver")]


def _link(b: Build, path) -> str:
    """Inside DIR a relative link (the folder can be moved or copied), outside it an absolute one."""
    href, text = b.link(path)
    return f"<a href='{_e(href)}'>{_e(text)}</a>"


def _artifacts(b: Build) -> str:
    items = []
    if b.model is not None and b.model.is_file():
        items.append((b.model, "the model built (QONNX)"))
    if b.metrics_path is not None and b.metrics_path.is_file():
        items.append((b.metrics_path, "training metrics"))
    items += [(b.dir / name, what) for name, what in ARTIFACTS if (b.dir / name).exists()]
    lis = "".join(f"<li>{_link(b, p)} &mdash; {_e(w)}</li>" for p, w in items)
    return _section("artifacts", "Artifacts", f"<ul>{lis}</ul>")


def render(b: Build) -> str:
    from qloom.analyze.html import CSS as ANALYSIS_CSS

    name = b.metrics.get("model") or b.report.get("graph") or (b.model.stem if b.model else "build")
    board = (b.report.get("board") or {}).get("name")
    title = f"qloom build report: {name}" + (f" on {board}" if board else "")
    body = [_summary(b), _accuracy(b), _cycles(b), _graph(b), _resources(b), _confusion(b), _timing(b), _rounding(b),
            _analysis(b), _vivado(b), _artifacts(b)]
    return (f"<!DOCTYPE html><html lang=en><head><meta charset='utf-8'><meta name=generator content='{GENERATOR}'>"
            f"<title>{_e(title)}</title><style>{ANALYSIS_CSS}\n{CSS}</style></head><body>"
            f"<h1>{_e(title)}</h1><p class=note>DIR below is this page's folder; regenerate the page with "
            "<code>qloom report DIR</code>.</p>\n" + "\n".join(body) + "\n</body></html>\n")
