"""Resource estimates (qloom.fold.resources) against Yosys synth_xilinx, per design and layer.

    python bench/bench_resources.py                 # every design (Yosys results cached)
    python bench/bench_resources.py --quick         # the small designs only
    python bench/bench_resources.py --only cnv --layers

Designs are zoo models as qloom builds them (streamlined QONNX exports; TFC-w1a1 also
briefly trained), plus FINN's CIFAR CNV shapes with random weights, each at a couple of
foldings. LUT counts include LUTRAM (as Vivado's Slice LUTs). A Yosys run takes seconds
to minutes; results are cached under --cache keyed by the hash of the generated RTL, so
only changed designs are resynthesized.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from table import print_table  # noqa: E402

from qloom import fold  # noqa: E402
from qloom.fold.calibration import compare, yosys_layers  # noqa: E402
from qloom.fold.resources import KEYS  # noqa: E402

FINN_TFC = {"cycles": 64, "LUT": 9678, "BRAM18": 26}  # FINN's estimate at its test folding
FINN_TFC_FOLDING = [(16, 49, "block"), (8, 8, "auto"), (8, 8, "auto"), (10, 8, "distributed")]  # the 4 MatVecs
CACHE = Path.home() / ".cache" / "qloom" / "bench_resources"


def _export(name: str, work: Path) -> Path:
    """Untrained zoo model -> QONNX (real streamlined shapes and types, random weights)."""
    from qloom.export import export_qonnx_model
    from qloom.models import build_model

    path = work / f"{name}.onnx"
    if not path.exists():
        export_qonnx_model(build_model(name), path, (1, 28, 28))
    return path


def _trained(name: str, work: Path) -> Path:
    from qloom.train import train_zoo_model

    out = work / f"{name}-trained"
    if not (out / "model.onnx").exists():
        train_zoo_model(name, "mnist", out, epochs=1, limit_train=2000, limit_eval=200, progress=False)
    return out / "model.onnx"


def _graph(source: str, work: Path):
    from qloom import streamline
    from qloom.testing.zoo import zoo_graph

    if source.startswith("finn:"):  # FINN's zoo shapes with random weights (qloom.testing.zoo)
        return zoo_graph(source[5:])
    if source.endswith("+trained"):
        return streamline.run(_trained(source[:-8], work))
    return streamline.run(_export(source, work))


def _fold(graph, how):
    """("finn",) FINN's TFC test folding; ("greedy", cycles) FINN SetFolding; ("auto", fps)."""
    if how[0] == "finn":
        mvs = [l.name for l in graph.layers if l.kind == "MatVec"]
        for name, (pe, simd, style) in zip(mvs, FINN_TFC_FOLDING, strict=True):
            graph = fold.set_folding(graph, name, pe=pe, simd=simd, mem_style=style)
        return graph
    if how[0] == "greedy":
        return fold.finn_greedy_fold(graph, how[1])
    return fold.auto_fold(graph, target_fps=how[1], clock_mhz=100.0)


# (label, source, folding, quick)
DESIGNS = [
    ("tfc-w1a1 trained", "tfc-w1a1+trained", ("finn",), True),
    ("tfc-w1a1", "tfc-w1a1", ("greedy", 1024), True),
    ("tfc-w1a1 (FINN bipolar input)", "finn:tfc_w1a1", ("finn",), True),
    ("tfc-w2a2", "tfc-w2a2", ("finn",), True),
    ("tfc-w2a2", "tfc-w2a2", ("greedy", 1024), True),
    ("sfc-w1a1", "sfc-w1a1", ("greedy", 256), False),
    ("sfc-w1a1", "sfc-w1a1", ("greedy", 4096), False),
    ("sfc-w2a2", "sfc-w2a2", ("greedy", 1024), False),
    ("lfc-w1a1", "lfc-w1a1", ("greedy", 4096), False),
    ("lfc-w1a1", "lfc-w1a1", ("greedy", 32768), False),
    ("cnv-w1a1", "cnv-w1a1", ("greedy", 20000), True),
    ("cnv-w1a1", "cnv-w1a1", ("greedy", 80000), False),
    ("cnv-w2a2", "cnv-w2a2", ("greedy", 20000), False),
    ("cnv-w1a1 (FINN CIFAR)", "finn:cnv_w1a1", ("greedy", 200000), False),
    ("cnv-w2a2 (FINN CIFAR)", "finn:cnv_w2a2", ("greedy", 400000), False),
]


