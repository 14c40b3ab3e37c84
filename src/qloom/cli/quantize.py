"""`qloom quantize`: post-training quantization of a float model -> OUT/model.onnx + metrics.json."""

from __future__ import annotations

import shlex
import sys


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "quantize",
        help="post-training quantization (PTQ) of a float model, exported to QONNX",
        description="Quantize a float PyTorch model with Brevitas PTQ (calibration on training images, "
        "optional bias correction and QAT fine-tuning) and export it to QONNX for `qloom build`. "
        "The model is a `qloom train --float` folder (or its checkpoint.pt), or module:Class / "
        "path/to/file.py:Class (built without arguments, input pixel/256 of shape (N, 1, H, W)) "
        "with --state-dict. Writes OUT/model.onnx, OUT/metrics.json (float_accuracy, ptq_accuracy, "
        "test_accuracy, calibration) and OUT/checkpoint.pt.",
    )
    p.add_argument("source", metavar="FLOAT_CHECKPOINT_OR_MODULE_CLASS",
                   help="a `qloom train --float` folder or its checkpoint.pt, or module:Class / file.py:Class")
    p.add_argument("--state-dict", help="weights of a module:Class model (torch.save'd state_dict)")
    p.add_argument("--dataset", default="mnist", help="mnist, fashion-mnist, digits or idx:/path/to/dir")
    p.add_argument("--bits", default="8/8", help="weight/activation bits, 2..8 each (default 8/8)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--per-channel", action="store_true", help="one weight scale per output channel")
    p.add_argument("--pot-scales", action="store_true",
                   help="power-of-two scales (fixed point, as FINN): the float32 reference is exact")
    p.add_argument("--act-calib", default="percentile", choices=["percentile", "mse", "minmax"],
                   help="activation range observer (default percentile, 99.999th)")
    p.add_argument("--weight-calib", default="max", choices=["max", "mse"],
                   help="weight scale from max |w| (default) or the MSE-optimal clipping")
    p.add_argument("--percentile", type=float, default=99.999, help="high percentile of --act-calib percentile")
    p.add_argument("--merge-bn", action="store_true",
                   help="fold BatchNorm into the weights (default: keep it; the hardware folds it into thresholds)")
    p.add_argument("--bias-correction", action="store_true", help="correct each layer's mean output shift")
    p.add_argument("--calib-frames", type=int, default=1000, help="calibration images from the training split")
    p.add_argument("--finetune-epochs", type=int, default=0, help="QAT epochs starting from the PTQ result")
    p.add_argument("--finetune-lr", type=float, default=1e-3, help="peak LR of the fine-tuning")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit-train", type=int, help="fine-tune on the first N training images only (tests)")
    p.add_argument("--limit-eval", type=int, help="score on the first N val/test images only (tests)")
    p.add_argument("--threads", type=int, help="torch intra-op threads (default 1)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=run)


def run(args) -> int:
    from qloom.errors import QloomError
    from qloom.quantize import PTQConfig, parse_bits, ptq

    for flag in ("calib_frames", "limit_train", "limit_eval", "threads"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise QloomError(f"--{flag.replace('_', '-')} must be >= 1, got {value}")
    if args.finetune_epochs < 0 or not args.finetune_lr > 0:
        raise QloomError("--finetune-epochs must be >= 0 and --finetune-lr > 0")
    w, a = parse_bits(args.bits)
    cfg = PTQConfig(weight_bits=w, act_bits=a, per_channel=args.per_channel, pot_scales=args.pot_scales,
                    act_calib=args.act_calib, weight_calib=args.weight_calib,
                    percentile=args.percentile, bias_correction=args.bias_correction, merge_bn=args.merge_bn,
                    calib_frames=args.calib_frames, finetune_epochs=args.finetune_epochs,
                    finetune_lr=args.finetune_lr, seed=args.seed)
    m = ptq(args.source, args.dataset, args.out, cfg, state_dict=args.state_dict, limit_eval=args.limit_eval,
            limit_train=args.limit_train, threads=args.threads, progress=not args.quiet,
            command=shlex.join(["qloom", *sys.argv[1:]]) if sys.argv[1:2] == ["quantize"] else None)
    tuned = f", after {cfg.finetune_epochs} fine-tuning epochs {m['test_accuracy']:.4f}" if cfg.finetune_epochs else ""
    print(f"PTQ w{w}a{a} of {m['source']} on {m['dataset']}: float accuracy {m['float_accuracy']:.4f}, "
          f"PTQ {m['ptq_accuracy']:.4f}{tuned} ({m['seconds']:.0f} s) -> {args.out}/model.onnx")
    return 0
