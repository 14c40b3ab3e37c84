"""Bench: IR simulator throughput vs qonnx execute_onnx, and streamline time, per model.

Models are briefly trained zoo models (`--epochs`, on a training subset) so the weights and
thresholds are realistic; throughput does not depend on accuracy. One run measures both.
Usage: python bench/bench_ir.py [--models tfc-w1a1 cnv-w2a2] [--batch 1000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).parent))
from table import print_table  # noqa: E402

from qloom import sim, streamline  # noqa: E402
from qloom.data import load_dataset, to_model_input  # noqa: E402
from qloom.train import train_zoo_model  # noqa: E402
from qloom.verify.ir import compare  # noqa: E402
from qloom.verify.reference import Reference  # noqa: E402


def bench_model(name: str, batch: int, work: Path) -> dict:
    out = work / name
    train_zoo_model(name, "mnist", out, epochs=1, limit_train=3000, limit_eval=500, seed=0, progress=False)
    t0 = time.perf_counter()
    graph = streamline.run(out / "model.onnx")
    t_streamline = time.perf_counter() - t0
    images, labels = load_dataset("mnist", "test")
    x_all = to_model_input(images).numpy()
    x = x_all[:batch]
    ref = Reference(out / "model.onnx")
    ref.run(x[:8])  # warm the per-batch model cache outside the timing
    t0 = time.perf_counter()
    ref.run(x, batch=batch)
    t_ref = time.perf_counter() - t0
    sim.execute(graph, x[:8])
    t0 = time.perf_counter()
    sim.execute(graph, x)
    t_ir = time.perf_counter() - t0
    t0 = time.perf_counter()
    sim.classify(graph, x_all)
    t_full = time.perf_counter() - t0
    check = compare(graph, ref, x, labels[:batch])
    return {
        "model": name,
        "streamline_s": f"{t_streamline:.2f}",
        f"ir_fps@{batch}": f"{batch / t_ir:,.0f}",
        f"qonnx_fps@{batch}": f"{batch / t_ref:,.0f}",
        "speedup": f"{t_ref / t_ir:.0f}x",
        "ir_10k_mnist_s": f"{t_full:.3f}",
        "mismatches": check["mismatches"],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--models", nargs="+", default=["tfc-w1a1", "tfc-w2a2", "cnv-w2a2"])
    p.add_argument("--batch", type=int, default=1000)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [bench_model(m, args.batch, Path(tmp)) for m in args.models]
    print_table("IR execution vs qonnx execute_onnx (python bench/bench_ir.py)", rows)


if __name__ == "__main__":
    main()
