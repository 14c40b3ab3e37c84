"""The build, stage by stage. Each stage reads the previous stage's artifact from the build
folder and writes its own (see `artifacts`), so a build can stop, resume and be inspected.

    frontend   MODEL.onnx        -> frontend.onnx          (cleaned QONNX, the reference)
    streamline frontend.onnx     -> ir.json, ir.onnx        (integer IR; ir.onnx opens in Netron)
    fold       ir.json           -> ir_folded.json, folding.json, report.json (estimates)
    rtl        ir_folded.json    -> rtl/ (Verilog, memories, design.json; lint-clean)
    synth      rtl/              -> synth.json, report.json gains Yosys counts
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from qloom import artifacts as A
from qloom.errors import QloomError

STAGES = ("frontend", "streamline", "fold", "rtl", "synth")


@dataclass(frozen=True)
class BuildConfig:
    model: Path
    out: Path
    stop_after: str = "synth"
    folding: Path | None = None
    target_fps: float | None = None
    board: str | None = None
    clock_mhz: float | None = None
    resume: bool = False


def _frontend(cfg: BuildConfig) -> dict:
    from qloom import frontend

    model = frontend.load(cfg.model)
    model.save(str(cfg.out / (A.FRONTEND_ONNX + ".tmp")))
    (cfg.out / (A.FRONTEND_ONNX + ".tmp")).replace(cfg.out / A.FRONTEND_ONNX)
    return {"nodes": len(model.graph.node)}


def _streamline(cfg: BuildConfig) -> dict:
    from qloom import streamline
    from qloom.ir import netron, serialize

    graph = streamline.run(cfg.out / A.FRONTEND_ONNX, name=cfg.model.stem)
    serialize.save(graph, cfg.out / A.IR_JSON)
    netron.save(graph, cfg.out / A.IR_ONNX)
    return {"layers": [f"{l.name}:{l.kind}" for l in graph.layers]}


def _clock(cfg: BuildConfig) -> float:
    from qloom.fold import get_board

    if cfg.clock_mhz:
        return cfg.clock_mhz
    return get_board(cfg.board).clock_mhz if cfg.board else 100.0


def _fold(cfg: BuildConfig) -> dict:
    from qloom import fold
    from qloom.ir import serialize

    graph = serialize.load(cfg.out / A.IR_JSON)
    if cfg.folding:
        graph = fold.apply_folding_file(graph, cfg.folding)
    elif cfg.target_fps or cfg.board:
        graph = fold.auto_fold(graph, target_fps=cfg.target_fps, board=cfg.board, clock_mhz=cfg.clock_mhz)
    serialize.save(graph, cfg.out / A.FOLDED_JSON)
    fold.save_folding(graph, cfg.out / A.FOLDING_JSON)
    report = fold.report(graph, _clock(cfg), board=cfg.board)
    from qloom.verify import ties  # thresholds a float reference may round to the other side

    report["reference_ties"] = ties.find_ties(cfg.out / A.FRONTEND_ONNX, graph)
    if report["reference_ties"]:
        print(ties.summary(report["reference_ties"]))
    A.write_json(cfg.out / A.REPORT_JSON, report)
    return {"cycles_per_frame": report["cycles_per_frame"], "fps": report["fps"]}


def _rtl(cfg: BuildConfig) -> dict:
    from qloom.backends.rtl import generate
    from qloom.ir import serialize
    from qloom.verify.rtl import lint

    graph = serialize.load(cfg.out / A.FOLDED_JSON)
    tmp = cfg.out / (A.RTL_DIR + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    design = generate(graph, tmp)
    warnings = lint(tmp)
    A.write_json(tmp / "lint.json", {"tool": "verilator --lint-only -Wall", "warnings": warnings})
    A.replace_dir(tmp, cfg.out / A.RTL_DIR)
    return {"top": design.get("top"), "lint_warnings": len(warnings)}


def _synth(cfg: BuildConfig) -> dict:
    from qloom import synth
    from qloom.fold import get_board
    from qloom.fold.calibration import yosys_layers
    from qloom.fold.resources import KEYS

    family = get_board(cfg.board).family if cfg.board else "xc7"
    result = synth.synthesize(cfg.out / A.RTL_DIR, family=family)
    A.write_json(cfg.out / A.SYNTH_JSON, result)
    report = A.read_json(cfg.out / A.REPORT_JSON)
    report["yosys"] = {"note": result.get("note"), "tool": result.get("tool"), "family": family,
                       "seconds": result.get("seconds"), "total": result.get("total"),
                       "lut_note": "slice_LUT = logic LUTs + LUTs used as LUTRAM/SRL (Vivado's 'Slice LUTs'); "
                                   "the estimates' LUT counts the same"}
    instances = yosys_layers(result)  # per instance, in the estimates' units (slice LUTs)

    def counts(part: tuple[str, ...], layer: str) -> dict | None:
        mine = [c for c in instances.values() if c["layer"] == layer and c["part"] in part]
        return {k: sum(c[k] for c in mine) for k in KEYS} if mine else None

    for row in report.get("layers", []):
        core = counts(("core",), row["name"])
        if core:
            row["yosys"] = core
    board = report.get("board")
    if board and board.get("capacity"):  # the board's share by Yosys' counts, beside the estimate's
        got = {"LUT": result["total"]["slice_LUT"], "FF": result["total"]["FF"], "BRAM18": result["total"]["BRAM18"],
               "DSP": result["total"]["DSP"]}
        report["yosys"]["utilization"] = {k: got[k] / cap for k, cap in board["capacity"].items() if k in got and cap}
    zero = dict.fromkeys(KEYS, 0)
    report["streams_yosys"] = {name: counts(("fifo", "dwc"), name) or zero for name in report.get("streams", {})}
    A.write_json(cfg.out / A.REPORT_JSON, report)
    return {"total": result.get("total")}


RUNNERS = {"frontend": _frontend, "streamline": _streamline, "fold": _fold, "rtl": _rtl, "synth": _synth}
OUTPUTS = {
    "frontend": [A.FRONTEND_ONNX],
    "streamline": [A.IR_JSON, A.IR_ONNX],
    "fold": [A.FOLDED_JSON, A.FOLDING_JSON, A.REPORT_JSON],
    "rtl": [A.RTL_DIR],
    "synth": [A.SYNTH_JSON],
}


def _clear_from(out: Path, stage: str) -> None:
    """Remove the artifacts of `stage` and every later stage: they would be stale."""
    for s in STAGES[STAGES.index(stage):]:
        for name in OUTPUTS[s]:
            p = out / name
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
    (out / A.VERIFY_JSON).unlink(missing_ok=True)


def build(cfg: BuildConfig, log=print) -> dict:
    """Run the stages up to `cfg.stop_after`; returns build.json's content."""
    if cfg.stop_after not in STAGES:
        raise QloomError(f"unknown stage {cfg.stop_after!r}; stages: {', '.join(STAGES)}")
    try:
        cfg.out.mkdir(parents=True, exist_ok=True)
        probe = cfg.out / ".write_test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise QloomError(f"cannot write to output folder {cfg.out}: {exc.strerror or exc}") from None
    state_path = cfg.out / A.BUILD_JSON
    state = A.read_json(state_path) if (cfg.resume and state_path.exists()) else {}
    same_model = state.get("model") == str(cfg.model.resolve())
    done = state.get("stages", {}) if same_model else {}
    state = {"model": str(cfg.model.resolve()), "config": _config_dict(cfg), "stages": {}, "complete": False}
    wanted = STAGES[: STAGES.index(cfg.stop_after) + 1]
    resuming = cfg.resume and same_model
    for stage in wanted:
        if resuming and stage in done and all((cfg.out / n).exists() for n in OUTPUTS[stage]):
            state["stages"][stage] = {**done[stage], "reused": True}
            log(f"[{stage}] reused from a previous build")
            continue
        resuming = False  # everything after a re-run stage is re-run too
        _clear_from(cfg.out, stage)
        A.write_json(state_path, state)
        t0 = time.perf_counter()
        info = RUNNERS[stage](cfg)
        seconds = round(time.perf_counter() - t0, 3)
        state["stages"][stage] = {"seconds": seconds, **info}
        A.write_json(state_path, state)
        log(f"[{stage}] done in {seconds:.2f} s")
    state["complete"] = True
    state["stopped_after"] = cfg.stop_after
    A.write_json(state_path, state)
    return state


def _config_dict(cfg: BuildConfig) -> dict:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(cfg).items()}
