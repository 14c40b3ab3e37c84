"""Post-training quantization against quantization-aware training, at 8, 4 and 2 bits.

    python bench/bench_ptq.py                                  # sfc on MNIST: float 10 epochs, QAT 5 epochs
    python bench/bench_ptq.py --family tfc --qat-epochs 2 --limit-train 5000    # smoke run
    python bench/bench_ptq.py --reuse --ptq-options='--per-channel --weight-calib mse'   # other PTQ options

One float model (`qloom train --float`) is quantized by `qloom quantize` at each bit width
(w = a), once as plain PTQ and once with a short QAT fine-tuning from the PTQ result; the zoo's
QAT model of the same family is trained from scratch at the same bits. Each PTQ export is then
built (`--stop-after rtl`) and verified at level ir on the whole test set. Accuracies are test-set
fractions; times are wall seconds of the step (float training counted once, in its own row).
Every command is printed; the numbers come from the metrics.json / verify.json files.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from table import print_table  # noqa: E402


def qloom(*args: str) -> float:
    """Run one qloom command (printed), return its wall seconds; a failure stops the bench."""
    print("$ qloom", shlex.join(args), file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", "import sys; from qloom.cli import main; sys.exit(main())", *args])
    if proc.returncode not in (0, 1):  # 1: verify found mismatches (reported in the table)
        sys.exit(f"qloom {args[0]} failed with exit code {proc.returncode}")
    return time.perf_counter() - t0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--family", default="sfc")
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--bits", default="8,4,2")
    p.add_argument("--float-epochs", type=int, default=10)
    p.add_argument("--qat-epochs", type=int, default=5)
    p.add_argument("--finetune-epochs", type=int, default=2)
    p.add_argument("--limit-train", type=int)
    p.add_argument("--ptq-options", default="", help="extra `qloom quantize` flags, e.g. '--per-channel --act-calib mse'")
    p.add_argument("--reuse", action="store_true",
                   help="reuse finished float/QAT runs in --out-dir (compare PTQ options without retraining)")
    p.add_argument("--no-verify", action="store_true", help="skip building and verifying the PTQ exports")
    p.add_argument("--out-dir", default=str(Path(tempfile.gettempdir()) / "qloom-bench-ptq"))
    args = p.parse_args(argv)
    out = Path(args.out_dir)
    limit = ["--limit-train", str(args.limit_train)] if args.limit_train else []
    common = ["--dataset", args.dataset, "--quiet"]

    def train(folder: Path, *cmd: str) -> None:
        if args.reuse and (folder / "metrics.json").is_file():
            print(f"reusing {folder}", file=sys.stderr)
            return
        qloom("train", *cmd, "--out", str(folder), *limit, *common)

    fdir = out / f"{args.family}-float"
    train(fdir, "--model", args.family, "--float", "--epochs", str(args.float_epochs))
    fm = json.loads((fdir / "metrics.json").read_text())
    rows = [dict(bits="float", float_acc=f"{fm['test_accuracy']:.4f}", ptq_acc="", ptq_s="", ir_mismatches="",
                 ptq_ft_acc="", ptq_ft_s="", qat_acc="", qat_s=f"{fm['train_seconds']:.0f} (float train)")]
    for b in [int(v) for v in args.bits.split(",")]:
        pdir, ftdir, qdir = out / f"ptq-w{b}a{b}", out / f"ptq-ft-w{b}a{b}", out / f"{args.family}-w{b}a{b}"
        extra = args.ptq_options.split()
        t_ptq = qloom("quantize", str(fdir), "--bits", f"{b}/{b}", "--out", str(pdir), *extra, *common)
        pm = json.loads((pdir / "metrics.json").read_text())
        mismatches = ""
        if not args.no_verify:
            bdir = out / f"build-ptq-w{b}a{b}"
            qloom("build", str(pdir / "model.onnx"), "--out", str(bdir), "--stop-after", "rtl")
            n = "10000" if args.dataset in ("mnist", "fashion-mnist") else "360"
            qloom("verify", str(bdir), "--level", "ir", "--dataset", args.dataset, "--frames", n)
            ir = json.loads((bdir / "verify.json").read_text())["levels"]["ir"]
            per_layer = sum(v["mismatching_elements"] for v in ir["layers"].values())
            mismatches = f"{ir['mismatches']} frames ({per_layer} hidden elems)"
        qloom("quantize", str(fdir), "--bits", f"{b}/{b}", "--out", str(ftdir), "--finetune-epochs",
                     str(args.finetune_epochs), *extra, *limit, *common)
        ftm = json.loads((ftdir / "metrics.json").read_text())
        train(qdir, "--model", f"{args.family}-w{b}a{b}", "--epochs", str(args.qat_epochs))
        qm = json.loads((qdir / "metrics.json").read_text())
        rows.append(dict(bits=f"w{b}a{b}", float_acc=f"{pm['float_accuracy']:.4f}", ptq_acc=f"{pm['test_accuracy']:.4f}",
                         ptq_s=f"{pm['seconds']:.1f} ({t_ptq:.0f} wall)", ir_mismatches=mismatches,
                         ptq_ft_acc=f"{ftm['test_accuracy']:.4f}",
                         ptq_ft_s=f"{ftm['finetune']['train_seconds']:.0f} ({args.finetune_epochs} ep)",
                         qat_acc=f"{qm['test_accuracy']:.4f}", qat_s=f"{qm['train_seconds']:.0f} ({args.qat_epochs} ep)"))
    print_table(f"PTQ against QAT: {args.family} on {args.dataset} ({args.ptq_options or 'default PTQ options'})", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
