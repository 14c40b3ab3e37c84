"""QONNX export of any Brevitas module (zoo or user-made) as one self-contained file."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from qloom.errors import QloomError


def export_qonnx_model(model: nn.Module, path, input_shape, cleanup: bool = True) -> Path:
    """Export `model` in eval mode to QONNX at `path` for inputs of shape (1, *input_shape).

    Uses the TorchScript exporter (dynamo=False): fast, and weights stay inside the .onnx file.
    `input_shape` is (C, H, W) or a full (N, C, H, W). The model's train/eval mode is restored.
    With `cleanup` (default) qonnx's standard cleanup runs (shapes inferred, weight transposes
    folded, readable unique names; Quant nodes kept), so ModelWrapper + execute_onnx work as is.
    """
    with warnings.catch_warnings():  # brevitas warns on import about an optional CUDA kernel
        warnings.simplefilter("ignore")
        from brevitas.export import export_qonnx

    check_finite(model)
    path = Path(path)
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == 3:
        shape = (1, *shape)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise QloomError(f"cannot create output folder {path.parent}: {exc.strerror}") from None
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TorchScript exporter deprecation chatter
            export_qonnx(model, torch.zeros(shape, dtype=torch.float32), export_path=str(path), dynamo=False)
    finally:
        model.train(was_training)
    if cleanup:
        from qonnx.core.modelwrapper import ModelWrapper
        from qonnx.util.cleanup import cleanup_model

        cleanup_model(ModelWrapper(str(path))).save(str(path))
    try:
        check_finite_onnx(path)
    except QloomError:
        path.unlink(missing_ok=True)  # we wrote it: a file with NaN scales must not look like a model
        raise
    return path


def check_finite(model: nn.Module) -> None:
    """Refuse a model with a NaN or infinite parameter or buffer (a diverged training):
    exported, it would build hardware whose thresholds and scales are meaningless."""
    for name, t in [*model.named_parameters(), *model.named_buffers()]:
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            bad = int((~torch.isfinite(t)).sum())
            raise QloomError(f"cannot export: {name} has {bad} non-finite value(s) (NaN/inf), "
                             "as after a diverged training; retrain with a lower learning rate")


def check_finite_onnx(path: Path) -> None:
    """The same check on the exported file: scales derived from finite weights can still overflow."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    for init in onnx.load(str(path)).graph.initializer:
        arr = numpy_helper.to_array(init)
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise QloomError(f"cannot export: the exported tensor {init.name} has non-finite values (NaN/inf); "
                             "retrain with a lower learning rate")
