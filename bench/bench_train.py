"""Train the zoo's default recipes with `qloom train` and print what they reach.

    python bench/bench_train.py                      # tfc-w1a1, tfc-w2a2, sfc-w2a2, cnv-w2a2 on MNIST,
                                                     # resnet-w2a2, resnet-w4a4 on Fashion-MNIST
    python bench/bench_train.py --models tfc-w1a1 --epochs 2 --limit-train 5000   # smoke run
    python bench/bench_train.py --models resnet-w2a2@fashion-mnist                # MODEL@DATASET

Each model runs as its own `qloom train` process (the exact command is in the table); results
come from OUT/metrics.json. Accuracies are fractions on the 10k test set, with the epoch chosen
on the 5k validation split. Times depend on how busy the (shared) CPU is.
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

# MODEL or MODEL@DATASET (without @: --dataset); the residual family's target is Fashion-MNIST
DEFAULT_MODELS = ["tfc-w1a1", "tfc-w2a2", "sfc-w2a2", "cnv-w2a2", "resnet-w2a2@fashion-mnist",
                  "resnet-w4a4@fashion-mnist"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=DEFAULT_MODELS)
    p.add_argument("--dataset", default="mnist", help="for the models given without @DATASET")
    p.add_argument("--out-dir", default=str(Path(tempfile.gettempdir()) / "qloom-bench-train"),
                   help="one sub-folder per model (default: $TMPDIR/qloom-bench-train)")
    p.add_argument("--epochs", type=int, help="override the recipes' epochs (smoke runs)")
    p.add_argument("--limit-train", type=int, help="train on a subset (smoke runs)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    rows = []
    for spec in args.models:
        model, _, dataset = spec.partition("@")
        dataset = dataset or args.dataset
        out = Path(args.out_dir) / f"{model}-{dataset.replace('/', '_').replace(':', '_')}"
        cmd = ["qloom", "train", "--model", model, "--dataset", dataset, "--out", str(out), "--seed", str(args.seed)]
        if args.epochs:
            cmd += ["--epochs", str(args.epochs)]
        if args.limit_train:
            cmd += ["--limit-train", str(args.limit_train)]
        print("$", shlex.join(cmd), file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        run = [sys.executable, "-c", "import sys; from qloom.cli import main; sys.exit(main())", *cmd[1:]]
        proc = subprocess.run(run, stdout=subprocess.PIPE, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            rows.append(dict(model=model, dataset=dataset, epochs="-", train_seconds="-", val_accuracy="-",
                             test_accuracy=f"FAILED ({proc.returncode})", wall_seconds=f"{wall:.0f}", command=shlex.join(cmd)))
            continue
        m = json.loads((out / "metrics.json").read_text())
        rows.append(dict(
            model=m["model"], dataset=m["dataset"], epochs=m["epochs"],
            train_seconds=f"{m['train_seconds']:.0f}", val_accuracy=f"{100 * m['val_accuracy']:.2f}%",
            test_accuracy=f"{100 * m['test_accuracy']:.2f}%", wall_seconds=f"{wall:.0f}", command=shlex.join(cmd),
        ))
    print_table("qloom train default recipes", rows)
    return 0 if all("FAILED" not in r["test_accuracy"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
