"""The hardware graph of a build as an inline SVG: one box per hardware layer (kind, folding:
PE, SIMD and a window's KPAR, cycles per frame, the bottleneck in red), an arrow per stream
labelled with its FIFO depth.

Layout: rows by longest-path depth from the DMA input (a chain is a column, a fork's branches
sit side by side and meet again at their join); an edge spanning several rows runs through a
gap in each row it crosses, so a skip path never passes behind a layer. Row order follows the
producers' positions (one barycenter sweep), which keeps chains straight.

The structure comes from the folded IR (`Graph.edges`), the cycles from report.json, the
FIFO depths from rtl/design.json (its one home: the depths the top generator built): a
linear design stores the FIFO in front of each layer as `layers[i].fifo_depth`, a DAG one per
input port in `layers[i].inputs[{from, port, fifo_depth, dwc}]`. Before the rtl stage there
are no depths and the arrows carry none.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from itertools import pairwise

from qloom.report.charts import BOTTLENECK, LAYER

IN, OUT = "(DMA in)", "(DMA out)"  # the terminals; not valid layer names in the IR
BOX_FILL, HOT_FILL, TERM_FILL = "#e4eef8", "#fbe3e3", "#eeeeee"  # the browser test looks for the first two
W, H, TW, GAP_X, ROW = 184, 58, 110, 26, 106  # box and terminal width, height, gaps (px)
SKIP_W = 18  # the gap a long edge takes in a row it crosses
LABEL_CHARS, LABEL_CHARS_SMALL = 30, 34  # a box's kind + folding line at 11 px, and at 10 px


@dataclass
class Node:
    name: str
    kind: str = ""
    pe: int | None = None
    simd: int | None = None
    kpar: int | None = None  # a sliding window's window words per output word
    cycles: int | None = None
    hot: bool = False  # the bottleneck

    @property
    def terminal(self) -> bool:
        return self.name in (IN, OUT)


@dataclass
class Edge:
    src: str
    dst: str
    port: int = 0
    ports: int = 1  # the consumer's input ports
    fifo: int | None = None  # words; None: not known (no rtl/design.json)
    dwc: dict | None = None  # width converter {"in", "out"} elements per word


def _fifo_of(design_layer: dict | None, src: str, port: int) -> tuple[int | None, dict | None]:
    """(depth, converter) of the FIFO in front of a design.json layer on the edge from `src`."""
    if not isinstance(design_layer, dict):
        return None, None
    if src == IN:  # the DMA side's converter and FIFO (a depth of 0: no FIFO there)
        d = design_layer.get("fifo_depth")
        return (d if isinstance(d, int) and d > 0 else None), design_layer.get("dwc")
    inputs = design_layer.get("inputs")
    if isinstance(inputs, list):  # DAG form
        for e in inputs:
            if isinstance(e, dict) and e.get("from") == src and e.get("port", 0) == port:
                return e.get("fifo_depth"), e.get("dwc")
        return None, None
    d = design_layer.get("fifo_depth")  # linear form: the FIFO from the only producer
    return (d if isinstance(d, int) and d > 0 and port == 0 else None), design_layer.get("dwc")


def hardware_graph(graph, report: dict, design: dict) -> tuple[list[Node], list[Edge]]:
    """Nodes (DMA in, hardware layers in topological order, DMA out) and edges of a folded
    `qloom.ir.Graph`, with report.json's cycles and rtl/design.json's FIFO depths."""
    rows = {l.get("name"): l for l in report.get("layers", []) if isinstance(l, dict)}
    dl = {l.get("name"): l for l in design.get("layers", []) if isinstance(l, dict)}
    hot = report.get("bottleneck")
    hw = [l for l in graph.layers if l.hardware]
    names = {l.name for l in hw}
    nodes = [Node(IN, hot=hot == "dma.in")]
    for l in hw:
        c = rows.get(l.name, {}).get("cycles")
        nodes.append(Node(l.name, l.kind, getattr(l, "pe", None), getattr(l, "simd", None), getattr(l, "kpar", None),
                          c if isinstance(c, int) else None, hot=l.name == hot))
    nodes.append(Node(OUT, hot=hot == "dma.out"))
    edges = []
    for src, dst, port in graph.edges():
        if dst not in names:
            continue
        src = src if src in names else IN
        fifo, dwc = _fifo_of(dl.get(dst), src, port)
        edges.append(Edge(src, dst, port, len(graph.layer(dst).in_shapes), fifo, dwc))
    if hw and not any(e.dst == hw[0].name for e in edges):  # a graph without InputQuant reads the DMA directly
        fifo, dwc = _fifo_of(dl.get(hw[0].name), IN, 0)
        edges.insert(0, Edge(IN, hw[0].name, 0, 1, fifo, dwc))
    if hw:
        edges.append(Edge(hw[-1].name, OUT))
    return nodes, edges


def _layout(nodes: list[Node], edges: list[Edge]) -> tuple[dict[str, int], list[list]]:
    """Row of each node (longest path from DMA in) and each row's slots in order: a slot is a
    node name or the Edge crossing that row."""
    depth = {n.name: 0 for n in nodes}
    for n in nodes:  # topological order: producers come first
        for e in edges:
            if e.dst == n.name:
                depth[n.name] = max(depth[n.name], depth[e.src] + 1)
    rows: list[list] = [[] for _ in range(max(depth.values()) + 1)]
    for n in nodes:
        rows[depth[n.name]].append(n.name)
    for e in edges:
        for r in range(depth[e.src] + 1, depth[e.dst]):
            rows[r].append(e)
    pos: dict = {}  # (slot key, row) -> centred index in its row

    def above(e: Edge, r: int):
        """The slot feeding `e` into row r: its producer, or its own gap in the row before."""
        return pos.get((e.src, r - 1) if depth[e.src] == r - 1 else (id(e), r - 1))

    def key(item, r: int):
        """A slot's barycenter over what feeds it from the row above (its index breaks ties)."""
        i, s = item
        ins = [above(s, r)] if isinstance(s, Edge) else [above(e, r) for e in edges if e.dst == s]
        ins = [p for p in ins if p is not None]
        return (sum(ins) / len(ins) if ins else 0.0, i)

    for r, row in enumerate(rows):
        row[:] = [s for _, s in sorted(enumerate(row), key=lambda item, r=r: key(item, r))]
        for i, s in enumerate(row):
            pos[(id(s) if isinstance(s, Edge) else s, r)] = i - (len(row) - 1) / 2
    return depth, rows


