"""RTL flow benchmark: generate -> lint -> Verilator build -> RTL simulation -> Yosys, per design.

    python bench/bench_rtl.py                      # hand-built graphs
    python bench/bench_rtl.py --model m.onnx       # a QONNX model through qloom.streamline
    python bench/bench_rtl.py --model m.onnx --target-cycles 1024 --frames 64 --no-synth

Times are wall seconds on this machine (2 shared cores); the Verilator build is measured
uncached (a fresh output directory per run). Resources are Yosys synth_xilinx estimates.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from table import print_table  # noqa: E402

from qloom.errors import QloomError  # noqa: E402
from qloom.ir import Graph, InputQuant, IntType, OutputSpec, Pool, PoolMode, SlidingWindow  # noqa: E402
from qloom.testing.layers import random_matvec  # noqa: E402
from qloom.verify import rtl  # noqa: E402


def _matvec(name, rng, in_shape, in_dtype, mh, *, wbits=2, out_bits=2, pe=1, simd=1, thresholds=True):
    return random_matvec(rng, name, in_shape, in_dtype, IntType(wbits, True), mh,
                         2 ** out_bits - 1 if thresholds else None, spread="exact", acc_with_zero=True, pe=pe, simd=simd)


def _inq(shape, dtype):
    return InputQuant(name="inq", in_shape=shape, in_dtype=dtype, scale=np.array(1 / dtype.max),
                      zero_point=np.array(0.0), out_type=dtype)


def _graph(name, layers):
    n = int(np.prod(layers[-1].out_shape))
    return Graph(name=name, layers=tuple(layers), output=OutputSpec(scale=np.ones(n), bias=np.zeros(n)))


def hand_graphs() -> list[Graph]:
    """A small MLP (64-32-32-10) and a small CNN (8x8x1, conv3x3x8, maxpool, conv3x3x8)."""
    rng = np.random.default_rng(0)
    u4, u2 = IntType(4, False), IntType(2, False)
    fc1 = _matvec("fc1", rng, (1, 1, 64), u4, 32, pe=4, simd=8)
    fc2 = _matvec("fc2", rng, (1, 1, 32), u2, 32, pe=4, simd=8)
    fc3 = _matvec("fc3", rng, (1, 1, 32), u2, 10, pe=2, simd=8, thresholds=False)
    mlp = _graph("mlp64", [_inq((1, 1, 64), u4), fc1, fc2, fc3])
    swg1 = SlidingWindow(name="swg1", in_shape=(8, 8, 1), in_dtype=u4, kernel=(3, 3))
    conv1 = _matvec("conv1", rng, swg1.out_shape, u4, 8, pe=4, simd=9)
    pool = Pool(name="pool", in_shape=conv1.out_shape, in_dtype=conv1.out_dtype, mode=PoolMode.MAX,
                kernel=(2, 2), stride=(2, 2), pe=2)
    swg2 = SlidingWindow(name="swg2", in_shape=pool.out_shape, in_dtype=pool.out_dtype, kernel=(3, 3), simd=2)
    conv2 = _matvec("conv2", rng, swg2.out_shape, pool.out_dtype, 8, pe=2, simd=8, thresholds=False)
    cnn = _graph("cnn8", [_inq((8, 8, 1), u4), swg1, conv1, pool, swg2, conv2])
    return [mlp, cnn]


def model_graph(path: str, target_cycles: int | None) -> Graph:
    from qloom import streamline

    graph = streamline.run(path)
    if target_cycles:
        from qloom.fold import finn_greedy_fold

        graph = finn_greedy_fold(graph, target_cycles)
    return graph


def _inputs(graph: Graph, n: int, rng) -> np.ndarray:
    iq = graph.input_quant
    h, w, c = iq.in_shape
    shape = tuple(graph.onnx_input_shape[1:]) if graph.onnx_input_shape else (c, h, w)
    return rng.random((n, *shape)).astype(np.float32)


def bench_one(graph: Graph, work: Path, frames: int, synth_on: bool) -> tuple[dict, dict | None]:
    from qloom.backends.rtl import generate

    out = work / graph.name
    t0 = time.perf_counter()
    generate(graph, out)
    t_gen = time.perf_counter() - t0
    t0 = time.perf_counter()
    warnings = rtl.lint(out)
    t_lint = time.perf_counter() - t0
    _, build = rtl.build_simulator(out)
    entry = rtl.verify_rtl(graph, out, _inputs(graph, frames, np.random.default_rng(1)), stall_prob=0.3)
    row = {
        "design": graph.name,
        "layers": len(graph.hardware_layers),
        "generate_s": f"{t_gen:.2f}",
        "lint_s": f"{t_lint:.2f}",
        "lint_warn": len(warnings),
        "verilate_s": f"{build['verilate_seconds']:.1f}",
        "cxx_s": f"{build['compile_seconds']:.1f}",
        "frames": entry["frames"],
        "mismatch": entry.get("mismatches"),
        "II": entry.get("cycles_per_frame"),
        "II_model": entry.get("cycles_per_frame_model"),
        "latency": entry.get("latency_cycles"),
        "sim_fps": f"{entry['sim_frames_per_second']:.0f}" if entry.get("sim_frames_per_second") else "-",
        "sim_cyc/s": f"{entry['sim_cycles_per_second'] / 1e6:.2f}M" if entry.get("sim_cycles_per_second") else "-",
        "ok": entry["passed"] if entry.get("error") is None else entry["error"][:60],
    }
    res_row = None
    if synth_on:
        from qloom import synth

        try:
            r = synth.synthesize(out)
        except QloomError as exc:  # one design's synthesis failing must not hide the other rows
            print(f"  {graph.name}: {str(exc).splitlines()[0]}\n    {str(exc).splitlines()[-1]}")
            return row, {"design": graph.name, "yosys_s": "failed"}
        t = r["total"]
        res_row = {"design": graph.name, "yosys_s": f"{r['seconds']:.1f}", "LUT": t["LUT"], "FF": t["FF"],
                   "CARRY4": t["CARRY4"], "LUTRAM": t["LUTRAM"], "SRL": t["SRL"], "BRAM18": t["BRAM18"],
                   "DSP": t["DSP48E1"]}
        for inst, lr in r["layers"].items():
            print(f"  {graph.name}/{inst} ({lr.get('layer', lr['module'])}): LUT {lr['LUT']} FF {lr['FF']} "
                  f"BRAM18 {lr['BRAM18']} DSP {lr['DSP48E1']}")
    return row, res_row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", default=[], help="QONNX model path (repeatable)")
    ap.add_argument("--target-cycles", type=int, default=None, help="fold models with FINN's SetFolding first")
    ap.add_argument("--frames", type=int, default=32, help="input frames per design")
    ap.add_argument("--no-synth", action="store_true", help="skip Yosys")
    ap.add_argument("--keep", type=Path, default=None, help="write designs here instead of a temp dir")
    args = ap.parse_args(argv)
    if not args.no_synth:
        from qloom import tools

        t0 = time.perf_counter()
        print(f"{tools.warm_yosys()} ready in {time.perf_counter() - t0:.1f} s (WASM compile excluded below)")
    graphs = [model_graph(p, args.target_cycles) for p in args.model] or hand_graphs()
    rows, res_rows = [], []
    with tempfile.TemporaryDirectory(prefix="bench_rtl_") as tmp:
        work = args.keep or Path(tmp)
        for g in graphs:
            row, res = bench_one(g, work, args.frames, not args.no_synth)
            rows.append(row)
            if res:
                res_rows.append(res)
    print_table("RTL flow: generate, lint, Verilator build, simulation", rows)
    if res_rows:
        print_table("Yosys synth_xilinx xc7 estimates (not Vivado)", res_rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
