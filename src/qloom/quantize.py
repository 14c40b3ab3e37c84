"""Post-training quantization (PTQ) of a float PyTorch model with Brevitas' own machinery.

float nn.Module -> `preprocess_for_quantize` (fx trace; BatchNorm kept, or merged into the weights)
-> `quantize` (Linear/Conv -> QuantLinear/QuantConv2d, ReLU -> QuantReLU, requantizers where a
weight layer's input is not quantized) -> `calibration_mode` (activation ranges from real data,
by Brevitas' percentile / MSE / max observers) -> optional `bias_correction_mode` -> optional
QAT fine-tuning -> QONNX export that `qloom build` compiles like a QAT model.

qloom's conventions kept: the input quantizer is the zoo's PixelQuant (8-bit, scale 1/256: the
hardware gets the pixel bytes; the float model's input is pixel/256 as everywhere in qloom);
biases stay float (the compiler folds them into the thresholds); the last layer is not
requantized (logits = accumulator * scale + bias).
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import importlib.util
import json
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from qloom import data
from qloom.errors import QloomError

ACT_CALIBRATIONS = ("percentile", "mse", "minmax")
WEIGHT_CALIBRATIONS = ("max", "mse")
PTQ_BITS = range(2, 9)  # 1-bit (bipolar) networks need QAT: a PTQ sign() of float weights fails


@dataclass(frozen=True)
class PTQConfig:
    """What PTQ does; every field is recorded in metrics.json["calibration"]."""

    weight_bits: int = 8
    act_bits: int = 8
    per_channel: bool = False  # one weight scale per output channel (else per tensor)
    pot_scales: bool = False  # power-of-two scales (Brevitas fixed point, as FINN): exact float32 reference
    act_calib: str = "percentile"  # activation range observer: percentile | mse | minmax
    weight_calib: str = "max"  # weight scale: max |w| (Brevitas' default) | mse (MSE-optimal clipping)
    percentile: float = 99.999  # high percentile of the 'percentile' observer (Brevitas' default)
    bias_correction: bool = False
    # False (default): BatchNorm stays a float op after the bias-free weights, as in the QAT zoo;
    # the compiler folds it into the thresholds at no hardware cost, and no float bias enters the
    # float32 matmul of the QONNX reference (onnxruntime's Gemm adds it inside the accumulation,
    # which rounds). True: Brevitas' usual PTQ form, BN folded into weights and biases.
    merge_bn: bool = False
    calib_frames: int = 1000  # calibration images, drawn (seeded) from the training split
    finetune_epochs: int = 0  # QAT epochs starting from the PTQ result
    finetune_lr: float = 1e-3
    seed: int = 0

    def __post_init__(self):
        for kind in ("weight_bits", "act_bits"):
            bits = getattr(self, kind)
            if not isinstance(bits, int) or bits not in PTQ_BITS:
                raise QloomError(f"PTQ {kind.replace('_', ' ')} {bits!r} not supported; valid: 2..8 "
                                 "(1-bit networks: train them with QAT, `qloom train --model FAMILY-w1a1`)")
        if self.act_calib not in ACT_CALIBRATIONS:
            raise QloomError(f"unknown activation calibration {self.act_calib!r}; valid: {', '.join(ACT_CALIBRATIONS)}")
        if self.weight_calib not in WEIGHT_CALIBRATIONS:
            raise QloomError(f"unknown weight calibration {self.weight_calib!r}; valid: {', '.join(WEIGHT_CALIBRATIONS)}")
        if not 0 < self.percentile <= 100:
            raise QloomError(f"percentile must be in (0, 100], got {self.percentile}")
        if self.calib_frames < 1 or self.finetune_epochs < 0:
            raise QloomError("calibration frames must be >= 1 and fine-tuning epochs >= 0")


def parse_bits(text: str) -> tuple[int, int]:
    """'8/8' or '4/8' (weights/activations) or '4' (both) -> (weight_bits, act_bits)."""
    parts = str(text).split("/")
    try:
        bits = [int(p) for p in parts]
    except ValueError:
        bits = []
    if len(bits) not in (1, 2):
        raise QloomError(f"--bits {text!r}: expected W/A, e.g. 8/8 or 4/8 (weights/activations)")
    return (bits[0], bits[-1])


# ----------------------------------------------------------------------- quantizers (Brevitas)


def _quantizers(cfg: PTQConfig):
    """Brevitas quantizer classes for cfg: (weight, unsigned activation, signed activation).

    Brevitas' own classes, specialised only by injector attributes: the observer (percentile /
    MSE / max statistics) and, with pot_scales, the power-of-two restriction of its fixed-point
    quantizers (scale rounded up to 2**ceil(log2 s), so the observed range still fits).
    """
    from brevitas.core.function_wrapper import CeilSte
    from brevitas.core.restrict_val import RestrictValueType
    from brevitas.core.stats import StatsOp
    from brevitas.quant import scaled_int as q

    if cfg.weight_calib == "mse":
        weight = q.Int8WeightPerChannelFloatMSE if cfg.per_channel else q.Int8WeightPerTensorFloatMSE
    else:
        weight = q.Int8WeightPerChannelFloat if cfg.per_channel else q.Int8WeightPerTensorFloat
    unsigned, signed = q.Uint8ActPerTensorFloat, q.Int8ActPerTensorFloat
    act_attrs: dict = {}
    if cfg.act_calib == "mse":
        unsigned, signed = q.Uint8ActPerTensorFloatMSE, q.Int8ActPerTensorFloatMSE
    elif cfg.act_calib == "minmax":  # max |x| over the calibration set (ReLU outputs: min is 0)
        act_attrs["scaling_stats_op"] = StatsOp.MAX
    else:
        act_attrs["high_percentile_q"] = cfg.percentile
    pot = dict(restrict_scaling_type=RestrictValueType.POWER_OF_TWO, restrict_value_float_to_int_impl=CeilSte)
    w_attrs = pot if cfg.pot_scales else {}
    if cfg.pot_scales:
        act_attrs.update(pot)
    suffix = f"{cfg.act_calib}{'PoT' if cfg.pot_scales else ''}"
    return (type(f"Weight{'PoT' if cfg.pot_scales else ''}", (weight,), w_attrs),
            type(f"UintAct_{suffix}", (unsigned,), act_attrs), type(f"IntAct_{suffix}", (signed,), act_attrs))


def _flatten_modules_to_calls(gm: torch.fx.GraphModule) -> None:
    """nn.Flatten -> torch.flatten: Brevitas sees the function as precision-preserving (the
    module it does not), so the first layer reads the pixel quantizer directly instead of
    getting a second, lossy requantizer of its own."""
    for node in list(gm.graph.nodes):
        if node.op == "call_module" and isinstance(gm.get_submodule(node.target), nn.Flatten):
            mod = gm.get_submodule(node.target)
            with gm.graph.inserting_after(node):
                call = gm.graph.call_function(torch.flatten, (node.args[0],),
                                              dict(start_dim=mod.start_dim, end_dim=mod.end_dim))
            node.replace_all_uses_with(call)
            gm.graph.erase_node(node)
    gm.graph.eliminate_dead_code()
    gm.recompile()


def quantize_model(model: nn.Module, cfg: PTQConfig) -> nn.Module:
    """The Brevitas-quantized twin of float `model` (not yet calibrated)."""
    import brevitas.nn as qnn
    from brevitas.graph.quantize import preprocess_for_quantize, quantize

    from qloom.models.quant import PixelQuant

    model = copy.deepcopy(model).eval()  # fx shares modules with its source, and BN merging edits weights
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            graph = preprocess_for_quantize(model, merge_bn=cfg.merge_bn)
    except Exception as exc:  # fx cannot trace data-dependent Python control flow
        raise QloomError(f"cannot trace the float model for PTQ ({exc.__class__.__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''}); it must be fx-traceable "
                         "(no data-dependent if/for in forward)") from None
    _flatten_modules_to_calls(graph)
    inputs = [n for n in graph.graph.nodes if n.op == "placeholder"]
    if len(inputs) != 1:
        raise QloomError(f"the float model's forward takes {len(inputs)} inputs; PTQ needs exactly one (the image)")
    weight, unsigned, signed = _quantizers(cfg)
    w = dict(weight_quant=weight, weight_bit_width=cfg.weight_bits, bias_quant=None, return_quant_tensor=True)
    layer_map = {nn.Linear: (qnn.QuantLinear, w), nn.Conv2d: (qnn.QuantConv2d, w)}
    act = dict(bit_width=cfg.act_bits, return_quant_tensor=True)
    act_map = {nn.ReLU: (qnn.QuantReLU, dict(act, act_quant=unsigned))}
    identity_map = {"signed": (qnn.QuantIdentity, dict(act, act_quant=signed)),
                    "unsigned": (qnn.QuantIdentity, dict(act, act_quant=unsigned))}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        qmodel = quantize(graph, quant_identity_map=identity_map, compute_layer_map=layer_map,
                          quant_act_map=act_map, requantize_layer_handler_output=False)
    # Brevitas put a signed quantizer on the input placeholder; qloom's input is the pixel byte
    name = inputs[0].name + "_quant"  # brevitas.graph.quantize_impl.inp_placeholder_handler's naming
    if not isinstance(getattr(qmodel, name, None), qnn.QuantIdentity):
        raise RuntimeError(f"Brevitas' input quantizer {name!r} not found: its naming changed")
    setattr(qmodel, name, qnn.QuantIdentity(act_quant=PixelQuant, return_quant_tensor=True))
    return qmodel


def _batches(x: np.ndarray, batch: int = 250):
    for i in range(0, len(x), batch):
        yield data.to_model_input(x[i : i + batch])


@torch.no_grad()
def calibrate(qmodel: nn.Module, calib_x: np.ndarray, bias_correction: bool = False) -> None:
    """Activation ranges (and optionally bias correction) from uint8 calibration images."""
    from brevitas.graph.calibrate import bias_correction_mode, calibration_mode

    qmodel.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with calibration_mode(qmodel):
            for xb in _batches(calib_x):
                qmodel(xb)
        if bias_correction:
            with bias_correction_mode(qmodel):
                for xb in _batches(calib_x):
                    qmodel(xb)


# ------------------------------------------------------------------------ loading float models


def _import_class(spec: str):
    """'pkg.mod:Class' or 'path/to/file.py:Class' -> the class object."""
    mod_name, _, cls_name = spec.rpartition(":")
    if not mod_name or not cls_name:
        raise QloomError(f"{spec!r}: expected module:Class or path/to/file.py:Class")
    try:
        if mod_name.endswith(".py"):
            path = Path(mod_name)
            if not path.is_file():
                raise QloomError(f"{spec!r}: no file {path}")
            s = importlib.util.spec_from_file_location(f"qloom_user_{path.stem}", path)
            module = importlib.util.module_from_spec(s)
            sys.modules[s.name] = module
            s.loader.exec_module(module)
        else:
            module = importlib.import_module(mod_name)
    except QloomError:
        raise
    except Exception as exc:
        raise QloomError(f"cannot import {mod_name!r} for {spec!r}: {exc.__class__.__name__}: {exc}") from None
    cls = getattr(module, cls_name, None)
    if cls is None:
        raise QloomError(f"{mod_name!r} has no attribute {cls_name!r}")
    return cls


def _user_model(spec: str, state_dict) -> nn.Module:
    from qloom.train import load_checkpoint

    if state_dict is None:
        raise QloomError(f"{spec}: give the trained weights with --state-dict FILE (a torch.save'd state_dict)")
    if not Path(state_dict).is_file():
        raise QloomError(f"--state-dict {state_dict}: no such file")
    cls = _import_class(spec)
    try:
        model = cls()
    except Exception as exc:
        raise QloomError(f"cannot build {spec}() without arguments: {exc.__class__.__name__}: {exc}") from None
    if not isinstance(model, nn.Module):
        raise QloomError(f"{spec}() is a {type(model).__name__}, not a torch nn.Module")
    state = load_checkpoint(state_dict)
    if isinstance(state, dict) and "best_state" in state:  # a qloom checkpoint.pt
        state = state["best_state"] or state["model"]
    try:
        model.load_state_dict(state)
    except Exception as exc:
        raise QloomError(f"--state-dict {state_dict} does not fit {spec}: {str(exc).splitlines()[0]}") from None
    return model.eval()


def load_float_model(source: str, state_dict=None) -> tuple[nn.Module, str]:
    """A float model from a `qloom train --float` folder/checkpoint or `module:Class` + state dict.

    Returns (eval-mode model, description for metrics.json).
    """
    from qloom.models import is_float_name
    from qloom.train import load_checkpoint, load_trained

    path = Path(source)
    if path.is_dir() or path.name == "checkpoint.pt":
        folder = path if path.is_dir() else path.parent
        ckpt = folder / "checkpoint.pt"
        if not ckpt.is_file():
            raise QloomError(f"no checkpoint at {ckpt}: train a float model first (`qloom train --float --out {folder}`)")
        name = load_checkpoint(ckpt).get("model_name")
        if not is_float_name(name):
            raise QloomError(f"{ckpt} holds {name or 'no zoo model'}, not a float model: build a QAT model directly, "
                             f"or train a float twin with `qloom train --model {str(name).split('-')[0]} --float`")
        return load_trained(folder), name
    if ":" in source:
        return _user_model(source, state_dict), source
    raise QloomError(f"{source}: not a `qloom train --float` folder, checkpoint.pt or module:Class")


# ------------------------------------------------------------------------------- the full job


def _eval_split(dataset: str, limit_eval: int | None):
    x, y = data.load_dataset(dataset, "test")
    return (x[:limit_eval], y[:limit_eval]) if limit_eval else (x, y)


def _calibration_images(dataset: str, n: int, seed: int) -> np.ndarray:
    x, _ = data.load_dataset(dataset, "train")
    idx = np.sort(np.random.default_rng(seed).choice(len(x), size=min(n, len(x)), replace=False))
    return x[idx]


def _check_input(model: nn.Module, dataset: str) -> tuple[int, int, int]:
    shape = data.input_shape(dataset)
    try:
        with torch.no_grad():
            out = model(torch.zeros((2, *shape)))
    except Exception as exc:
        raise QloomError(f"the float model does not take {dataset} images of shape (N, {', '.join(map(str, shape))}): "
                         f"{exc.__class__.__name__}: {str(exc).splitlines()[0]}") from None
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[1] != data.num_classes(dataset):
        raise QloomError(f"the float model must return (N, {data.num_classes(dataset)}) logits for {dataset}, "
                         f"got {getattr(out, 'shape', type(out).__name__)}")
    return shape


def _family(described: str) -> str:
    """'sfc-float' -> 'sfc-' (model names like sfc-ptq-w8a8); a user's module -> ''."""
    from qloom.models import is_float_name

    return described[: -len("float")] if is_float_name(described) else ""


