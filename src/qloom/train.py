"""Quantization-aware training: per-model default recipes, validation-chosen checkpoint, resume.

The whole training set stays in memory as uint8; batches are shuffled and augmented (random
integer pixel shifts, which keep pixels exact) with seeded torch generators whose states are
saved in the checkpoint, so a resumed run continues exactly like an uninterrupted one.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from qloom import data
from qloom.errors import QloomError

CHECKPOINT_VERSION = 1


@dataclass
class Recipe:
    """Training hyper-parameters (the defaults per zoo model are in RECIPES)."""

    epochs: int = 10
    batch_size: int = 128
    lr: float = 3e-2  # peak one-cycle LR of quantized weights (latent weights live in [-1, 1])
    weight_decay: float = 0.0  # on quantized-layer weights only (never on BN)
    label_smoothing: float = 0.1
    shift: int = 2  # random integer shift of every image by up to +-shift pixels
    rotate: float = 0.0  # random rotation by up to +-rotate degrees (nearest pixel: still exact bytes)
    scale: float = 0.0  # random zoom by a factor in [1 - scale, 1 + scale] (nearest pixel)
    hflip: float = 0.0  # probability of a left-right mirror of each image (clothes, not digits)
    dropout: float = 0.0  # zoo models only: dropout after each hidden activation
    bn_lr: float = 1e-2  # peak LR of BN parameters and the loss temperature
    pct_start: float = 0.15  # one-cycle warm-up fraction
    eval_batch_size: int = 1000

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "eval_batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise QloomError(f"training option {name} must be an integer >= 1, got {value!r}")
        for name in ("lr", "bn_lr"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise QloomError(f"training option {name} must be a finite number > 0, got {value!r}")
        for name in ("weight_decay", "label_smoothing", "rotate", "scale", "dropout", "pct_start", "hflip"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise QloomError(f"training option {name} must be a finite number >= 0, got {value!r}")
        if self.hflip > 1:
            raise QloomError(f"training option hflip is a probability (0..1), got {self.hflip!r}")


# Default recipes, merged in order: family, bit widths ("w1a1"), full name, then the same
# keys with "@DATASET" (e.g. "cnv@fashion-mnist"). Measured on MNIST
# (bench/bench_train.py): the small MLPs overfit with 2-bit weights but are capacity-bound
# with 1 bit, so w1a1 drops label smoothing; +-1 px shifts suit the 64-unit TFC, +-2 px the
# wider ones. Epoch counts keep each default run well under 15 minutes on 2 shared cores.
RECIPES: dict[str, dict] = {
    "tfc": dict(epochs=40, shift=1, label_smoothing=0.1),
    "sfc": dict(epochs=60, shift=2, label_smoothing=0.1),
    "lfc": dict(epochs=10, shift=2, label_smoothing=0.1, dropout=0.1),
    # CNNs: 57 s wall per epoch on 2 free cores with 2 threads (cnv, batch 128; 100 CPU-s), measured
    # by bench/bench_train.py: cnv-w2a2's 5 epochs on MNIST took 570 CPU-s (test 0.9934). On
    # Fashion-MNIST 13 epochs is what fits 15 minutes: cnv-w2a2 0.9151 in 842 s, cnv-w1a1 0.8885 in
    # 780 s (16 epochs: 0.9204 and 0.8887, but cnv-w2a2's training alone took 927 s; 8: 0.9124, 0.8769)
    "cnv": dict(epochs=5, shift=2, label_smoothing=0.1),
    # residual CNN, aimed at Fashion-MNIST (bench/bench_train.py): resnet-w4a4 0.9282, w2a2 0.9090;
    # +-1 px shifts with mirrors gave w2a2 0.9099, no real gain, so the plain recipe stays
    "resnet": dict(epochs=10, shift=2, label_smoothing=0.1),
    "mobilenet": dict(epochs=5, shift=2, label_smoothing=0.1),  # depthwise-separable CNN (models/mobilenet.py)
    # clothes: mirror images are clothes too, and +-1 px shifts beat +-2 px in short runs
    "cnv@fashion-mnist": dict(epochs=13, shift=1, hflip=0.5),
    "w1a1": dict(label_smoothing=0.0),
    # `FAMILY-float` (qloom train --float): real-valued weights need a smaller LR than latent
    # [-1, 1] ones, and converge in a few epochs
    "float": dict(epochs=10, lr=3e-3, label_smoothing=0.0),
}


def default_recipe(model_name: str, dataset: str = "mnist", **overrides) -> Recipe:
    """The default recipe of a zoo model; `overrides` (non-None) replace fields."""
    parts = model_name.split("-")
    fields: dict = {}
    keys = (parts[0], parts[-1] if len(parts) > 1 else None, model_name)
    for key in (*keys, *(f"{k}@{dataset}" for k in keys if k)):  # then the per-dataset entries
        fields.update(RECIPES.get(key, {}) if key else {})
    if dataset == "digits":  # 8x8 images: a 2-pixel shift would destroy them
        fields["shift"] = min(fields.get("shift", 2), 1)
    fields.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Recipe(**fields)
    except TypeError as exc:
        raise QloomError(f"bad training option: {exc}") from None


def set_threads(threads: int | None = None) -> int:
    """One intra-op thread by default: as fast for the MLPs, bit-reproducible, and on a shared
    machine extra threads oversubscribe the CPU (measured 10-20x slower steps under load)."""
    n = threads or 1
    torch.set_num_threads(n)
    return n


# ------------------------------------------------------------------------------ batches


def shift_images(x: torch.Tensor, max_shift: int, gen: torch.Generator) -> torch.Tensor:
    """Shift each uint8 image (N,H,W) by random integers in [-max_shift, max_shift], zero fill."""
    if max_shift <= 0:
        return x
    n, h, w = x.shape
    s = max_shift
    padded = torch.zeros((n, h + 2 * s, w + 2 * s), dtype=x.dtype)
    padded[:, s : s + h, s : s + w] = x
    dy = torch.randint(0, 2 * s + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * s + 1, (n,), generator=gen)
    rows = (dy[:, None] + torch.arange(h))[:, :, None]
    cols = (dx[:, None] + torch.arange(w))[:, None, :]
    return padded[torch.arange(n)[:, None, None], rows, cols]


def warp_images(x: torch.Tensor, rotate: float, scale: float, gen: torch.Generator) -> torch.Tensor:
    """Random rotation/zoom of uint8 images (N,H,W) about their centre, nearest-pixel sampling:
    every output pixel is a copy of an input pixel (or 0 outside), so bytes stay exact."""
    if rotate <= 0 and scale <= 0:
        return x
    n = x.shape[0]
    angle = (torch.rand(n, generator=gen) * 2 - 1) * math.radians(rotate)
    zoom = 1 + (torch.rand(n, generator=gen) * 2 - 1) * scale
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos, -sin, torch.zeros(n)], 1), torch.stack([sin, cos, torch.zeros(n)], 1)], 1)
    grid = nn.functional.affine_grid(theta, (n, 1, *x.shape[1:]), align_corners=False)
    out = nn.functional.grid_sample(x[:, None].float(), grid, mode="nearest", padding_mode="zeros", align_corners=False)
    return out[:, 0].round().to(torch.uint8)


def flip_images(x: torch.Tensor, p: float, gen: torch.Generator) -> torch.Tensor:
    """Mirror each uint8 image (N,H,W) left-right with probability `p` (a permutation of pixels)."""
    if p <= 0:
        return x
    mask = torch.rand(x.shape[0], generator=gen) < p
    return torch.where(mask[:, None, None], x.flip(-1), x)


def accuracy(model: nn.Module, images: np.ndarray, labels: np.ndarray, batch_size: int = 1000) -> float:
    """Top-1 accuracy (fraction) of `model` in eval mode on uint8 images."""
    was_training = model.training
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(labels), batch_size):
            logits = model(data.to_model_input(images[i : i + batch_size]))
            correct += int((logits.argmax(1).numpy() == labels[i : i + batch_size]).sum())
    model.train(was_training)
    return correct / max(1, len(labels))


# ------------------------------------------------------------------------------ training


@dataclass
class TrainResult:
    """Outcome of train_model; `model` holds the best-on-validation weights."""

    model: nn.Module
    best_epoch: int
    val_accuracy: float
    epochs: int
    train_seconds: float
    history: list = field(default_factory=list)


def _param_groups(model: nn.Module, weight_decay: float):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (decay if p.dim() > 1 else no_decay).append(p)  # matrices/kernels vs BN/bias/scales
    return [dict(params=decay, weight_decay=weight_decay), dict(params=no_decay, weight_decay=0.0)]


# What each use of a checkpoint reads: continuing a run needs the whole training state;
# rebuilding the model needs its name, constructor arguments and weights.
RESUME_KEYS = ("model", "optimizer", "scheduler", "log_temp", "gen_state", "torch_rng", "epoch", "best_acc",
               "best_epoch", "best_state", "history", "train_seconds", "recipe", "seed", "limit_train",
               "limit_eval", "model_name", "dataset")
MODEL_KEYS = ("model_name", "model_kwargs", "model", "best_state")


def load_checkpoint(path, keys: tuple[str, ...] = ()) -> dict:
    """Read a qloom checkpoint (plain tensors and containers only: weights_only loading) and
    check that it has `keys`."""
    path = Path(path)
    if path.is_dir():
        raise QloomError(f"checkpoint {path} is a folder, not a file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt, truncated or foreign file
        first = (str(exc).strip().splitlines() or [""])[0]
        raise QloomError(f"cannot read checkpoint {path}: {exc.__class__.__name__}: {first}") from None
    if not isinstance(state, dict):
        raise QloomError(f"{path} is not a qloom checkpoint (holds a {type(state).__name__}, not a dict)")
    missing = [k for k in keys if k not in state]
    if missing:
        raise QloomError(f"checkpoint {path} lacks {', '.join(missing)}: it was not written by this "
                         "version of `qloom train`; start a fresh run (without --resume) in another folder")
    return state


def _bad_checkpoint(path, exc: Exception) -> QloomError:
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    return QloomError(f"checkpoint {path} does not fit this model/run ({type(exc).__name__}: {first}); "
                      "start a fresh run (without --resume) in another folder")


def _write_bytes(path: Path, data: bytes) -> None:
    """Write through a temporary name; a failed write (full disk) leaves neither file behind
    and names the path (a failed write() itself carries no file name)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror or str(exc), str(exc.filename or path)) from None


