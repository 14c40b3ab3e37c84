"""Accuracy against bit width (QAT, short training) for a model family, and the analysis page.

    python bench/bench_quant.py                               # tfc on MNIST, w = a in 1, 2, 4, 8, 5 epochs
    python bench/bench_quant.py --grid --epochs 3             # every (w, a) combination
    python bench/bench_quant.py --family sfc --bits 2,4,8 --limit-train 10000

Runs `qloom analyze --sweep FAMILY` (each point is an ordinary `qloom train` into
OUT/sweep/MODEL, plus the float twin), then analyzes the quantizers of the lowest-bit point
on the test set, and prints the sweep and per-quantizer SQNR tables. The page with both is
OUT/analysis.html.
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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--family", default="tfc")
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--bits", default="1,2,4,8")
    p.add_argument("--grid", action="store_true")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--limit-train", type=int)
    p.add_argument("--frames", type=int, default=1000, help="test images for the per-quantizer analysis")
    p.add_argument("--out-dir", default=str(Path(tempfile.gettempdir()) / "qloom-bench-quant"))
    args = p.parse_args(argv)
    out = Path(args.out_dir)
    low = min(int(b) for b in args.bits.split(","))
    analyzed = out / "sweep" / f"{args.family}-w{low}a{low}"
    # the sweep trains first, then the analysis reads the lowest-bit point it just trained
    cmd = ["analyze", "--sweep", args.family, "--sweep-bits", args.bits, "--sweep-epochs", str(args.epochs),
           "--dataset", args.dataset, "--out", str(out), "--quiet"]
    if args.grid:
        cmd.append("--sweep-grid")
    if args.limit_train:
        cmd += ["--sweep-limit-train", str(args.limit_train)]
    runs = [cmd, ["analyze", str(analyzed), "--dataset", args.dataset, "--frames", str(args.frames),
                  "--out", str(out / "analysis-lowest-bits"), "--quiet"]]
    for c in runs:
        print("$ qloom", shlex.join(c), file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", "import sys; from qloom.cli import main; sys.exit(main())", *c],
                              stdout=subprocess.DEVNULL)
        if proc.returncode:
            sys.exit(f"qloom analyze failed with exit code {proc.returncode}")
        print(f"  ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    sweep = json.loads((out / "analysis.json").read_text())["sweep"]
    print_table(f"Accuracy against bit width: {args.family} on {args.dataset}, {args.epochs} epochs",
                [dict(model=r["model"], weight_bits=r["weight_bits"] or "float", act_bits=r["act_bits"] or "float",
                      test_acc=f"{r['test_accuracy']:.4f}",
                      ptq_of_float=f"{r['ptq_accuracy']:.4f}" if r.get("ptq_accuracy") is not None else "",
                      val_acc=f"{r['val_accuracy']:.4f}",
                      train_s=f"{r['train_seconds']:.0f}") for r in sweep["rows"]])
    layers = json.loads((out / "analysis-lowest-bits" / "analysis.json").read_text())["layers"]

    def db(v):
        return "exact" if v is None else f"{v:.1f}"

    print_table(f"SQNR (dB) per quantizer of {analyzed.name}, {args.frames} test images",
                [dict(quantizer=l["name"], role=l["role"], bits=l["bits"], model=db(l["sqnr_db"]),
                      symmetric=db(l["symmetric"]["sqnr_db"]), asymmetric=db(l["asymmetric"]["sqnr_db"]),
                      clipped_pct=f"{100 * l['clip_fraction']:.2f}", where=l["where"]) for l in layers])
    print(f"\npages: {out}/analysis.html, {out}/analysis-lowest-bits/analysis.html")
    return 0


if __name__ == "__main__":
    sys.exit(main())
