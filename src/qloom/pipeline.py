"""The build, stage by stage. Each stage reads the previous stage's artifact and writes its own
(see `artifacts`), so a build can stop, resume and be inspected.

    frontend   MODEL.onnx        -> frontend.onnx          (cleaned QONNX, the reference)
    streamline frontend.onnx     -> ir.json, ir.onnx        (integer IR; ir.onnx opens in Netron)
    fold       ir.json           -> ir_folded.json, folding.json, estimate.json (estimates)
    rtl        ir_folded.json    -> rtl/ (Verilog, memories, design.json; lint-clean)
    deploy     rtl/, ir_folded.json -> deploy/ (Vivado/Vitis scripts, C and PYNQ drivers); only with --board
    synth      rtl/              -> synth.json (Yosys counts, with the per-layer summary under "report")

report.json, the build's report, is composed from estimate.json and synth.json's "report" after
the stages ran (`compose_report`): no stage rewrites another stage's artifact.

A build never destroys a previous build it cannot replace (`build`):
- every input is checked before the folder is touched (`check_config`);
- the folder must be new, empty or a qloom build folder (else `--force`), and is locked;
- the stages run in `DIR/.qloom-staging`; only when all requested stages succeeded do their
  artifacts replace the old ones, while build.json says `complete: false`;
- build.json records per stage its options, and the sha256 of its inputs and outputs; `--resume`
  reuses a stage only if all of them are unchanged (and every stage before it was reused).
- a complete build also writes build.toml, the options that reproduce it (`qloom.buildconfig`).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qloom import artifacts as A
from qloom import buildconfig, progress
from qloom.errors import QloomError

STAGES = ("frontend", "streamline", "fold", "rtl", "deploy", "synth")  # deploy runs only with a --board
STATE_VERSION = 1  # build.json "qloom_build": the format of the per-stage records below


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
    force: bool = False  # build into a non-empty folder that is not a qloom build folder
    out_kind: str | None = None  # "labels" | "logits" | None (as the model ends)
    dataset: str | None = None  # test images embedded in deploy/'s drivers (None: mnist for 28x28 inputs)
    deploy_frames: int = 100

    def wanted(self) -> list[str]:
        """The stages this build runs: up to stop_after; deploy only for a board."""
        return [s for s in STAGES[: STAGES.index(self.stop_after) + 1] if s != "deploy" or self.board]


def verify(build_dir: Path, levels=("ir",), **options) -> int:
    """Verify a build folder (`qloom.verify.stage.verify_build`: verify.json; 0 all levels matched, 1 not)."""
    from qloom.verify.stage import verify_build

    return verify_build(build_dir, levels, **options)


# Every runner reads its inputs from and writes its artifacts to `work` (the staging folder, which
# holds copies of the reused stages' artifacts); `cfg.out` is where the artifacts will land.
def _frontend(cfg: BuildConfig, work: Path) -> dict:
    from qloom import frontend

    model = frontend.load(cfg.model)
    model.save(str(work / (A.FRONTEND_ONNX + ".tmp")))
    (work / (A.FRONTEND_ONNX + ".tmp")).replace(work / A.FRONTEND_ONNX)
    return {"nodes": len(model.graph.node)}


def _streamline(cfg: BuildConfig, work: Path) -> dict:
    from qloom import streamline
    from qloom.ir import netron, serialize

    graph = streamline.run(work / A.FRONTEND_ONNX, name=cfg.model.stem)
    serialize.save(graph, work / A.IR_JSON)
    netron.save(graph, work / A.IR_ONNX)
    return {"layers": [f"{l.name}:{l.kind}" for l in graph.layers]}


def _clock(cfg: BuildConfig) -> float:
    from qloom.fold.boards import clock_mhz

    return clock_mhz(cfg.board, cfg.clock_mhz)


def _fold(cfg: BuildConfig, work: Path) -> dict:
    from qloom import fold
    from qloom.ir import serialize

    graph = serialize.load(work / A.IR_JSON)
    if cfg.folding:
        graph = fold.apply_folding_file(graph, cfg.folding)
    elif cfg.target_fps or cfg.board:
        graph = fold.auto_fold(graph, target_fps=cfg.target_fps, board=cfg.board, clock_mhz=cfg.clock_mhz)
    fold.save_folding(graph, work / A.FOLDING_JSON)  # the choice: "auto" stays auto
    graph = fold.resolve_mem_styles(graph)  # the build: the style the backend makes of it
    serialize.save(graph, work / A.FOLDED_JSON)
    report = fold.report(graph, _clock(cfg), board=cfg.board)
    from qloom.verify import ties  # thresholds a float reference may round to the other side

    report["reference_ties"] = ties.find_ties(work / A.FRONTEND_ONNX, graph)
    if report["reference_ties"]:
        print(ties.summary(report["reference_ties"]))
    A.write_json(work / A.ESTIMATE_JSON, report)
    return {"cycles_per_frame": report["cycles_per_frame"], "fps": report["fps"]}


def _rtl(cfg: BuildConfig, work: Path) -> dict:
    from qloom.backends.rtl import generate
    from qloom.ir import serialize
    from qloom.verify.rtl import lint

    graph = serialize.load(work / A.FOLDED_JSON)
    tmp = work / (A.RTL_DIR + ".tmp")
    A.remove(tmp)
    design = generate(graph, tmp, clock_mhz=_clock(cfg), out_kind=cfg.out_kind)  # clock: the folding's
    warnings = lint(tmp)
    A.write_json(tmp / "lint.json", {"tool": "verilator --lint-only -Wall", "warnings": warnings})
    A.replace_dir(tmp, work / A.RTL_DIR)
    return {"top": design.get("top"), "lint_warnings": len(warnings)}


def _synth(cfg: BuildConfig, work: Path) -> dict:
    from qloom import synth

    family = get_board_family(cfg)
    result = synth.synthesize(work / A.RTL_DIR, family=family)
    if isinstance(result.get("log"), str):  # name the log where it will be, not in the staging folder
        result["log"] = result["log"].replace(str(work.resolve()), str(cfg.out.resolve()), 1)
    result["report"] = yosys_report(result, A.read_json(work / A.ESTIMATE_JSON), family)
    A.write_json(work / A.SYNTH_JSON, result)
    return {"total": result.get("total")}


def get_board_family(cfg: BuildConfig) -> str:
    from qloom.fold import get_board

    return get_board(cfg.board).family if cfg.board else "xc7"


def yosys_report(result: dict, estimate: dict, family: str) -> dict:
    """The Yosys counts in the estimate's layout, the keys report.json gains: "yosys" (totals, and
    the board's share when the estimate has a board), "layers" ({name: core counts}),
    "streams_yosys" (per estimate stream) and "dma_yosys" (the DMA side)."""
    from qloom.fold.calibration import on_dma_side, yosys_layers
    from qloom.fold.resources import KEYS

    out = {"yosys": {"note": result.get("note"), "tool": result.get("tool"), "family": family,
                     "seconds": result.get("seconds"), "total": result.get("total"),
                     "lut_note": "slice_LUT = logic LUTs + LUTs used as LUTRAM/SRL (Vivado's 'Slice LUTs'); "
                                 "the estimates' LUT counts the same"}}
    instances = yosys_layers(result)  # per instance, in the estimates' units (slice LUTs)

    def counts(part: tuple[str, ...], layer: str) -> dict | None:
        mine = [c for c in instances.values() if c["layer"] == layer and c["part"] in part]
        return {k: sum(c[k] for c in mine) for k in KEYS} if mine else None

    out["layers"] = {row["name"]: core for row in estimate.get("layers", []) if (core := counts(("core",), row["name"]))}
    board = estimate.get("board")
    if board and board.get("capacity"):  # the board's share by Yosys' counts, beside the estimate's
        got = {"LUT": result["total"]["slice_LUT"], "FF": result["total"]["FF"], "BRAM18": result["total"]["BRAM18"],
               "DSP": result["total"]["DSP"]}
        out["yosys"]["utilization"] = {k: got[k] / cap for k, cap in board["capacity"].items() if k in got and cap}
    zero = dict.fromkeys(KEYS, 0)
    streams = estimate.get("streams", {})
    out["streams_yosys"] = {name: counts(("fifo", "dwc"), name) or zero for name in streams}
    dma = [c for c in instances.values() if on_dma_side(c, streams)]
    out["dma_yosys"] = {k: sum(c[k] for c in dma) for k in KEYS}  # beside the estimate's "dma"
    return out


def compose_report(d: Path, keep: dict | None = None, synthesized: bool = True) -> None:
    """Write d/report.json: d/estimate.json (fold) with d/synth.json's "report" keys (synth) laid
    over it, each layer row gaining its "yosys" counts; `keep`: keys of an earlier report.json
    that neither stage writes (e.g. "vivado", imported later) and that are still valid;
    `synthesized`: whether d's synth.json belongs to the build."""
    if not (d / A.ESTIMATE_JSON).is_file():
        return
    report = A.read_json(d / A.ESTIMATE_JSON)
    result = A.read_json(d / A.SYNTH_JSON) if synthesized and (d / A.SYNTH_JSON).is_file() else {}
    extra = result.get("report") if isinstance(result.get("report"), dict) else None
    if extra:
        for row in report.get("layers", []):
            if row.get("name") in extra.get("layers", {}):
                row["yosys"] = extra["layers"][row["name"]]
        report.update({k: v for k, v in extra.items() if k != "layers"})
    report.update({k: v for k, v in (keep or {}).items() if k not in report})
    A.write_json(d / A.REPORT_JSON, report)


