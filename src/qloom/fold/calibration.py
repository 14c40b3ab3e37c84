"""Resource estimates against Yosys: per layer of a generated and synthesized design.

`yosys_layers(result)` takes what `qloom.synth.synthesize` returns and counts, per
top-level instance, LUT (logic LUTs plus the LUTs that LUTRAM and SRL cells
occupy: a RAM32M is 4 LUT6 of a SLICEM, as Vivado's "Slice LUTs" counts them), FF,
BRAM18 (RAMB18 + 2 * RAMB36) and DSP. `compare(graph, result)` puts each layer's
estimate next to those counts: the core (`layers`) and, separately, the FIFO and width
converter in front of it (`streams`), the split `qloom.fold.resources` uses.
"""

from __future__ import annotations

from qloom.fold.resources import KEYS, resources


def yosys_layers(synth_result: dict) -> dict[str, dict]:
    """Instance -> {"layer" (None for glue), "part" ("core", "fifo", "dwc"), LUT, FF, BRAM18, DSP}
    from a per-layer `qloom.synth.synthesize` result."""
    return {inst: {"layer": c.get("layer"), "part": c.get("part"), "LUT": c["slice_LUT"], "FF": c["FF"],
                   "BRAM18": c["BRAM18"], "DSP": c["DSP"]}
            for inst, c in synth_result["layers"].items()}


def on_dma_side(instance: dict, streams) -> bool:
    """Whether a `yosys_layers` instance is the top's DMA side: the TLAST queue (no layer) or the
    converter + FIFO in front of the first layer, which the generator names after that layer but
    the estimate counts under "dma", not under the layer's "streams"."""
    return instance["layer"] is None or (instance["part"] != "core" and instance["layer"] not in streams)


def compare(graph, synth_result: dict | None = None, coeffs=None, got: dict | None = None) -> dict:
    """{"layers": {name: {"est": {...}, "yosys": {...}}}, "streams", "totals" (the whole top), "dma" (its
    DMA side), "dataflow" (totals without the DMA side), each {"est": {...}, "yosys": {...}}.

    `got` is a `yosys_layers` result (e.g. cached); else it is taken from synth_result."""
    est = resources(graph, coeffs)
    got = yosys_layers(synth_result) if got is None else got
    zero = dict.fromkeys(KEYS, 0)
    # Yosys counts the whole top, so its DMA side (converter, TLAST) is in the estimate compared
    out = {"layers": {}, "streams": {}, "totals": {"est": est["totals_with_dma"], "yosys": dict(zero)}}
    for name, r in est["layers"].items():
        mine = [v for v in got.values() if v["layer"] == name and v["part"] == "core"]
        if mine:
            out["layers"][name] = {"est": r, "yosys": {k: sum(v[k] for v in mine) for k in KEYS}}
    for name, r in est["streams"].items():
        mine = [v for v in got.values() if v["layer"] == name and v["part"] in ("fifo", "dwc")]
        out["streams"][name] = {"est": r, "yosys": {k: sum(v[k] for v in mine) for k in KEYS}}
    dma_side = dict(zero)
    for v in got.values():
        for k in KEYS:
            out["totals"]["yosys"][k] += v[k]
            if on_dma_side(v, est["streams"]):
                dma_side[k] += v[k]
    out["dma"] = {"est": est["dma"], "yosys": dma_side}
    # the dataflow between the DMA sides: what FINN's estimates (without its IODMA) count
    out["dataflow"] = {"est": est["totals"], "yosys": {k: out["totals"]["yosys"][k] - dma_side[k] for k in KEYS}}
    return out


def stored_designs(data_dir) -> list[dict]:
    """The calibration set stored under `data_dir` (bench/calibration: `designs.json` with the
    Yosys counts of each design, `<label>.ir.json.gz` its folded IR), each {"label", "model",
    "board", "yosys" (a `yosys_layers` result), "graph"}: estimates are checked and refitted
    against stored counts instead of re-running Yosys (minutes per design)."""
    import gzip
    import json
    from pathlib import Path

    from qloom.ir import serialize

    data_dir = Path(data_dir)
    out = []
    for d in json.loads((data_dir / "designs.json").read_text())["designs"]:
        graph = serialize.from_json(gzip.decompress((data_dir / d["ir"]).read_bytes()).decode())
        out.append({**d, "graph": graph})
    return out


