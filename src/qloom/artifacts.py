"""The build folder: where each stage's artifact lives, atomic writes, digests and the folder lock.

A stage writes to a temporary name and renames, so an interrupted build never leaves a
file that looks complete. `build.json` records which stages finished; `complete` is true
only once every requested stage has. The build itself runs in `STAGING` inside the folder
and moves its artifacts in at the end (see `qloom.pipeline`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np

from qloom.errors import QloomError

FRONTEND_ONNX = "frontend.onnx"  # cleaned QONNX model: the reference for verification
IR_JSON = "ir.json"  # streamlined IR (unfolded)
IR_ONNX = "ir.onnx"  # the same IR as an ONNX file for Netron
FOLDED_JSON = "ir_folded.json"  # IR with PE/SIMD/memory style
FOLDING_JSON = "folding.json"  # the folding alone, in the hand-editable format
REPORT_JSON = "report.json"  # estimate.json + synth.json["report"]: composed by the pipeline (`pipeline.compose_report`)
ESTIMATE_JSON = "estimate.json"  # the fold stage's cycles and resources estimate
RTL_DIR = "rtl"
SYNTH_JSON = "synth.json"
DEPLOY_DIR = "deploy"  # Vivado/Vitis scripts and drivers (qloom.deploy)
VERIFY_JSON = "verify.json"
BUILD_JSON = "build.json"
VERIFY_STALE_JSON = "verify.stale.json"  # the verify.json of the artifacts a later build replaced
LOCK = ".qloom.lock"  # flock'ed by the build that owns the folder
STAGING = ".qloom-staging"  # where a build writes until it succeeds
BOOKKEEPING = (LOCK, STAGING)  # the build's own hidden entries: they do not make a folder "non-empty"
# Subfolders that later stages and tools write inside an artifact folder (rtl/synth/ by synth,
# rtl/sim_build/ by verify): not part of that artifact's digest, so using it does not "change" it.
WORK_AREAS = ("synth", "sim_build")


def _default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def write_json(path: Path, data) -> Path:
    """Write through a temporary name; a failed write (a full disk) leaves no partial file and
    raises an OSError that names the path (a failed write() itself carries no file name)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    text = json.dumps(data, indent=2, default=_default) + "\n"
    try:
        tmp.write_text(text)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror or str(exc), str(exc.filename or path)) from None
    return path


def read_json(path: Path, fix: str = "rebuild it with `qloom build`") -> dict:
    """A JSON object artifact; a damaged file is a one-line `QloomError` naming it and saying `fix`."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise QloomError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = f" at line {exc.lineno}, column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise QloomError(f"{path} is damaged (not valid JSON{where}); {fix}") from None
    if not isinstance(data, dict):
        raise QloomError(f"{path} is damaged (expected a JSON object); {fix}")
    return data


def replace_dir(tmp: Path, final: Path) -> None:
    """Swap a freshly written directory into place."""
    if final.exists():
        shutil.rmtree(final)
    tmp.replace(final)


def digest(path: Path) -> str | None:
    """sha256 of a file, or of a folder's files (names and contents, skipping `WORK_AREAS`); None if absent."""
    path = Path(path)
    h = hashlib.sha256()
    if path.is_file():
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()
    if not path.is_dir():
        return None
    for p in sorted(path.rglob("*")):
        rel = p.relative_to(path)
        if rel.parts[0] in WORK_AREAS or not p.is_file():
            continue
        h.update(f"{rel.as_posix()}\0{digest(p)}\0".encode())
    return h.hexdigest()


def remove(path: Path) -> None:
    """Delete a file or folder artifact if it is there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def copy(src: Path, dst: Path) -> None:
    """Copy a file or folder artifact (if it exists) so a stage can work on it without touching `src`."""
    if src.is_dir():
        shutil.copytree(src, dst, symlinks=True)
    elif src.exists():
        shutil.copy2(src, dst)


def move(src: Path, dst: Path) -> None:
    """Put `src` in the place of `dst` (file or folder); each step is a rename. An old folder is moved
    beside `src` (into the staging folder) before it is deleted."""
    if dst.is_dir() and not dst.is_symlink():
        old = src.with_name(src.name + ".old")
        remove(old)
        dst.replace(old)
        src.replace(dst)
        shutil.rmtree(old)
    else:
        src.replace(dst)


@contextlib.contextmanager
def locked(folder: Path):
    """Hold the folder's build lock (fcntl.flock on `LOCK`), or fail at once if another build holds it."""
    path = Path(folder) / LOCK
    created = not path.exists()
    try:
        f = path.open("a+")
    except OSError as exc:
        raise QloomError(f"cannot write to output folder {folder}: {exc.strerror or exc}") from None
    with f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise QloomError(f"{folder} is being built by another qloom build; wait for it to finish, "
                             "or build into another --out") from None
        except OSError as exc:
            raise QloomError(f"cannot lock {path}: {exc.strerror or exc}") from None
        try:  # a failed build that created the lock file removed it (below) after we opened it
            same = os.fstat(f.fileno()).st_ino == path.stat().st_ino
        except OSError:
            same = False
        if not same:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
            raise QloomError(f"{folder} was being built by another qloom build just now; run the command again")
        try:  # the file stays empty and in place: the kernel drops the lock when its holder exits
            yield
        except BaseException:
            if created:  # a failing command leaves the folder as it found it; removed while still held
                path.unlink(missing_ok=True)
            raise
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
