"""What the report knows about a build folder: its JSON artifacts, read leniently.

A report is written after every build and every verification, so it must render whatever the
folder holds: a file that is missing is simply not shown, one that cannot be read is named in
`problems` (shown on the page) instead of stopping the page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from qloom import artifacts as A

if TYPE_CHECKING:
    from qloom.ir import Graph

ANALYSIS_PLACES = ("analysis.json", "analysis/analysis.json")  # in DIR, then beside the model


@dataclass
class Build:
    dir: Path
    build: dict = field(default_factory=dict)
    report: dict = field(default_factory=dict)
    verify: dict = field(default_factory=dict)  # verify.json's "levels"
    metrics: dict = field(default_factory=dict)  # metrics.json beside the model (train / quantize)
    metrics_path: Path | None = None
    analysis: dict | None = None
    analysis_path: Path | None = None
    design: dict = field(default_factory=dict)  # rtl/design.json
    synth: dict = field(default_factory=dict)  # synth.json (Yosys: counts, logic depth)
    graph: Graph | None = None  # the folded IR (`qloom.ir.Graph`): the hardware graph's structure
    problems: list[str] = field(default_factory=list)

    def rel(self, path: Path) -> str:
        """`path` as the page names it: relative inside DIR, absolute outside."""
        return self.link(path)[1]

    def link(self, path: Path) -> tuple[str, str]:
        """(href, text) of `path` from report.html: relative inside DIR (a moved or copied folder
        keeps its links and its page), an absolute file URI outside it."""
        p, d = Path(path).resolve(), self.dir.resolve()
        if p.is_relative_to(d):
            rel = p.relative_to(d).as_posix()
            return rel, rel
        return p.as_uri(), str(p)

    @property
    def model(self) -> Path | None:
        m = self.build.get("model")
        return Path(m) if isinstance(m, str) else None


def _read(b: Build, path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        b.problems.append(f"{b.rel(path)} could not be read ({type(exc).__name__}); its facts are left out")
        return {}
    if not isinstance(data, dict):
        b.problems.append(f"{b.rel(path)} holds no JSON object; its facts are left out")
        return {}
    return data


def _graph(b: Build, path: Path):
    if not path.is_file():
        return None
    from qloom.errors import QloomError
    from qloom.ir import serialize

    try:
        return serialize.load(path)
    except QloomError as exc:
        b.problems.append(f"{b.rel(path)} could not be read ({exc}); the hardware graph is left out")
        return None


def collect(build_dir: Path) -> Build:
    d = Path(build_dir)
    b = Build(dir=d)
    b.build = _read(b, d / A.BUILD_JSON)
    b.report = _read(b, d / A.REPORT_JSON)
    levels = _read(b, d / A.VERIFY_JSON).get("levels")
    b.verify = {k: v for k, v in levels.items() if isinstance(v, dict)} if isinstance(levels, dict) else {}
    b.design = _read(b, d / A.RTL_DIR / "design.json")
    b.synth = _read(b, d / A.SYNTH_JSON)
    b.graph = _graph(b, d / A.FOLDED_JSON)
    places = [d / p for p in ANALYSIS_PLACES]
    if b.model is not None:
        b.metrics_path = b.model.parent / "metrics.json"
        b.metrics = _read(b, b.metrics_path)
        places += [b.model.parent / p for p in ANALYSIS_PLACES]
    for p in places:
        if p.is_file():
            data = _read(b, p)
            if isinstance(data.get("layers"), list):
                b.analysis, b.analysis_path = data, p
                break
    return b


def accuracies(b: Build) -> list[tuple[str, float, str]]:
    """(stage, top-1 accuracy, on what) for every stage whose accuracy is known, in flow order."""
    m, rows = b.metrics, []
    ds = m.get("dataset", "the")
    on_test = f"{ds} test set (metrics.json)"

    def add(stage, value, where):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            rows.append((stage, float(value), where))

    add("float", m.get("float_accuracy"), on_test)
    if "ptq_accuracy" in m:
        add("PTQ", m["ptq_accuracy"], on_test)
        if m.get("finetune"):
            add("PTQ + QAT fine-tune", m.get("test_accuracy"), on_test)
    else:
        add("QAT" if m.get("weight_bits") else "trained", m.get("test_accuracy"), on_test)
    for level, key, stage in (("ir", "reference_accuracy", "QONNX reference"), ("ir", "ir_accuracy", "IR"),
                              ("rtl", "rtl_accuracy", "RTL (Verilator)"), ("driver", "accuracy", "driver co-sim")):
        e = b.verify.get(level, {})
        add(stage, e.get(key), f"{e.get('frames')} {e.get('dataset', '')} frames (verify --level {level})")
    return rows
