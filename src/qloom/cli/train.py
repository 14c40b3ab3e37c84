"""`qloom train`: QAT of a zoo model with its default recipe -> OUT/model.onnx + metrics.json."""

from __future__ import annotations

import math
import shlex

from qloom.cli.verify import MAX_SEED  # one seed range for every command


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a zoo model (QAT) and export it to QONNX",
        description="Train a zoo model with its default recipe, choose the epoch on the validation "
        "split, report test accuracy, write OUT/model.onnx (QONNX), OUT/metrics.json and "
        "OUT/checkpoint.pt.",
    )
    p.add_argument("--model", required=True, help="zoo model, e.g. tfc-w1a1, sfc-w2a2, lfc-w1a1, cnv-w2a2")
    p.add_argument("--dataset", default="mnist", help="mnist, fashion-mnist, digits or idx:/path/to/dir")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--epochs", type=int, help="number of epochs (default: per-model recipe)")
    p.add_argument("--batch-size", type=int, help="batch size (default: per-model recipe)")
    p.add_argument("--lr", type=float, help="peak learning rate (default: per-model recipe)")
    p.add_argument("--weight-bits", type=int, help="override the weight bit width of --model (1, 2, 4, 8)")
    p.add_argument("--act-bits", type=int, help="override the activation bit width of --model (1, 2, 4, 8)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--limit-train", type=int, help="train on the first N training images only (tests)")
    p.add_argument("--limit-eval", type=int, help="score on the first N val/test images only (tests)")
    p.add_argument("--threads", type=int, help="torch intra-op threads (default 1: reproducible, best on a shared CPU)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=run)


def _command(args) -> str:
    """The equivalent command line (recorded in metrics.json to reproduce the run)."""
    words = ["qloom", "train", "--model", args.model, "--dataset", args.dataset, "--out", str(args.out)]
    for flag in ("epochs", "batch_size", "lr", "weight_bits", "act_bits", "seed", "limit_train", "limit_eval", "threads"):
        value = getattr(args, flag)
        if value is not None and not (flag == "seed" and value == 0):
            words += [f"--{flag.replace('_', '-')}", str(value)]
    if args.resume:
        words.append("--resume")
    return shlex.join(words)


def run(args) -> int:
    from qloom.errors import QloomError
    from qloom.train import train_zoo_model

    for flag in ("epochs", "batch_size", "limit_train", "limit_eval", "threads"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise QloomError(f"--{flag.replace('_', '-')} must be >= 1, got {value}")
    if args.lr is not None and not (math.isfinite(args.lr) and args.lr > 0):
        raise QloomError(f"--lr must be a finite number > 0, got {args.lr}")
    if not 0 <= args.seed <= MAX_SEED:
        raise QloomError(f"--seed must be in 0..{MAX_SEED}, got {args.seed}")
    command = _command(args)
    metrics = train_zoo_model(
        args.model, args.dataset, args.out, epochs=args.epochs, batch_size=args.batch_size,
        lr=args.lr, weight_bits=args.weight_bits, act_bits=args.act_bits, seed=args.seed,
        limit_train=args.limit_train, limit_eval=args.limit_eval, resume=args.resume,
        threads=args.threads, progress=not args.quiet, command=command,
    )
    print(
        f"{metrics['model']} on {metrics['dataset']}: test accuracy {metrics['test_accuracy']:.4f} "
        f"(val {metrics['val_accuracy']:.4f}, best epoch {metrics['best_epoch']}/{metrics['epochs']}, "
        f"{metrics['train_seconds']:.0f} s) -> {args.out}/model.onnx"
    )
    return 0
