"""The build folder: where each stage's artifact lives, and atomic writes.

A stage writes to a temporary name and renames, so an interrupted build never leaves a
file that looks complete. `build.json` records which stages finished; `complete` is true
only once every requested stage has.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

FRONTEND_ONNX = "frontend.onnx"  # cleaned QONNX model: the reference for verification
IR_JSON = "ir.json"  # streamlined IR (unfolded)
IR_ONNX = "ir.onnx"  # the same IR as an ONNX file for Netron
FOLDED_JSON = "ir_folded.json"  # IR with PE/SIMD/memory style
FOLDING_JSON = "folding.json"  # the folding alone, in the hand-editable format
REPORT_JSON = "report.json"
RTL_DIR = "rtl"
SYNTH_JSON = "synth.json"
VERIFY_JSON = "verify.json"
BUILD_JSON = "build.json"


def _default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def write_json(path: Path, data) -> Path:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=_default) + "\n")
    tmp.replace(path)
    return path


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def replace_dir(tmp: Path, final: Path) -> None:
    """Swap a freshly written directory into place."""
    if final.exists():
        shutil.rmtree(final)
    tmp.replace(final)
