"""Quantization analysis (`qloom analyze`): where a quantized model loses information.

For every quantizer of a QONNX model (a trained zoo checkpoint is exported first) on real data:
the float tensor's histogram with the quantizer's grid, the quantization error as SQNR, and
the same tensor on a symmetric and an asymmetric (zero-point) grid of the same bit width
(formulas in `metrics`). Optionally an accuracy-against-bit-width sweep of a model family.

analysis.json (keys are only ever added):
  version, source, onnx, dataset, frames, accuracy (reference QONNX top-1 on the frames),
  command, sweep (null or `sweep.bit_width_sweep`'s dict: family, dataset, epochs, rows
  [{model, weight_bits, act_bits, test_accuracy, val_accuracy, train_seconds}]),
  layers: one per quantizer, in graph order:
    name (Quant node), role (input | weights | activation), where (text), shape (weights: the
    tensor's; activations: one frame's), n_values (values analyzed: activations are subsampled
    to at most 1e6 over all frames),
    bits, signed, narrow, bipolar, per_channel, scale (float, or {min, max} per channel),
    zero_point, grid {scale, zero_point, qmin, qmax, n_levels, bipolar, unit: value | step},
    stats {min, max, mean, std}, clip_fraction (beyond the outer levels by > half a step),
    sqnr_db (the model's own quantizer; null when exact), exact, sqnr_rescaled_db (after the best
    overall rescaling of x_hat, see `metrics`),
    symmetric / asymmetric {scale, zero_point, qmin, qmax, sqnr_db} (at the same bits),
    histogram {edges, counts, unit} (per-channel tensors: in units of their channel's step)
The page and the build report draw their figures from this dict: `analysis_figures(result)`
-> [(title, PNG data URI)], `analysis.html.section_html(result)` -> an HTML fragment (classes
styled by `analysis.html.CSS`).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from qloom.analyze.collect import QuantTensor, collect
from qloom.analyze.metrics import BipolarGrid, Grid, compare_grids, sqnr_db, sqnr_rescaled_db
from qloom.analyze.plots import analysis_figures
from qloom.errors import QloomError

VERSION = 1
HIST_BINS = 80


def layer_record(t: QuantTensor, bins: int = HIST_BINS) -> dict:
    """The analysis.json entry of one quantizer (see the module docstring)."""
    x, xh = t.x.reshape(-1), t.x_hat.reshape(-1)
    qmin, qmax = t.qrange()
    zp = float(np.mean(t.zero_point))
    per_channel = t.per_channel
    if per_channel:  # one grid for all channels: measure in steps of each element's own channel
        values, unit, s = x / np.broadcast_to(t.scale, t.x.shape).reshape(-1), "step", 1.0
    else:
        values, unit, s = x, "value", float(t.scale.reshape(-1)[0])
    grid = (BipolarGrid if t.bipolar else Grid)(scale=s, zero_point=int(round(zp)), qmin=qmin, qmax=qmax)
    levels = grid.levels()
    lo, hi = min(values.min(), levels.min()), max(values.max(), levels.max())
    counts, edges = np.histogram(values, bins=bins, range=(float(lo), float(hi)) if hi > lo else None)
    own = sqnr_db(x, xh)
    scale = ({"min": float(t.scale.min()), "max": float(t.scale.max())} if per_channel
             else float(t.scale.reshape(-1)[0]))
    return {
        "name": t.name, "role": t.role, "where": t.where, "shape": list(t.shape), "n_values": int(x.size),
        "bits": t.bits, "signed": t.signed, "narrow": t.narrow, "bipolar": t.bipolar, "per_channel": per_channel,
        "scale": scale, "zero_point": zp,
        "grid": {"scale": s, "zero_point": grid.zero_point, "qmin": qmin, "qmax": qmax, "n_levels": int(len(levels)),
                 "bipolar": t.bipolar, "unit": unit},
        "stats": {"min": float(x.min()), "max": float(x.max()), "mean": float(x.mean()), "std": float(x.std())},
        "clip_fraction": grid.clip_fraction(values),
        "sqnr_db": own, "exact": own is None, "sqnr_rescaled_db": sqnr_rescaled_db(x, xh),
        **compare_grids(x, t.bits),
        "histogram": {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts], "unit": unit},
    }


# ------------------------------------------------------------------------------ sources


def _read_metrics(folder: Path) -> dict:
    path = folder / "metrics.json"
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, json.JSONDecodeError):
        return {}


def resolve_source(source, tmp: Path) -> tuple[Path, dict]:
    """MODEL_OR_CHECKPOINT -> (QONNX file to analyze, the folder's metrics.json or {}).

    A `qloom train` folder (or its checkpoint.pt) is re-exported from the checkpoint's chosen
    weights; a `qloom quantize` folder or any other folder uses its model.onnx; a file ending in
    .onnx is used as is.
    """
    from qloom.models import is_float_name
    from qloom.train import load_checkpoint

    path = Path(source)
    if not path.exists():
        raise QloomError(f"{path} does not exist: give a QONNX file, a `qloom train` folder or its checkpoint.pt")
    if path.is_file() and path.suffix == ".onnx":
        return path, _read_metrics(path.parent)
    folder = path if path.is_dir() else path.parent
    if path.is_file() and path.name != "checkpoint.pt":
        raise QloomError(f"{path}: expected a .onnx file, a training folder or its checkpoint.pt")
    ckpt = folder / "checkpoint.pt"
    state = load_checkpoint(ckpt) if ckpt.is_file() else {}
    name = state.get("model_name") if isinstance(state, dict) else None
    if name and is_float_name(name):
        raise QloomError(f"{ckpt} is the float model {name}: nothing is quantized yet; quantize it first "
                         f"(`qloom quantize {folder} --bits 8/8 --out DIR`) and analyze DIR")
    if name:
        from qloom.export import export_qonnx_model
        from qloom.train import load_trained

        model = load_trained(folder)
        onnx_path = tmp / "model.onnx"
        export_qonnx_model(model, onnx_path, model.input_shape)
        return onnx_path, _read_metrics(folder)
    if (folder / "model.onnx").is_file():
        return folder / "model.onnx", _read_metrics(folder)
    raise QloomError(f"{folder} has neither a zoo checkpoint.pt nor a model.onnx")


# ------------------------------------------------------------------------------ the job


def analyze_model(onnx_path, dataset: str, frames: int = 500) -> dict:
    """The analysis dict (without sweep) of a QONNX model on the first `frames` test images."""
    from qloom import data, frontend

    if frames < 1:
        raise QloomError(f"--frames must be >= 1, got {frames}")
    model = frontend.load(onnx_path)
    shape = tuple(int(d) for d in model.get_tensor_shape(model.graph.input[0].name))
    x, y = data.load_dataset(dataset, "test")
    x, y = x[:frames], y[:frames]
    want = data.input_shape(dataset)
    if tuple(shape[1:]) != want:
        raise QloomError(f"the model takes inputs {tuple(shape[1:])} but {dataset} images are {want}: "
                         "pass the dataset it was trained on with --dataset")
    xin = data.to_model_input(x).numpy()
    tensors, out = collect(model, xin)
    pred = out.reshape(len(y), -1)
    pred = pred[:, 0].astype(np.int64) if pred.shape[1] == 1 else pred.argmax(axis=1)
    return {"version": VERSION, "onnx": str(onnx_path), "dataset": dataset, "frames": int(len(y)),
            "accuracy": float(np.mean(pred == y)), "layers": [layer_record(t) for t in tensors], "sweep": None}


def write_outputs(result: dict, out) -> tuple[Path, Path]:
    """DIR/analysis.json and DIR/analysis.html (self-contained); returns their paths."""
    from qloom.analyze.html import render_page

    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise QloomError(f"cannot create output folder {out}: {exc.strerror or exc}") from None
    paths = []
    for name, text in (("analysis.json", json.dumps(result, indent=1) + "\n"),
                       ("analysis.html", render_page(result, analysis_figures(result)))):
        path = out / name
        tmp = path.with_name(name + ".tmp")
        try:
            tmp.write_text(text)
            os.replace(tmp, path)
        except OSError as exc:
            raise QloomError(f"cannot write {path}: {exc.strerror or exc}") from None
        paths.append(path)
    return paths[0], paths[1]


def analyze(source=None, out=None, *, dataset: str | None = None, frames: int = 500, sweep: dict | None = None,
            command: str | None = None) -> dict:
    """The whole `qloom analyze`: analysis of `source` (if any) plus a finished sweep dict (if any)."""
    result: dict = {"version": VERSION, "layers": [], "sweep": None}
    if source is not None:
        with tempfile.TemporaryDirectory(prefix="qloom-analyze-") as tmp:
            onnx_path, metrics = resolve_source(source, Path(tmp))
            ds = dataset or metrics.get("dataset") or "mnist"
            result = analyze_model(onnx_path, ds, frames)
            if str(onnx_path).startswith(tmp):
                result["onnx"] = None  # exported from the checkpoint into a temporary file
        result["source"] = str(source)
        result["model"] = metrics.get("model")
    result["sweep"] = sweep
    result["command"] = command
    if out is not None:
        write_outputs(result, out)
    return result


__all__ = ["analysis_figures", "analyze", "analyze_model", "layer_record", "resolve_source", "write_outputs"]