# What the README states for the calibration set, measured after the last fit of
# qloom.backends.rtl.coeffs (tests/test_calibration_set.py holds the model to it)
DESIGN_LUT = 0.03  # LUT of a whole design (the top, DMA side included), relative
CORE_LUT = 0.25  # LUT of a layer core, relative ...
GLUE_LUT = 0.25  # ... and of the FIFO / width converter in front of a layer
SMALL_LUT = 200  # parts below this many LUT (by Yosys) ...
SMALL_SLACK = 25  # ... may miss by this many LUT instead

# Stored designs whose estimate misses those bounds, as measured (figures after session 8's
# popcount_tree_lut in qloom.backends.rtl.coeffs). A refit moves the foldings `qloom build` picks
# (the fastest fit follows the estimates), so it needs new Yosys runs of the designs it moves: until
# then they stay in the set with their counts (marked "stale_folding"; the bench's worst case
# includes them) and tests/test_calibration_set.py holds every other design to the bounds, and
# checks that each of these still misses (fixed: drop it).
KNOWN_MISSES = {
    "resnet-w2a2 zybo": "fastest fit: the design -3.9% (44,937 vs 46,779 LUT): mvu1 and mvu2 (TABLE, PE 32 x SIMD "
                        "24, one row fold, its weights a merged 12-word ROM) 7,305 vs 8,348 (-12.5%) each: "
                        "table_rom_lut (0.37 per bit) was fitted on a 9-word ROM (cnv-w2a2 zybo's mvu1 at an older "
                        "folding, 8,728 vs 8,661 with it today), this one needs ~1.06; and pool2 161 vs 134 LUT",
    "resnet-w1a1 zybo": "fastest fit: the design -0.5% (38,341 vs 38,529 LUT), but pool2 157 vs 124 LUT and the "
                        "FIFOs in front of add1 139 vs 169, small parts beyond the 25-LUT slack",
    "cnv-w2a2 zybo": "fastest fit (2,304 cycles): the design +0.7% (40,615 vs 40,329 LUT), but pool1 167 vs 138 "
                     "LUT, a small part 4 over the 25-LUT slack (as resnet-w1a1 zybo's pool2)",
    "cnv-w1a1 zybo": "fastest fit (mvu3 PE 32 x SIMD 144): the design -0.6% (41,013 vs 41,269 LUT) since session "
                     "8's popcount_tree_lut (-4.5% before), but small parts beyond the 25-LUT slack (pool1 177 vs "
                     "145, the FIFO/converter in front of mvu0 180 vs 147) and the one in front of mvu3 1,066 vs 815 "
                     "(+31%)",
    "sfc-w1a1 zybo": "fastest fit: the design -3.2% (45,002 vs 46,472 LUT): mvu0 (PAIRED, PE 64 x SIMD 56, "
                     "block-RAM weights over 4 row folds) 31,826 vs 32,986 (-3.5%); lfc-w1a1 zybo's PAIRED mvu0 "
                     "with block-RAM weights over 64 folds is +5% at the same coefficients",
    "mobilenet-w2a2 zybo": "vvau0 (TABLE, PE 16 x SIMD 9, constant weights) 1,602 vs 1,249 LUT (+28%); the design -0.9%",
    "cnv-w2a2": "unfolded (PE = SIMD = 1): total -3.5% (2,727 vs 2,827 LUT): many small parts a little under "
                "(swg1 216 vs 267, the one-lane TABLE MatVecs ~10% each)",
    "resnet-w2a2": "unfolded (PE = SIMD = 1): mvu6 (block-RAM weights) 111 vs 138 LUT, 2 over the 25-LUT "
                   "slack of small parts; the design -1.1%",
    "tfc-w2a2": "unfolded (PE = SIMD = 1): total -4.7% (1,001 vs 1,050 LUT), mvu1 233 vs 260: the fixed "
                "control of four one-lane cores",
    "lfc-w2a2": "unfolded (PE = SIMD = 1): total -8.4% (1,717 vs 1,875 LUT): mvu0, one lane over 784 inputs "
                "with block-RAM weights and thresholds, 336 vs 475 (-29%)",
}