def _foreign_report_keys(out: Path) -> dict:
    """Keys of out/report.json no stage writes (e.g. "vivado", from `qloom deploy --import-reports`)."""
    try:
        old = A.read_json(out / A.REPORT_JSON) if (out / A.REPORT_JSON).is_file() else {}
        est = A.read_json(out / A.ESTIMATE_JSON) if (out / A.ESTIMATE_JSON).is_file() else {}
    except QloomError:  # a damaged one: recomposed without them
        return {}
    ours = set(est) | {"yosys", "streams_yosys", "dma_yosys"}
    return {k: v for k, v in old.items() if k not in ours} if isinstance(old, dict) else {}


def _deploy_dataset(cfg: BuildConfig, work: Path) -> str:
    if cfg.dataset:
        return cfg.dataset
    from qloom.ir import serialize

    first = serialize.load(work / A.FOLDED_JSON).layers[0]
    return "mnist" if int(np.prod(first.in_shape)) == 28 * 28 else "random"


def _deploy(cfg: BuildConfig, work: Path) -> dict:
    from qloom import deploy

    facts = deploy.write_deploy(work, board=cfg.board, part=None, out_dir=work / A.DEPLOY_DIR,
                                frames=cfg.deploy_frames, dataset=_deploy_dataset(cfg, work))
    return {"target": facts.get("target"), "files": len(facts.get("files", {}))}