def _atomic_torch_save(obj, path: Path) -> None:
    import io

    buf = io.BytesIO()  # torch.save on a full disk fails with an opaque RuntimeError: write ourselves
    torch.save(obj, buf)
    _write_bytes(path, buf.getvalue())


def train_model(
    model: nn.Module,
    dataset: str,
    recipe: Recipe,
    *,
    seed: int = 0,
    limit_train: int | None = None,
    limit_eval: int | None = None,
    checkpoint: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    checkpoint_meta: dict | None = None,
) -> TrainResult:
    """Train any Brevitas classifier (input: pixels/255, (N,1,H,W)) on `dataset`.

    After every epoch the model is scored on the validation split; the best epoch's weights
    are kept (ties go to the later epoch) and loaded into `model` at the end. With `checkpoint`,
    state is saved there after each epoch; `resume=True` continues from it.
    """
    from qloom.progress import bar as progress_bar

    train_x, train_y = data.load_dataset(dataset, "train")
    val_x, val_y = data.load_dataset(dataset, "val")
    if limit_train:
        train_x, train_y = train_x[:limit_train], train_y[:limit_train]
    if limit_eval:
        val_x, val_y = val_x[:limit_eval], val_y[:limit_eval]
    train_x_t = torch.from_numpy(np.array(train_x))
    train_y_t = torch.from_numpy(np.array(train_y))
    n = len(train_y_t)
    steps_per_epoch = max(1, math.ceil(n / recipe.batch_size))

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    # Loss temperature: logits are integer accumulators times a fixed scale, often large; a
    # learned scalar divides them inside the loss only (argmax, hence the exported model, is
    # unaffected). Initialised from the logit spread of the first batch.
    log_temp = torch.zeros((), requires_grad=True)
    groups = _param_groups(model, recipe.weight_decay) + [dict(params=[log_temp], weight_decay=0.0)]
    optimizer = torch.optim.AdamW(groups, lr=recipe.lr)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=[recipe.lr, recipe.bn_lr, recipe.bn_lr], total_steps=recipe.epochs * steps_per_epoch,
        pct_start=recipe.pct_start, anneal_strategy="cos",
    )
    criterion = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)

    start_epoch, best_acc, best_epoch, best_state = 0, -1.0, 0, None
    history: list = []
    seconds = 0.0
    ckpt_path = Path(checkpoint) if checkpoint else None
    resumed = resume and ckpt_path is not None and ckpt_path.is_file()
    if resumed:
        state = load_checkpoint(ckpt_path, RESUME_KEYS)
        try:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            with torch.no_grad():
                log_temp.copy_(state["log_temp"])
            gen.set_state(state["gen_state"])
            torch.set_rng_state(state["torch_rng"])
            start_epoch, best_acc, best_epoch = int(state["epoch"]), float(state["best_acc"]), int(state["best_epoch"])
            best_state, history, seconds = state["best_state"], list(state["history"]), float(state["train_seconds"])
        except (KeyError, RuntimeError, ValueError, TypeError, IndexError) as exc:
            raise _bad_checkpoint(ckpt_path, exc) from None
    else:
        with torch.no_grad():  # init temperature so that initial logits have unit spread
            model.train()
            probe = model(data.to_model_input(train_x_t[: min(n, 256)]))
            log_temp.fill_(math.log(float(probe.std()) + 1e-6))

    model.train()
    for epoch in range(start_epoch, recipe.epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=gen)
        bar = progress_bar(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{recipe.epochs}", unit="steps",
                           show=progress, leave=False, dynamic_ncols=True)
        loss_sum = 0.0
        for step in bar:
            idx = perm[step * recipe.batch_size : (step + 1) * recipe.batch_size]
            xb = shift_images(warp_images(train_x_t[idx], recipe.rotate, recipe.scale, gen), recipe.shift, gen)
            xb = flip_images(xb, recipe.hflip, gen)
            logits = model(data.to_model_input(xb))
            loss = criterion(logits / log_temp.exp(), train_y_t[idx])
            if not torch.isfinite(loss):  # diverged: every later step and the export would be NaN
                raise QloomError(f"training diverged: the loss is {loss.item()} at epoch {epoch + 1}, step {step + 1} "
                                 f"(lr {recipe.lr}); lower --lr and start again")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            if hasattr(model, "clip_weights"):
                model.clip_weights()
            loss_sum += loss.detach().item()
            if step % 20 == 0:
                bar.set_postfix(loss=f"{loss_sum / (step + 1):.3f}")
        bar.close()
        seconds += time.perf_counter() - t0
        val_acc = accuracy(model, val_x, val_y, recipe.eval_batch_size)
        model.train()
        history.append(dict(epoch=epoch + 1, loss=round(loss_sum / steps_per_epoch, 5), val_accuracy=val_acc))
        if val_acc >= best_acc:
            best_acc, best_epoch = val_acc, epoch + 1
            best_state = copy.deepcopy(model.state_dict())
        if progress:
            print(
                f"epoch {epoch + 1}/{recipe.epochs}: loss {loss_sum / steps_per_epoch:.4f} "
                f"val {val_acc:.4f} (best {best_acc:.4f} @ {best_epoch}) {seconds:.0f}s",
                file=sys.stderr,
            )
        if ckpt_path is not None:
            _atomic_torch_save(
                dict(
                    version=CHECKPOINT_VERSION, epoch=epoch + 1, model=model.state_dict(),
                    optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict(),
                    log_temp=log_temp.detach().clone(), gen_state=gen.get_state(),
                    torch_rng=torch.get_rng_state(), best_acc=best_acc, best_epoch=best_epoch,
                    best_state=best_state, history=history, train_seconds=seconds,
                    recipe=dataclasses.asdict(recipe), seed=seed, limit_train=limit_train,
                    limit_eval=limit_eval, **(checkpoint_meta or {}),
                ),
                ckpt_path,
            )
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return TrainResult(model, best_epoch, max(best_acc, 0.0), recipe.epochs, seconds, history)


