"""Train the zoo's default recipes with `qloom train` and print what they reach.

    python bench/bench_train.py                      # tfc-w1a1, tfc-w2a2, sfc-w2a2, cnv-w2a2 on MNIST,
                                                     # cnv-w2a2, cnv-w1a1, resnet-w2a2, resnet-w4a4
                                                     # on Fashion-MNIST
    python bench/bench_train.py --threads 2 --models cnv-w2a2@fashion-mnist   # one model, 2 threads
    python bench/bench_train.py --models tfc-w1a1 --epochs 2 --limit-train 5000   # smoke run
    python bench/bench_train.py --models resnet-w2a2@fashion-mnist                # MODEL@DATASET

Each model runs as its own `qloom train` process (the exact command is in the table); results
come from OUT/metrics.json. Accuracies are fractions on the 10k test set, with the epoch chosen
on the 5k validation split. Times depend on how busy the (shared) CPU is: beside the wall
times the table gives the training process' CPU seconds (user + system, all threads) and the
1-minute load average at its start and end, so a time measured on a busy machine can be judged.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from table import print_table  # noqa: E402

# MODEL or MODEL@DATASET (without @: --dataset); the residual family's target is Fashion-MNIST
DEFAULT_MODELS = ["tfc-w1a1", "tfc-w2a2", "sfc-w2a2", "cnv-w2a2", "cnv-w2a2@fashion-mnist",
                  "cnv-w1a1@fashion-mnist", "resnet-w2a2@fashion-mnist", "resnet-w4a4@fashion-mnist"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=DEFAULT_MODELS)
    p.add_argument("--dataset", default="mnist", help="for the models given without @DATASET")
    p.add_argument("--out-dir", default=str(Path(tempfile.gettempdir()) / "qloom-bench-train"),
                   help="one sub-folder per model (default: $TMPDIR/qloom-bench-train)")
    p.add_argument("--epochs", type=int, help="override the recipes' epochs (smoke runs)")
    p.add_argument("--limit-train", type=int, help="train on a subset (smoke runs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, help="torch intra-op threads of each run (default: qloom train's)")
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
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        print("$", shlex.join(cmd), file=sys.stderr, flush=True)
        t0, load0 = time.perf_counter(), os.getloadavg()[0]
        used0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        run = [sys.executable, "-c", "import sys; from qloom.cli import main; sys.exit(main())", *cmd[1:]]
        # idle OpenMP threads sleep instead of spinning: on a shared CPU spinning only burns the
        # time slices (and inflates the CPU seconds) of the run itself
        env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
        proc = subprocess.run(run, stdout=subprocess.PIPE, text=True, env=env)
        wall = time.perf_counter() - t0
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = f"{used.ru_utime + used.ru_stime - used0.ru_utime - used0.ru_stime:.0f}"
        load = f"{load0:.1f} / {os.getloadavg()[0]:.1f}"
        if proc.returncode != 0:
            rows.append(dict(model=model, dataset=dataset, epochs="-", train_seconds="-", val_accuracy="-",
                             test_accuracy=f"FAILED ({proc.returncode})", best_epoch="-", wall_seconds=f"{wall:.0f}",
                             cpu_seconds=cpu, load=load, command=shlex.join(cmd)))
            continue
        m = json.loads((out / "metrics.json").read_text())
        rows.append(dict(
            model=m["model"], dataset=m["dataset"], epochs=m["epochs"],
            train_seconds=f"{m['train_seconds']:.0f}", val_accuracy=f"{100 * m['val_accuracy']:.2f}%",
            test_accuracy=f"{100 * m['test_accuracy']:.2f}%", best_epoch=m["best_epoch"], wall_seconds=f"{wall:.0f}",
            cpu_seconds=cpu, load=load, command=shlex.join(cmd),
        ))
    print_table("qloom train default recipes", rows)
    return 0 if all("FAILED" not in r["test_accuracy"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