# One row per stage: its runner, the artifacts it reads and writes, the BuildConfig fields its
# result depends on (a file-valued field counts by its path and content).
RUNNERS = {"frontend": _frontend, "streamline": _streamline, "fold": _fold, "rtl": _rtl, "synth": _synth,
           "deploy": _deploy}
OUTPUTS = {
    "frontend": [A.FRONTEND_ONNX],
    "streamline": [A.IR_JSON, A.IR_ONNX],
    "fold": [A.FOLDED_JSON, A.FOLDING_JSON, A.ESTIMATE_JSON],
    "rtl": [A.RTL_DIR],
    "synth": [A.SYNTH_JSON],
    "deploy": [A.DEPLOY_DIR],
}
INPUTS = {  # what a stage reads (synth also reads estimate.json for its layout, and writes rtl/synth/)
    "frontend": [],
    "streamline": [A.FRONTEND_ONNX],
    "fold": [A.IR_JSON, A.FRONTEND_ONNX],  # the reference's float path, for its ties
    "rtl": [A.FOLDED_JSON],
    "synth": [A.RTL_DIR],
    "deploy": [A.RTL_DIR, A.FOLDED_JSON],
}
OPTIONS = {
    "frontend": ("model",),
    "streamline": ("model",),
    "fold": ("folding", "target_fps", "board", "clock_mhz"),
    "rtl": ("board", "clock_mhz", "out_kind"),  # design.json records the clock
    "synth": ("board",),
    "deploy": ("board", "dataset", "deploy_frames"),
}
KEEPS_VERIFY = ("synth", "deploy")  # re-running these leaves verify.json valid: verify reads none of their artifacts


