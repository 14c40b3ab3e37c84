"""Bench: IR simulator (the golden model) frames/s vs qonnx execute_onnx on the same inputs.

One run, one row per (model, batch): IR frames/s and time per frame (which must not grow
with the batch: the simulator runs cache-sized chunks), qonnx frames/s and the ratio, plus
the mismatches of `qloom.verify.ir.compare` on the first frames (the speed is of exact
results). IR and qonnx timings alternate, so both see the same load of a shared machine.
The IR runs on one thread, so its thread CPU time per frame is also shown: on a loaded machine a
long run is preempted where a short one may not be, which inflates only the wall time.
Models are zoo models with random weights whose BatchNorm statistics are calibrated on 512
MNIST training images (seconds, no training): throughput does not depend on accuracy;
`--train` trains them briefly instead (one epoch on 3000 images). Every timing is the best of
`--repeat` runs (the machine may be shared). Usage:
  python bench/bench_ir.py [--cases tfc-w1a1:1000 tfc-w1a1:10000 cnv-w2a2:1000 cnv-w1a1:1000 mobilenet-w4a4:1000]
(mobilenet: the depthwise-separable zoo model, its depthwise convs as DepthwiseMatVec layers).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from table import print_table  # noqa: E402

from qloom import sim, streamline  # noqa: E402
from qloom.data import load_dataset, to_model_input  # noqa: E402
from qloom.verify.ir import compare  # noqa: E402
from qloom.verify.reference import Reference  # noqa: E402

CASES = ["tfc-w1a1:1000", "tfc-w1a1:10000", "cnv-w2a2:1000", "cnv-w1a1:1000", "mobilenet-w4a4:1000"]


def make_model(name: str, work: Path, train: bool) -> Path:
    """A QONNX zoo model: random weights with calibrated BN statistics (or briefly trained)."""
    out = work / name
    if train:
        from qloom.train import train_zoo_model

        train_zoo_model(name, "mnist", out, epochs=1, limit_train=3000, limit_eval=500, seed=0, progress=False)
        return out / "model.onnx"
    import torch

    from qloom.export import export_qonnx_model
    from qloom.models import build_model

    torch.manual_seed(0)
    model = build_model(name, input_shape=(1, 28, 28), num_classes=10)
    images, _ = load_dataset("mnist", "train")
    x = to_model_input(images[:512])
    model.train()  # BN running statistics from real images, so the thresholds are realistic
    with torch.no_grad():
        for i in range(0, len(x), 128):
            model(x[i:i + 128])
    return export_qonnx_model(model, out / "model.onnx", (1, 28, 28))


def best_time(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def bench_case(name: str, batch: int, path: Path, graph, x_all, labels, repeat: int) -> dict:
    x = x_all[:batch]
    ref = Reference(path)
    ref.run(x[:8], batch=8)  # build the per-batch models outside the timing
    ref._model_for(batch)
    sim.execute(graph, x[:8])
    t_ir, t_ref, cpu_ir = float("inf"), float("inf"), float("inf")
    for _ in range(repeat):  # interleaved, so both see the same load of the shared machine
        c0 = time.thread_time()
        t_ir = min(t_ir, best_time(lambda: sim.execute(graph, x), 1))
        cpu_ir = min(cpu_ir, time.thread_time() - c0)
        t_ref = min(t_ref, best_time(lambda: ref.run(x, batch=batch), 1))
    check = compare(graph, ref, x[:500], labels[:500])
    return {
        "model": name,
        "batch": batch,
        "ir_fps": f"{batch / t_ir:,.0f}",
        "ir_us/frame": f"{t_ir / batch * 1e6:.1f}",
        "ir_cpu_us/frame": f"{cpu_ir / batch * 1e6:.1f}",
        "qonnx_fps": f"{batch / t_ref:,.0f}",
        "ir/qonnx": f"{t_ref / t_ir:.1f}x",
        "mismatches@500": check["mismatches"],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", nargs="+", default=CASES, help="MODEL:BATCH pairs")
    p.add_argument("--repeat", type=int, default=3, help="timings are the best of this many runs")
    p.add_argument("--train", action="store_true", help="train the models briefly instead of random weights")
    args = p.parse_args()
    load0 = ", ".join(f"{v:.1f}" for v in os.getloadavg())  # a shared machine: the IR's wall time includes preemption
    images, labels = load_dataset("mnist", "test")
    x_all = to_model_input(images).numpy()
    rows, full = [], []
    with tempfile.TemporaryDirectory() as tmp:
        models: dict = {}
        for case in args.cases:
            name, _, batch = case.partition(":")
            if name not in models:
                path = make_model(name, Path(tmp), args.train)
                t0 = time.perf_counter()
                graph = streamline.run(path)
                t_streamline = time.perf_counter() - t0
                models[name] = (path, graph)
                t_cls = best_time(lambda: sim.classify(graph, x_all), min(args.repeat, 2))
                full.append({"model": name, "streamline_s": f"{t_streamline:.2f}",
                             "ir_10k_mnist_s": f"{t_cls:.2f}", "ir_10k_fps": f"{len(x_all) / t_cls:,.0f}"})
            rows.append(bench_case(name, int(batch or 1000), *models[name], x_all, labels, args.repeat))
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print_table(f"IR vs qonnx execute_onnx, same inputs, best of {args.repeat} (python bench/bench_ir.py; "
                f"load average at the end {load}, at the start {load0})", rows)
    print_table("IR on the whole 10k MNIST test set (sim.classify)", full)


if __name__ == "__main__":
    main()
