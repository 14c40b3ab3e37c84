"""A sliding window's `kpar` (window words per output word) in report.json next to pe/simd,
in report.html's per-layer table and on its box in the hardware graph; layers without the
field carry None there and draw no KPAR."""

from __future__ import annotations

import dataclasses
import json
import re

from fold_graphs import tiny_cnn

from qloom import artifacts as A
from qloom import fold
from qloom.report import REPORT_HTML
from qloom.report.collect import Build
from qloom.report.page import render


def _section(page: str, sid: str) -> str:
    start = page.index(f"<section id={sid}>")
    return page[start:page.index("</section>", start)]


def _row(section: str, name: str) -> list[str]:
    """The cells of the table row of layer `name`."""
    start = section.index(f"<td class=l>{name}</td>")
    return re.findall(r"<td[^>]*>(.*?)</td>", section[start:section.index("</tr>", start)])


def _windowed(kpar: int):
    """tiny_cnn with its window (C=4 at SIMD 4) at `kpar` words per output word."""
    g = tiny_cnn()
    swg = dataclasses.replace(g.layer("swg"), simd=4, kpar=kpar)
    return dataclasses.replace(g, layers=tuple(swg if l.name == "swg" else l for l in g.layers))


def test_report_json_has_each_windows_kpar_beside_pe_and_simd():
    for kpar in (1, 3, 9):
        layers = {l["name"]: l for l in fold.report(_windowed(kpar), 100.0)["layers"]}
        assert layers["swg"]["kpar"] == kpar and layers["swg"]["simd"] == 4 and layers["swg"]["pe"] is None
        assert all(l["kpar"] is None for n, l in layers.items() if n != "swg")  # no such field elsewhere
    fast, slow = fold.report(_windowed(9), 100.0), fold.report(_windowed(1), 100.0)
    cyc = {r["name"]: r["cycles"] for r in fast["layers"]}, {r["name"]: r["cycles"] for r in slow["layers"]}
    assert cyc[0]["swg"] < cyc[1]["swg"]  # the field reported is the one the cycles were computed at


def test_the_page_shows_kpar_in_the_layer_table_and_on_the_window_box(tmp_path):
    g = _windowed(3)
    page = render(Build(dir=tmp_path, report=fold.report(g, 100.0), graph=g))
    cycles = _section(page, "cycles")
    assert "<th>KPAR</th>" in cycles and "window words per output word" in cycles
    head = re.findall(r"<th[^>]*>(.*?)</th>", cycles)
    col = {h: head.index(h) for h in ("PE", "SIMD", "KPAR")}
    swg, conv = _row(cycles, "swg"), _row(cycles, "conv")
    assert [swg[col[h]] for h in ("PE", "SIMD", "KPAR")] == ["-", "4", "3"]
    assert conv[col["KPAR"]] == "-" and conv[col["PE"]] == "1"  # a MatVec has no KPAR
    svg = _section(page, "graph")
    svg = svg[svg.index("<svg"):svg.index("</svg>")]
    assert ">SlidingWindow  SIMD 4 \u00b7 KPAR 3</text>" in svg  # whole, not cut to the box width
    assert ">MatVec  PE 1 \u00b7 SIMD 1</text>" in svg and svg.count("KPAR") == 1


def test_a_board_build_of_the_zoo_cnn_reports_the_kpar_it_built(tmp_path):
    from qloom.cli import main
    from qloom.export import export_qonnx_model
    from qloom.ir import serialize
    from qloom.models import build_model

    model = tmp_path / "cnv.onnx"
    export_qonnx_model(build_model("cnv-w2a2"), model, (1, 28, 28))
    out = tmp_path / "b"
    assert main(["build", str(model), "--out", str(out), "--board", "zybo-z7-20", "--stop-after", "fold"]) == 0
    rep = json.loads((out / A.REPORT_JSON).read_text())
    g = serialize.load(out / A.FOLDED_JSON)
    windows = [l for l in rep["layers"] if l["kind"] == "SlidingWindow"]
    assert windows and all(l["kpar"] == g.layer(l["name"]).kpar for l in windows)
    assert any(l["kpar"] > 1 for l in windows)  # --board spends LUTs on window parallelism here
    page = (out / REPORT_HTML).read_text()
    for l in windows:
        assert f"SIMD {l['simd']} \u00b7 KPAR {l['kpar']}</text>" in _section(page, "graph")