def _text(x, y, s, size=12, weight="normal", anchor="middle", color="#222") -> str:
    return (f"<text x='{x:.1f}' y='{y:.1f}' font-size='{size}' font-weight='{weight}' text-anchor='{anchor}' "
            f"fill='{color}'>{html.escape(str(s))}</text>")


def _short(s: str, n: int) -> str:
    return s if len(s) <= n else s[:n - 1] + "\u2026"


def svg(nodes: list[Node], edges: list[Edge], ii: int | None) -> str:
    """The drawing, as an <svg> element for the page (no script, no external reference)."""
    depth, rows = _layout(nodes, edges)
    by = {n.name: n for n in nodes}

    def width(slot) -> int:
        return SKIP_W if isinstance(slot, Edge) else (TW if by[slot].terminal else W)

    row_w = [sum(width(s) for s in row) + GAP_X * (len(row) - 1) for row in rows]
    total_w = max(row_w) + 40
    xs: dict = {}  # node name, or (id(edge), row) -> centre x
    for r, (row, rw) in enumerate(zip(rows, row_w)):
        x = (total_w - rw) / 2
        for s in row:
            xs[(id(s), r) if isinstance(s, Edge) else s] = x + width(s) / 2
            x += width(s) + GAP_X
    y0 = 14

    def top(r):
        return y0 + r * ROW

    def first_x(e: Edge) -> float:  # where an edge enters the row below its producer
        return xs[(id(e), depth[e.src] + 1)] if depth[e.dst] > depth[e.src] + 1 else xs[e.dst]

    out_ports: dict[str, list[Edge]] = {}
    for e in edges:
        out_ports.setdefault(e.src, []).append(e)
    for k in out_ports.values():
        k.sort(key=first_x)  # a fork's arrows leave in the order of their targets: no crossing
    parts = []
    for e in edges:  # arrows first, boxes over them
        k = out_ports[e.src]
        spread = min(36, (W - 40) / (len(k) - 1)) if len(k) > 1 else 0
        sx = xs[e.src] + (k.index(e) - (len(k) - 1) / 2) * spread
        dx = xs[e.dst] + ((e.port - (e.ports - 1) / 2) * min(60, (W - 40) / (e.ports - 1)) if e.ports > 1 else 0)
        pts = [(sx, top(depth[e.src]) + H - (12 if by[e.src].terminal else 0))]
        for r in range(depth[e.src] + 1, depth[e.dst]):
            x = xs[(id(e), r)]
            pts += [(x, top(r) - 4), (x, top(r) + H + 4)]
        pts.append((dx, top(depth[e.dst]) + (12 if by[e.dst].terminal else 0) - 3))
        d = f"M{pts[0][0]:.1f},{pts[0][1]:.1f}"
        for (x1, y1), (x2, y2) in pairwise(pts):
            if x1 == x2:
                d += f" L{x2:.1f},{y2:.1f}"
            else:
                m = (y1 + y2) / 2
                d += f" C{x1:.1f},{m:.1f} {x2:.1f},{m:.1f} {x2:.1f},{y2:.1f}"
        parts.append(f"<path d='{d}' fill='none' stroke='#555' stroke-width='1.4' marker-end='url(#qloom-arrow)'/>")
        if e.fifo is not None:
            label = (f"p{e.port} " if e.ports > 1 else "") + f"FIFO {e.fifo:,}"
            left = e.ports > 1 and e.port < (e.ports - 1) / 2
            parts.append(_text(dx + (-5 if left else 5), top(depth[e.dst]) - 12, label, 11,
                               anchor="end" if left else "start", color="#333"))
    for n in nodes:
        r, cx = depth[n.name], xs[n.name]
        y = top(r)
        stroke = BOTTLENECK if n.hot else ("#999" if n.terminal else LAYER)
        tip = f"<title>{html.escape(n.name)}: {html.escape(n.kind)}</title>" if not n.terminal else ""
        if n.terminal:
            parts.append(f"<g><rect x='{cx - TW / 2:.1f}' y='{y + 12}' width='{TW}' height='{H - 24}' rx='17' "
                         f"fill='{HOT_FILL if n.hot else TERM_FILL}' stroke='{stroke}' stroke-width='1.5'/>"
                         + _text(cx, y + H / 2 + 4, n.name.strip("()") + (" (bottleneck)" if n.hot else ""), 11)
                         + "</g>")
            continue
        fold = " \u00b7 ".join(f"{k} {v}" for k, v in (("PE", n.pe), ("SIMD", n.simd), ("KPAR", n.kpar)) if v)
        label = n.kind + (f"  {fold}" if fold else "")
        small = len(label) > LABEL_CHARS  # a window's SIMD and KPAR: one size smaller rather than cut
        bar = ""
        if n.cycles is not None and ii:  # the layer's share of the II
            bar = (f"<rect x='{cx - W / 2 + 4:.1f}' y='{y + H - 8}' width='{(W - 8) * min(1.0, n.cycles / ii):.1f}' "
                   f"height='4' fill='{BOTTLENECK if n.hot else LAYER}'/>")
        cycles = "-" if n.cycles is None else f"{n.cycles:,} " + ("cycles (bottleneck)" if n.hot else "cycles/frame")
        parts.append(f"<g>{tip}<rect x='{cx - W / 2:.1f}' y='{y}' width='{W}' height='{H}' rx='5' "
                     f"fill='{HOT_FILL if n.hot else BOX_FILL}' stroke='{stroke}' stroke-width='{2.5 if n.hot else 1.2}'/>"
                     + _text(cx, y + 16, _short(n.name, 26), 12, "bold")
                     + _text(cx, y + 31, _short(label, LABEL_CHARS_SMALL if small else LABEL_CHARS), 10 if small else 11)
                     + _text(cx, y + 45, cycles, 11, color=BOTTLENECK if n.hot else "#222") + bar + "</g>")
    height = top(len(rows) - 1) + H + 10
    marker = ("<defs><marker id='qloom-arrow' viewBox='0 0 10 10' refX='9' refY='5' markerWidth='7' "
              "markerHeight='7' orient='auto-start-reverse'><path d='M0,0 L10,5 L0,10 z' fill='#555'/></marker></defs>")
    return (f"<svg class=graph xmlns='http://www.w3.org/2000/svg' width='{total_w:.0f}' height='{height:.0f}' "
            f"viewBox='0 0 {total_w:.0f} {height:.0f}' font-family='system-ui,sans-serif' role='img' aria-label='hardware graph'>{marker}"
            + "".join(parts) + "</svg>")