# ------------------------------------------------------------------------------ the full job


def _check_writable(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise QloomError(f"output folder {out} is a file, not a folder: give another --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".qloom-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise QloomError(f"output folder {out} is not writable: {exc.strerror or exc}") from None


def train_zoo_model(
    model_name: str,
    dataset: str,
    out,
    *,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    weight_bits: int | None = None,
    act_bits: int | None = None,
    seed: int = 0,
    limit_train: int | None = None,
    limit_eval: int | None = None,
    resume: bool = False,
    threads: int | None = None,
    progress: bool = True,
    command: str | None = None,
    float_model: bool = False,
    **recipe_overrides,
) -> dict:
    """Train a zoo model with its default recipe; write OUT/{checkpoint.pt, model.onnx, metrics.json}.

    metrics.json is written last, so a folder with it is a finished run. Returns the metrics.
    `recipe_overrides` replace other Recipe fields (e.g. shift=0, label_smoothing=0).
    """
    from qloom.export import export_qonnx_model
    from qloom.models import build_model, float_name, parse_model_name

    if float_model:  # the family's float twin, input for `qloom quantize` (PTQ)
        if weight_bits is not None or act_bits is not None:
            raise QloomError("--float trains without quantizers: drop --weight-bits/--act-bits")
        name, w, a = float_name(model_name), None, None
    else:
        family, w, a = parse_model_name(model_name, weight_bits, act_bits)
        name = f"{family}-w{w}a{a}"
    if not isinstance(seed, int) or seed < 0:
        raise QloomError(f"the seed must be an integer >= 0, got {seed!r}")
    shape = data.input_shape(dataset)  # also validates the dataset name
    data.load_dataset(dataset, "test")  # fail early (missing dataset) before touching OUT
    recipe = default_recipe(name, dataset, epochs=epochs, batch_size=batch_size, lr=lr, **recipe_overrides)
    out = Path(out)
    _check_writable(out)
    ckpt = out / "checkpoint.pt"
    metrics_path = out / "metrics.json"
    if resume:
        if not ckpt.exists():
            raise QloomError(f"--resume: no checkpoint at {ckpt}")
        saved = load_checkpoint(ckpt, RESUME_KEYS)
        if saved.get("model_name") != name or saved.get("dataset") != dataset:
            raise QloomError(
                f"--resume: {ckpt} is for {saved.get('model_name')} on {saved.get('dataset')}, "
                f"not {name} on {dataset}"
            )
        try:
            recipe = Recipe(**saved["recipe"])
        except TypeError as exc:
            raise _bad_checkpoint(ckpt, exc) from None
        if epochs is not None and epochs != recipe.epochs:
            raise QloomError(
                f"--resume: {ckpt} was made for --epochs {recipe.epochs} (its LR schedule depends "
                "on it); resume without --epochs or start a fresh run"
            )
        seed, limit_train, limit_eval = saved["seed"], saved["limit_train"], saved["limit_eval"]
    for path in (ckpt, metrics_path):
        if path.is_dir():
            raise QloomError(f"{path} is a folder, not a file: move it away or give another --out")
    if metrics_path.exists():
        metrics_path.unlink()  # the folder must not look finished while this run is in progress
    n_threads = set_threads(threads)
    torch.manual_seed(seed)
    model_kwargs = dict(input_shape=shape, num_classes=data.num_classes(dataset), dropout=recipe.dropout)
    model = build_model(name, **model_kwargs)

    result = train_model(
        model, dataset, recipe, seed=seed, limit_train=limit_train, limit_eval=limit_eval,
        checkpoint=ckpt, resume=resume, progress=progress,
        checkpoint_meta=dict(model_name=name, dataset=dataset, model_kwargs=model_kwargs),
    )
    test_x, test_y = data.load_dataset(dataset, "test")
    if limit_eval:
        test_x, test_y = test_x[:limit_eval], test_y[:limit_eval]
    test_acc = accuracy(model, test_x, test_y, recipe.eval_batch_size)

    onnx_tmp = out / "model.onnx.tmp"
    try:
        export_qonnx_model(model, onnx_tmp, shape)
        os.replace(onnx_tmp, out / "model.onnx")
    except OSError as exc:  # onnx's writer gives no file name: name the file it was writing
        raise OSError(exc.errno, exc.strerror or str(exc), str(exc.filename or onnx_tmp)) from None
    finally:
        onnx_tmp.unlink(missing_ok=True)  # an export that failed (full disk, NaN weights) leaves nothing
    import brevitas

    metrics = dict(
        model=name, dataset=dataset, weight_bits=w, act_bits=a, float=float_model,
        test_accuracy=test_acc, val_accuracy=result.val_accuracy, best_epoch=result.best_epoch,
        epochs=recipe.epochs, train_seconds=round(result.train_seconds, 2), seed=seed,
        command=command or f"qloom train --model {name} --dataset {dataset} --out {out}",
        input_shape=list(shape), n_train=len(data.load_dataset(dataset, "train")[1][:limit_train]),
        limit_train=limit_train, limit_eval=limit_eval, threads=n_threads,
        recipe=dataclasses.asdict(recipe), history=result.history,
        versions=dict(torch=torch.__version__, brevitas=brevitas.__version__),
    )
    _write_bytes(metrics_path, (json.dumps(metrics, indent=2) + "\n").encode())
    return metrics


def load_trained(out) -> nn.Module:
    """Rebuild the zoo model of a `qloom train` folder with its chosen (best-on-val) weights."""
    from qloom.models import build_model

    path = Path(out) / "checkpoint.pt"
    if not path.exists():
        raise QloomError(f"no checkpoint at {path}: run `qloom train --out {out}` first")
    state = load_checkpoint(path, MODEL_KEYS)
    try:
        model = build_model(state["model_name"], **state["model_kwargs"])
        model.load_state_dict(state["best_state"] or state["model"])
    except (RuntimeError, ValueError, TypeError, KeyError) as exc:
        raise _bad_checkpoint(path, exc) from None
    model.eval()
    return model