def check_config(cfg: BuildConfig) -> None:
    """Every input of the build, checked before the build folder is touched."""
    from qloom.fold import get_board
    from qloom.fold.folding_file import read_folding_file

    if cfg.stop_after not in STAGES:
        raise QloomError(f"unknown stage {cfg.stop_after!r}; stages: {', '.join(STAGES)}")
    if cfg.stop_after == "deploy" and not cfg.board:
        raise QloomError("the deploy stage needs a target: add --board B (see `qloom boards`), "
                         "or stop earlier with --stop-after synth")
    if cfg.out_kind not in (None, "labels", "logits"):
        raise QloomError(f"--out-kind must be labels or logits, got {cfg.out_kind!r}")
    if cfg.deploy_frames < 1:
        raise QloomError(f"--deploy-frames must be at least 1, got {cfg.deploy_frames}")
    if cfg.model.is_dir():
        raise QloomError(f"model {cfg.model} is a folder, not a model file; give the .onnx file in it "
                         f"(e.g. {cfg.model / 'model.onnx'})")
    if not cfg.model.is_file():
        raise QloomError(f"model file {cfg.model} does not exist")
    try:
        with cfg.model.open("rb") as f:
            f.read(1)
    except OSError as exc:
        raise QloomError(f"cannot read model file {cfg.model}: {exc.strerror or exc}") from None
    if cfg.folding is not None:
        if cfg.target_fps is not None:
            raise QloomError("--folding and --target-fps both choose the folding: give one of them")
        read_folding_file(cfg.folding)
    for flag, value in (("--target-fps", cfg.target_fps), ("--clock-mhz", cfg.clock_mhz)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise QloomError(f"{flag} must be a positive finite number, got {value!r}")
    if cfg.board is not None:
        get_board(cfg.board)
    if cfg.out.exists() and not cfg.out.is_dir():
        raise QloomError(f"output folder {cfg.out} is a file; give a folder for --out")


def _previous_build(cfg: BuildConfig) -> tuple[dict | None, bool]:
    """(build.json of the qloom build in cfg.out or None, whether the folder is new or empty)."""
    out = cfg.out
    try:
        ours = (*A.BOOKKEEPING, buildconfig.BUILD_TOML)  # a build.toml alone: the user's config, not a foreign build
        entries = sorted(p.name for p in out.iterdir() if p.name not in ours) if out.is_dir() else []
    except OSError as exc:
        raise QloomError(f"cannot read output folder {out}: {exc.strerror or exc}") from None
    if not entries:
        return None, True
    if (out / A.BUILD_JSON).exists():
        fix = (f"rebuild with --force (replaces qloom's artifacts in {out}, leaves other files) "
               "or build into a new folder")
        try:
            state = A.read_json(out / A.BUILD_JSON, fix=fix)
            stages = state.get("stages")
            if not isinstance(stages, dict) or not all(isinstance(v, dict) for v in stages.values()):
                raise QloomError(f"{out / A.BUILD_JSON} is damaged (no \"stages\" record); {fix}")
        except QloomError:
            if cfg.force:
                return None, False
            raise
        return state, False
    if cfg.force:
        return None, False
    shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
    raise QloomError(f"{out} is not empty ({shown}) and not a qloom build folder (no {A.BUILD_JSON}); build "
                     "into a new or empty folder, or add --force to write qloom's artifacts into it")


def _external_data(model: Path) -> dict:
    """sha256 of each external-data file an ONNX model refers to (dynamo exports keep weights in
    MODEL.onnx.data: new weights of the same sizes leave MODEL.onnx byte-identical)."""
    import onnx
    from onnx.external_data_helper import uses_external_data

    try:
        proto = onnx.load(str(model), load_external_data=False)
    except Exception:  # not readable as ONNX: the frontend stage reports it
        return {}
    tensors = list(proto.graph.initializer)
    tensors += [a.t for n in proto.graph.node for a in n.attribute if a.HasField("t")]
    places = {e.value for t in tensors if uses_external_data(t) for e in t.external_data if e.key == "location"}
    return {p: A.digest(model.parent / p) for p in sorted(places)}


def _file_value(path: Path) -> dict:
    """A file-valued option as build.json records it: where it is and what it holds."""
    value = {"path": str(path.resolve()), "sha256": A.digest(path)}
    if path.suffix == ".onnx" and (extra := _external_data(path)):
        value["external_data"] = extra
    return value


def _option_values(cfg: BuildConfig) -> dict[str, dict]:
    """stage -> {option: value} for every stage (`OPTIONS`)."""
    files = {name: _file_value(v) for name in {n for row in OPTIONS.values() for n in row}
             if isinstance(v := getattr(cfg, name), Path)}
    return {stage: {name: files.get(name, getattr(cfg, name)) for name in row} for stage, row in OPTIONS.items()}


def _why_rerun(stage: str, rec: dict | None, options: dict, out: Path) -> str | None:
    """None if the recorded stage can be reused as it is, else the reason it must run again."""
    if rec is None:
        return "not built before"
    if "options" not in rec:
        return "recorded without input hashes (an older qloom)"
    if not isinstance(rec["options"], dict):
        return f"its record in {A.BUILD_JSON} is damaged"
    changed = sorted(k for k in set(options) | set(rec["options"]) if rec["options"].get(k) != options.get(k))
    if changed:
        return f"changed {', '.join(changed)}"
    if rec.get("inputs") != {n: A.digest(out / n) for n in INPUTS[stage]}:
        return f"its input ({', '.join(INPUTS[stage])}) changed"
    if rec.get("outputs") != {n: A.digest(out / n) for n in OUTPUTS[stage]}:
        return f"its artifacts ({', '.join(OUTPUTS[stage])}) are missing or changed"
    return None


def build(cfg: BuildConfig, log=print) -> dict:
    """Run the stages up to `cfg.stop_after`; returns build.json's content."""
    check_config(cfg)
    _previous_build(cfg)  # refuse a foreign folder before creating anything in it
    try:
        cfg.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise QloomError(f"cannot write to output folder {cfg.out}: {exc.strerror or exc}") from None
    with A.locked(cfg.out):
        previous, fresh = _previous_build(cfg)  # again, now that no other build can change it
        state = _build_locked(cfg, previous, fresh, log)
        from qloom.report import write_report_safely

        write_report_safely(cfg.out, log)  # DIR/report.html; its failure is a logged line, not a failed build
        return state


def _build_locked(cfg: BuildConfig, previous: dict | None, fresh: bool, log) -> dict:
    out, work = cfg.out, cfg.out / A.STAGING
    wanted = cfg.wanted()
    options = _option_values(cfg)
    old = (previous or {}).get("stages", {}) if cfg.resume else {}
    records: dict[str, dict] = {}
    why = None
    for stage in STAGES:  # the reusable prefix (past stop_after too: valid later stages stay recorded)
        if stage == "deploy" and not cfg.board:
            continue  # no target: no deploy/ (an old one is retired); no later stage reads it
        why = _why_rerun(stage, old.get(stage), options[stage], out) if cfg.resume else "no --resume"
        if why:
            break
        records[stage] = {**old[stage], "reused": True}
        if stage in wanted:
            log(f"[{stage}] reused from the previous build")
    to_run = [s for s in wanted if s not in records]  # a re-run stage and every wanted stage after it
    if to_run and cfg.resume:
        log(f"[{to_run[0]}] re-run: {why}")
    state = {"qloom_build": STATE_VERSION, "model": str(cfg.model.resolve()), "config": _config_dict(cfg),
             "stages": records, "complete": False}
    failed = None  # the stage being run, for the message if it fails
    step = f"creating {work}"
    try:
        A.remove(work)  # a crashed build's leftovers: the lock says no build is using them
        work.mkdir()
        step = "copying the reused artifacts"
        if to_run:  # the re-run stages read (and synth updates) copies, never the old build
            for s in records:
                for name in OUTPUTS[s]:
                    if name != A.DEPLOY_DIR:  # read by no later stage, and may hold a Vivado project
                        A.copy(out / name, work / name)
        # keys added to report.json after a build stay while the hardware they describe does
        keep = _foreign_report_keys(out) if {"fold", "rtl"} <= set(records) else {}
        for failed in to_run:
            step = f"stage '{failed}'"
            compose_report(work, keep)  # report.json as far as built: deploy reads its clock
            inputs = {n: A.digest(work / n) for n in INPUTS[failed]}
            t0 = time.perf_counter()
            with progress.task(f"[{failed}] running"):
                info = RUNNERS[failed](cfg, work)
            seconds = round(time.perf_counter() - t0, 3)
            records[failed] = {"seconds": seconds, **info, "options": options[failed], "inputs": inputs}
            log(f"[{failed}] done in {seconds:.2f} s")
        step = "composing report.json"
        if to_run:
            compose_report(work, keep)
        failed, step = None, "moving the artifacts into place"
        state.update(complete=True, stopped_after=cfg.stop_after)
        _install(cfg, previous, state, to_run)
        return state
    except BaseException as exc:
        if failed is not None and fresh:  # nothing to preserve: keep the finished stages for --resume
            records.pop(failed, None)
            try:
                _install(cfg, previous, state, list(records))
                log(f"build failed in {step}; the finished stages are kept in {out} (build.json: complete false)")
            except OSError:
                pass  # the folder was new: nothing of value is lost; the first error is the one to report
        elif failed is not None:
            log(f"build failed in {step}; the previous build in {out} is unchanged")
        if isinstance(exc, OSError):
            where = f" ({exc.filename})" if exc.filename else ""
            raise QloomError(f"build failed in {step}: {exc.strerror or exc}{where}") from None
        raise
    finally:
        A.remove(work)


def _move_deploy(src: Path, dst: Path) -> None:
    from qloom import deploy

    deploy.install(src, dst)  # keeps the user's Vivado project and edits in the old deploy/


def _retire_deploy(path: Path) -> None:
    from qloom import deploy

    deploy.retire(path)  # removes only the files qloom wrote there


# deploy/ is where the user runs Vivado: it is merged and retired, never replaced wholesale
_MOVE = {A.DEPLOY_DIR: _move_deploy}
_REMOVE = {A.DEPLOY_DIR: _retire_deploy}


def _install(cfg: BuildConfig, previous: dict | None, state: dict, ran: list[str]) -> None:
    """Move the staged artifacts of `state`'s stages into the build folder, then write `state` as build.json.

    Until that last write, build.json says `complete: false`: the folder may hold old and new artifacts.
    """
    out, work = cfg.out, cfg.out / A.STAGING
    A.write_json(out / A.BUILD_JSON, {k: v for k, v in state.items() if k != "stopped_after"} | {"complete": False})
    if ran:
        for s in state["stages"]:
            for name in OUTPUTS[s]:
                if (work / name).exists():
                    _MOVE.get(name, A.move)(work / name, out / name)
        if (work / A.REPORT_JSON).exists():  # composed from the stages' artifacts (`compose_report`)
            A.move(work / A.REPORT_JSON, out / A.REPORT_JSON)
        # stale: the artifacts the old build recorded for stages this build did not produce
        old = (previous or {}).get("stages", {})
        for s in STAGES:
            if s in old and s not in state["stages"]:
                for name in OUTPUTS[s]:
                    _REMOVE.get(name, A.remove)(out / name)
        if "fold" not in state["stages"]:
            A.remove(out / A.REPORT_JSON)
        if previous is not None and any(s not in KEEPS_VERIFY for s in ran) and (out / A.VERIFY_JSON).exists():
            (out / A.VERIFY_JSON).replace(out / A.VERIFY_STALE_JSON)
        for s, rec in state["stages"].items():
            rec["outputs"] = {n: A.digest(out / n) for n in OUTPUTS[s]}
    elif "fold" in state["stages"]:  # all reused: report.json again from them (repairs a damaged one)
        compose_report(out, _foreign_report_keys(out), synthesized="synth" in state["stages"])
    if state["complete"]:  # the options that reproduce this build (not written for a failed one)
        buildconfig.write(out, cfg)
    A.write_json(out / A.BUILD_JSON, state)


def _config_dict(cfg: BuildConfig) -> dict:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(cfg).items()}