def violations(graph, got: dict, coeffs=None) -> list[str]:
    """Where the estimate of one design misses its stored Yosys counts (`got`, a `yosys_layers`
    result) beyond the bounds above; BRAM18 and DSP must be exact everywhere."""
    cmp = compare(graph, got=got, coeffs=coeffs)
    bad = []
    e, y = cmp["totals"]["est"], cmp["totals"]["yosys"]
    if abs(e["LUT"] - y["LUT"]) > DESIGN_LUT * y["LUT"]:
        bad.append(f"total LUT est {e['LUT']} vs Yosys {y['LUT']}")
    if (e["BRAM18"], e["DSP"]) != (y["BRAM18"], y["DSP"]):
        bad.append(f"total BRAM18/DSP est {e['BRAM18']}/{e['DSP']}, Yosys {y['BRAM18']}/{y['DSP']}")
    for part, tol in (("layers", CORE_LUT), ("streams", GLUE_LUT)):
        for name, r in cmp[part].items():
            pe, py = r["est"], r["yosys"]
            if (pe["BRAM18"], pe["DSP"]) != (py["BRAM18"], py["DSP"]):
                bad.append(f"{name} {part}: BRAM18/DSP est {pe['BRAM18']}/{pe['DSP']}, Yosys {py['BRAM18']}/{py['DSP']}")
            if abs(pe["LUT"] - py["LUT"]) > (tol * py["LUT"] if py["LUT"] >= SMALL_LUT else SMALL_SLACK):
                bad.append(f"{name} {part}: LUT est {pe['LUT']} vs Yosys {py['LUT']}")
    return bad


# What the set must hold: `make demo`'s design and every zoo family (qloom.models.FAMILIES) at
# these bit widths, built as `qloom build MODEL --board zybo-z7-20` (the fastest folding that fits
# the board) and as `qloom build MODEL` (no board, no target: the unfolded default)
ZOO_BITS = ("w1a1", "w2a2")
BOARD = "zybo-z7-20"
# Designs of that list the set leaves out, and why (tests/test_calibration_set.py: every other
# one must be stored). None since the set follows `qloom build` itself (`build_design`): without a
# board it keeps the unfolded default, which every family has (the 1e6 frames/s foldings this
# list once excused, too large or refused without a board, are no longer what it builds).
NOT_IN_SET: dict[str, str] = {}


def set_designs() -> list[tuple[str, str, str | None]]:
    """(label, model, board) of every design the calibration set covers: "demo" (`make demo`'s
    trained TFC-w1a1 for the Zybo) and each zoo family x ZOO_BITS with `BOARD` ("<model> zybo")
    and without ("<model>")."""
    from qloom.models import FAMILIES

    return [("demo", "demo", BOARD)] + [
        (f"{f}-{bits}{' zybo' if b else ''}", f"{f}-{bits}", b)
        for f in FAMILIES for bits in ZOO_BITS for b in (BOARD, None)
    ]


DEMO_TARGET_FPS = 1e6  # `qloom demo`'s default --target-fps (`qloom build` has none)


def build_design(model: str, board: str | None, work, demo_model):
    """(folded graph, target frames/s or None) of one set design, folded by `qloom build` itself
    (qloom.pipeline.build up to its fold stage, memory styles resolved, the graph it writes to
    ir_folded.json): a zoo model as `qloom build MODEL.onnx [--board BOARD]` (no target: with a
    board the fastest folding that fits it, without one the unfolded default), "demo" as `qloom
    demo` builds `demo_model` (an .onnx) for `board`, at its default target of 1e6 frames/s.
    A zoo model gets random weights (seed 0: the hardware's shape, not its accuracy, matters).
    The graph is named after the model (the stem of the .onnx `qloom build` reads)."""
    import shutil
    import tempfile
    from pathlib import Path

    from qloom import artifacts
    from qloom.ir import serialize
    from qloom.pipeline import BuildConfig, build

    work = Path(work)
    src = work / f"{model}.onnx"
    if model == "demo":
        shutil.copyfile(demo_model, src)
    elif not src.exists():
        import torch

        from qloom.export import export_qonnx_model
        from qloom.models import build_model

        torch.manual_seed(0)
        export_qonnx_model(build_model(model), src, (1, 28, 28))
    target = DEMO_TARGET_FPS if model == "demo" else None
    out = Path(tempfile.mkdtemp(dir=work, prefix=f"{model}-{board or 'noboard'}-"))
    build(BuildConfig(model=src, out=out, stop_after="fold", board=board, target_fps=target),
          log=lambda *a, **k: None)
    return serialize.load(out / artifacts.FOLDED_JSON), target


def hash_text(text: str) -> str:
    """The short hash designs.json records of a stored IR's JSON text."""
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:20]