def _rtl_hash(rtl: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(rtl.iterdir()):
        if f.is_file():
            h.update(f.name.encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:20]


def synthesized(graph, cache: Path, work: Path) -> tuple[dict, dict, bool]:
    """(compare(graph, rtl), Yosys per-instance counts, cached?) for one folded graph."""
    from qloom.backends.rtl import generate
    from qloom.synth import synthesize

    rtl = Path(tempfile.mkdtemp(dir=work))
    generate(graph, rtl)
    key = _rtl_hash(rtl)
    hit = cache / f"{key}.json"
    cached = hit.exists()
    if cached:
        got = json.loads(hit.read_text())
    else:
        got = yosys_layers(synthesize(rtl))
        cache.mkdir(parents=True, exist_ok=True)
        hit.write_text(json.dumps(got, indent=1))
    return compare(graph, got=got), got, cached


def _pct(est: float, ref: float) -> str:
    return f"{100 * (est - ref) / ref:+.0f}%" if ref else ("0" if est == 0 else "inf")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small designs only")
    ap.add_argument("--only", default="", help="designs whose label contains this")
    ap.add_argument("--layers", action="store_true", help="also print every layer")
    ap.add_argument("--cache", type=Path, default=CACHE)
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "qloom_bench_resources")
    args = ap.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    rows, layer_rows = [], []
    for label, source, how, quick in DESIGNS:
        if (args.quick and not quick) or args.only not in label:
            continue
        g = _fold(_graph(source, args.work), how)
        t0 = time.perf_counter()
        cmp, _, cached = synthesized(g, args.cache, args.work)
        est, got = cmp["totals"]["est"], cmp["totals"]["yosys"]
        cycles = fold.performance(g, 100.0)["cycles_per_frame"]
        folding = "FINN test" if how[0] == "finn" else f"{how[0]} {how[1]}"
        rows.append({"model": label, "folding": folding, "cycles": cycles,
                     **{f"est {k}": f"{est[k]:,}" for k in KEYS},
                     **{f"yosys {k}": f"{got[k]:,}" for k in KEYS},
                     "LUT err": _pct(est["LUT"], got["LUT"]), "FF err": _pct(est["FF"], got["FF"]),
                     "BRAM/DSP": "exact" if (est["BRAM18"], est["DSP"]) == (got["BRAM18"], got["DSP"]) else "DIFF",
                     "yosys s": "cached" if cached else f"{time.perf_counter() - t0:.0f}"})
        if how[0] == "finn" and source == "tfc-w1a1+trained":
            rows.append({"model": "  FINN estimate (published)", "folding": "FINN test", "cycles": FINN_TFC["cycles"],
                         "est LUT": f"{FINN_TFC['LUT']:,}", "est FF": "", "est BRAM18": FINN_TFC["BRAM18"], "est DSP": 0,
                         **{f"yosys {k}": "" for k in KEYS}, "LUT err": "", "FF err": "", "BRAM/DSP": "",
                         "yosys s": ""})
        for part in ("layers", "streams"):
            for name, r in cmp[part].items():
                e, y = r["est"], r["yosys"]
                layer_rows.append({"design": f"{label} {folding}", "layer": name if part == "layers" else f"{name} glue",
                                   **{f"est {k}": e[k] for k in KEYS}, **{f"yosys {k}": y[k] for k in KEYS},
                                   "LUT err": _pct(e["LUT"], y["LUT"])})
    print_table("Estimated vs Yosys synth_xilinx (xc7) resources; LUT includes LUTRAM", rows)
    if args.layers:
        print_table("Per layer (core) and its input FIFO / width converter (glue)", layer_rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