def ptq(source: str, dataset: str, out, cfg: PTQConfig, *, state_dict=None, limit_eval: int | None = None,
        limit_train: int | None = None, threads: int | None = None, progress: bool = True,
        command: str | None = None) -> dict:
    """PTQ (+ optional fine-tuning) -> OUT/{model.onnx, checkpoint.pt, metrics.json}; returns the metrics.

    metrics.json is written last (a folder with it is a finished run).
    """
    from qloom.export import export_qonnx_model
    from qloom.train import _atomic_torch_save, _check_writable, accuracy, default_recipe, set_threads, train_model

    n_threads = set_threads(threads)
    float_model, described = load_float_model(source, state_dict)
    shape = _check_input(float_model, dataset)
    test_x, test_y = _eval_split(dataset, limit_eval)
    out = Path(out)
    _check_writable(out)
    metrics_path = out / "metrics.json"
    if metrics_path.exists():
        metrics_path.unlink()  # not finished while this run is in progress
    t0 = time.perf_counter()
    float_acc = accuracy(float_model, test_x, test_y)
    torch.manual_seed(cfg.seed)
    t_ptq = time.perf_counter()
    qmodel = quantize_model(float_model, cfg)
    calib_x = _calibration_images(dataset, cfg.calib_frames, cfg.seed)
    calibrate(qmodel, calib_x, cfg.bias_correction)
    calib_seconds = time.perf_counter() - t_ptq  # graph quantization + calibration (+ bias correction)
    ptq_acc = accuracy(qmodel, test_x, test_y)
    finetune = None
    if cfg.finetune_epochs:
        recipe = default_recipe("ptq", dataset, epochs=cfg.finetune_epochs, lr=cfg.finetune_lr,
                                bn_lr=cfg.finetune_lr, label_smoothing=0.0, shift=1)
        result = train_model(qmodel, dataset, recipe, seed=cfg.seed, limit_train=limit_train,
                             limit_eval=limit_eval, progress=progress)
        finetune = dict(epochs=result.epochs, best_epoch=result.best_epoch, val_accuracy=result.val_accuracy,
                        train_seconds=round(result.train_seconds, 2), history=result.history,
                        recipe=dataclasses.asdict(recipe))
    test_acc = accuracy(qmodel, test_x, test_y) if finetune else ptq_acc
    onnx_tmp = out / "model.onnx.tmp"
    export_qonnx_model(qmodel, onnx_tmp, shape)
    os.replace(onnx_tmp, out / "model.onnx")
    _atomic_torch_save(dict(ptq_state=qmodel.state_dict(), source=described, config=dataclasses.asdict(cfg)),
                       out / "checkpoint.pt")
    import brevitas

    metrics = dict(
        model=f"{_family(described)}ptq-w{cfg.weight_bits}a{cfg.act_bits}", source=described, dataset=dataset,
        weight_bits=cfg.weight_bits, act_bits=cfg.act_bits,
        float_accuracy=float_acc, ptq_accuracy=ptq_acc, test_accuracy=test_acc,
        calibration=dict(act_calib=cfg.act_calib, percentile=cfg.percentile if cfg.act_calib == "percentile" else None,
                         weight_calib=cfg.weight_calib, per_channel=cfg.per_channel, pot_scales=cfg.pot_scales,
                         bias_correction=cfg.bias_correction, merge_bn=cfg.merge_bn,
                         frames=int(len(calib_x)), seed=cfg.seed, split="train",
                         seconds=round(calib_seconds, 2)),
        finetune=finetune, finetune_epochs=cfg.finetune_epochs,
        seconds=round(time.perf_counter() - t0, 2), input_shape=list(shape), limit_eval=limit_eval,
        threads=n_threads,
        command=command or f"qloom quantize {source} --dataset {dataset} --bits {cfg.weight_bits}/{cfg.act_bits} --out {out}",
        versions=dict(torch=torch.__version__, brevitas=brevitas.__version__),
    )
    tmp = metrics_path.with_name("metrics.json.tmp")
    tmp.write_text(json.dumps(metrics, indent=2) + "\n")
    os.replace(tmp, metrics_path)
    return metrics
