"""Verify as a stage: `verify_build(DIR, levels, ...)` compares a build folder's hardware with
the QONNX reference and records verify.json; `qloom verify`, `qloom demo` and
`qloom.pipeline.verify` call it.

verify.json is {"levels": {"ir": {...}, "rtl": {...}, "driver": {...}}}, keeping levels not
re-run. DIR's build.json must record the stages a level reads (ir: up to streamline, rtl:
up to rtl). Returns 0 when every level matched, 1 when a level mismatched or the design hung
in simulation (details, with "error" for a hang, in verify.json); raises QloomError for a user
or tool error (a missing or corrupt artifact, a simulator that cannot be built or run), and
verify.json is then left as it was.
"""

from __future__ import annotations

from pathlib import Path

from qloom import artifacts as A
from qloom import progress
from qloom.errors import QloomError
from qloom.ir import Graph, serialize

LEVELS = ("ir", "rtl", "driver")
MAX_SEED = 2**32 - 1  # one range for verify and train (the simulator's own seed is derived from it)


def _need(path: Path, stage: str, folder: bool = False) -> Path:
    if not path.exists():
        raise QloomError(f"{path} is missing: run `qloom build` through the '{stage}' stage first")
    if path.is_dir() != folder:
        kind = "a file, not a folder" if folder else "a folder, not a file"
        raise QloomError(f"{path} is {kind}: rebuild with `qloom build` through the '{stage}' stage")
    return path


def _corrupt(path: Path, exc: Exception, what: str) -> QloomError:
    why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return QloomError(f"{path} is corrupt ({type(exc).__name__}: {why}): {what}")


def _load_ir(path: Path, stage: str) -> Graph:
    what = f"rebuild it with `qloom build` (stage '{stage}')"
    try:
        graph = serialize.load(_need(path, stage))
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        raise _corrupt(path, exc, what) from None
    if not isinstance(graph, Graph):
        raise QloomError(f"{path} holds no IR graph: {what}")
    return graph


def _read_report(path: Path) -> dict:
    """The old verify.json (levels not re-run are kept); {"levels": {}} if there is none."""
    if not path.exists():
        return {"levels": {}}
    if path.is_dir():
        raise QloomError(f"{path} is a folder, not a file: move it away to record a verification")
    fix = "delete it to start a fresh verification record"
    report = A.read_json(path, fix=fix)
    if not isinstance(report.get("levels"), dict):
        raise QloomError(f"{path} is damaged (no \"levels\" object); {fix}")
    return report


# the build stages whose artifacts each level reads
NEEDS = {"ir": ("frontend", "streamline"), "rtl": ("frontend", "streamline", "fold", "rtl")}


def _check_build(d: Path, levels: list[str]) -> None:
    """DIR holds a qloom build, not being built right now, whose build.json records the stages
    the levels read (a build that failed later, e.g. in synthesis, still verifies)."""
    if d.is_file():
        raise QloomError(f"{d} is a file, not a build folder; give the --out folder of `qloom build`")
    path = d / A.BUILD_JSON
    if not path.is_file():
        raise QloomError(f"{d} is not a qloom build folder (no {A.BUILD_JSON}); run `qloom build MODEL --out {d}`")
    if _being_built(d):
        raise QloomError(f"{d} is being built right now; verify it when `qloom build` has finished")
    state = A.read_json(path, fix=f"rebuild with `qloom build MODEL --out {d}`")
    done = state.get("stages") if isinstance(state.get("stages"), dict) else {}
    for level in levels:
        missing = [s for s in NEEDS.get(level, ()) if s not in done]
        if missing:
            raise QloomError(f"{path} records no finished '{missing[0]}' stage, which --level {level} needs: "
                             f"run `qloom build MODEL --out {d} --stop-after {NEEDS[level][-1]}` first")


def _being_built(d: Path) -> bool:
    """Whether a build holds the folder's lock (tested without creating the lock file)."""
    import fcntl

    try:
        with open(d / A.LOCK, "rb") as f:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
    except OSError:  # no lock file: no build of this qloom is running
        return False
    return False


def verify_build(d: Path, levels=("ir",), *, dataset: str = "mnist", frames: int = 1000, seed: int = 0,
                 quiet: bool = False) -> int:
    """Verify build folder `d` at `levels` on `frames` inputs of `dataset`; write verify.json."""
    from qloom.verify.inputs import verification_inputs

    d = Path(d)
    levels = list(dict.fromkeys(levels or ["ir"]))
    unknown = [lv for lv in levels if lv not in LEVELS]
    if unknown:
        raise QloomError(f"unknown verification level {unknown[0]!r}; levels: {', '.join(LEVELS)}")
    if frames < 1:
        raise QloomError(f"--frames must be at least 1, got {frames}")
    if not 0 <= seed <= MAX_SEED:
        raise QloomError(f"--seed must be in 0..{MAX_SEED}, got {seed}")
    _check_build(d, levels)
    verify_path = d / A.VERIFY_JSON
    report = _read_report(verify_path)  # read (and refuse a corrupt one) before the long runs
    graph = _load_ir(d / A.IR_JSON, "streamline")
    folded = _load_ir(d / A.FOLDED_JSON, "fold") if "rtl" in levels else None
    x, labels = verification_inputs(graph, dataset, frames, seed)
    entries = {}
    for level in levels:  # every level runs before verify.json is written: an error leaves it as it was
        with progress.silenced(quiet), progress.task(f"verify {level} ({len(x)} frames)"):
            if level == "ir":
                from qloom.verify.ir import compare
                from qloom.verify.reference import Reference

                entry = compare(graph, Reference(_need(d / A.FRONTEND_ONNX, "frontend")), x, labels)
            elif level == "driver":
                from qloom.verify.driver import verify_driver

                entry = verify_driver(serialize.load(_need(d / A.FOLDED_JSON, "fold")), d, x, labels=labels)
            else:
                from qloom.verify.rtl import verify_rtl

                entry = verify_rtl(folded, _need(d / A.RTL_DIR, "rtl", folder=True), x, seed=seed, labels=labels)
        entries[level] = entry = {"dataset": dataset, **entry}
        print(f"[{level}] {_summary(entry)}")
    report["levels"].update(entries)
    A.write_json(verify_path, report)
    from qloom.report import write_report_safely

    write_report_safely(d)  # DIR/report.html shows the new levels
    failed = [level for level, e in entries.items() if not _ok(e)]
    if failed:
        print(f"verification FAILED at level(s) {', '.join(failed)}; details in {verify_path}")
        return 1
    return 0


def _ok(entry: dict) -> bool:
    return entry["mismatches"] == 0 and entry.get("passed", True) and not entry.get("error")


def _summary(entry: dict) -> str:
    if entry.get("error"):
        status = f"FAILED ({entry['error'].splitlines()[0]})"
    else:
        status = "OK" if _ok(entry) else ("MISMATCH" if entry["mismatches"] else "FAILED (see verify.json)")
    acc = entry.get("ir_accuracy", entry.get("rtl_accuracy"))
    extra = f", accuracy {acc:.4f}" if acc is not None else ""
    if "cycles_per_frame" in entry:
        extra += f", {entry['cycles_per_frame']:.1f} cycles/frame (model {entry['cycles_per_frame_model']})"
    return f"{entry['frames']} frames, {entry['mismatches']} mismatches{extra}: {status}"
