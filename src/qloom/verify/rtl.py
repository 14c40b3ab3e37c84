"""RTL verification: stream frames through the generated top in Verilator and compare with the IR.

The generator (`qloom.backends.rtl.generate`) writes `design.json` beside the Verilog; it
names the top, the files in compile order and both AXI-Stream ports. One C++ bench
(`tb/tb_stream.cpp`) serves every design: it runs a randomized-backpressure phase for
correctness and a stall-free phase for the steady-state II and the latency. The compiled
simulator is cached per design (hash of the sources and flags), so re-verification with new
inputs or new .mem contents ($readmemh runs at simulation start) does not rebuild.
"""

from __future__ import annotations

import json
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from qloom import packing, progress, sim
from qloom.backends.rtl.out_kind import with_out_kind
from qloom.errors import QloomError
from qloom.ir.graph import Graph
from qloom.verify import simbuild

II_TOLERANCE = 0.02  # the bar: measured steady-state II within 2% of the cycle model


def load_design(rtl_dir: str | Path) -> dict:
    """design.json with its DMA ports checked (`in_port`/`out_port`: the "dma" entries that
    `qloom.packing` reads) and the source files checked."""
    rtl_dir = Path(rtl_dir)
    path = rtl_dir / "design.json"
    if not path.is_file():
        raise QloomError(f"{rtl_dir} has no design.json: generate the RTL first (qloom build)")
    from qloom.artifacts import read_json

    design = read_json(path, fix="regenerate the RTL (qloom build)")
    missing = [f for f in design.get("files", []) if not (rtl_dir / f).is_file()]
    if missing or not design.get("files"):
        raise QloomError(f"{path}: source files missing: {missing or 'none listed'}")
    dma = design.get("dma")
    if not isinstance(dma, dict) or not all(isinstance(dma.get(k), dict) for k in ("in", "out")):
        raise QloomError(f"{path} has no DMA port description ('dma'): regenerate the RTL with this qloom")
    for side in ("in", "out"):
        try:
            packing.bytes_per_frame(dma[side])
            tuple(int(x) for x in dma[side]["shape"])
        except (QloomError, KeyError, TypeError, ValueError) as exc:
            raise QloomError(f"{path} 'dma.{side}': {exc}") from None
    design["in_port"], design["out_port"] = dma["in"], dma["out"]
    return design


def _shape(port: dict) -> tuple[int, ...]:
    return tuple(int(x) for x in port["shape"])


def batch_lengths(n: int, seed: int) -> list[int]:
    """Frames per TLAST batch for a run of n frames: a single frame first, then random
    batches of 1 to 5 frames (the bench raises s_axis_tlast on each batch's last word)."""
    rng = np.random.default_rng(seed + 7919)
    sizes, left = [], n
    while left > 0:
        b = 1 if not sizes else int(rng.integers(1, 6))
        sizes.append(min(b, left))
        left -= sizes[-1]
    return sizes


def _batch_file(path: Path, sizes: list[int]) -> None:
    """One 0/1 per frame: whether its last input word carries TLAST."""
    flags = np.zeros(sum(sizes), dtype=np.uint8)
    flags[np.cumsum(sizes) - 1] = 1
    path.write_text("".join(f"{f}\n" for f in flags))


def _sources(rtl_dir: Path, design: dict) -> list[Path]:
    return [(rtl_dir / f).resolve() for f in design["files"]]


def build_simulator(rtl_dir: str | Path, *, cache_dir: str | Path | None = None, jobs: int = 2) -> tuple[Path, dict]:
    """The compiled bench for the design in `rtl_dir` (cached in rtl_dir/sim_build by default)."""
    rtl_dir = Path(rtl_dir).resolve()
    design = load_design(rtl_dir)
    return simbuild.build(rtl_dir, design["top"], _sources(rtl_dir, design),
                          cache_dir=Path(cache_dir) if cache_dir else None, jobs=jobs)


def lint(rtl_dir: str | Path) -> list[str]:
    """`verilator --lint-only -Wall` warnings of the design in `rtl_dir`."""
    rtl_dir = Path(rtl_dir).resolve()
    design = load_design(rtl_dir)
    return simbuild.lint(rtl_dir, design["top"], _sources(rtl_dir, design))


def steady_ii(timing: np.ndarray) -> float:
    """Cycles per frame from output-frame completion times over the second half of the run.

    The first half absorbs the pipeline fill; a stall-free dataflow pipeline then emits one
    frame per bottleneck II, so the mean spacing of `out_last` is the steady-state II.
    """
    out_last = timing[:, 3].astype(np.int64)
    k0 = len(out_last) // 2
    if len(out_last) - 1 - k0 < 1:
        raise QloomError("need at least 3 steady frames to measure the II")
    return float(out_last[-1] - out_last[k0]) / (len(out_last) - 1 - k0)


class SimulationHang(QloomError):
    """The simulator ran but the design stopped moving words (the bench's exit code 3):
    a failed verification of the design, unlike a simulator that cannot build or run."""


def _check_memories(rtl_dir: Path, design: dict) -> None:
    """Every memory image design.json names must be a file: Verilator only warns on a missing
    one and simulates random contents."""
    for name in design.get("mem_files", []):
        path = rtl_dir / name
        if path.is_dir():
            raise QloomError(f"memory image {path} is a folder, not a file: rebuild the RTL (qloom build)")
        if not path.is_file():
            raise QloomError(f"memory image {path} is missing: rebuild the RTL (qloom build)")


def _check_run(res: subprocess.CompletedProcess, rtl_dir: Path) -> None:
    """A simulator that crashed, failed or complained (e.g. an unreadable $readmemh file) is an
    error carrying its message; only a hang (exit 3) is the design's fault."""
    text = "\n".join(t.strip() for t in (res.stdout, res.stderr) if t and t.strip())
    complaints = [ln.strip() for ln in text.splitlines() if ln.startswith(("%Error", "%Warning", "%Fatal"))]
    if res.returncode == 3:
        raise SimulationHang(f"RTL simulation of {rtl_dir}: {text[-2000:]}")
    if res.returncode < 0:
        try:
            how = f"killed by {signal.Signals(-res.returncode).name}"
        except ValueError:
            how = f"killed by signal {-res.returncode}"
        raise QloomError(f"RTL simulation of {rtl_dir} {how}: {text[-500:] or 'no output'}")
    if res.returncode != 0 or complaints:
        why = "; ".join(complaints) or text[-500:] or "no output"
        raise QloomError(f"RTL simulation of {rtl_dir} failed (exit {res.returncode}): {why}")


def _check_counts(rtl_dir: Path, runs: dict) -> None:
    """Each result holds the frames asked for: a short file must not look like fewer frames."""
    for what, (got, want) in runs.items():
        if len(got) != want:
            raise QloomError(f"RTL simulation of {rtl_dir}: the {what} results hold {len(got)} frames, expected {want}")


def run_rtl(rtl_dir: str | Path, int_frames: np.ndarray, *, seed: int = 0, stall_prob: float = 0.3,
            steady_frames: int = 16, timeout_cycles: int | None = None, cache_dir: str | Path | None = None) -> dict:
    """Run integer frames (N, H, W, C) of the first hardware layer's input through the RTL.

    Returns `outputs` (N, ...) from the randomized-backpressure run, `steady_outputs`
    (steady_frames, ...) from the stall-free run (input frame i % N), `cycles_per_frame`
    (steady state, stall-free), `latency_cycles` (frame 0 of the stall-free run, pipeline
    empty: first input word accepted to last output word), protocol checks and timings.
    """
    rtl_dir = Path(rtl_dir).resolve()
    design = load_design(rtl_dir)
    pin, pout = design["in_port"], design["out_port"]
    frames = np.asarray(int_frames)
    per_frame = int(np.prod(_shape(pin)))
    # A dense first layer takes the whole channels-last frame as one vector (same element
    # order, as in qloom.sim), so (N, 28, 28, 1) feeds a (1, 1, 784) input; one frame may omit N.
    if frames.ndim >= 2 and int(np.prod(frames.shape[1:])) == per_frame:
        frames = frames.reshape((len(frames),) + _shape(pin))
    elif frames.size == per_frame:
        frames = frames.reshape((1,) + _shape(pin))
    else:
        raise QloomError(f"input frames of shape {frames.shape} do not fit the design's input {_shape(pin)}")
    n = len(frames)
    if n < 1:
        raise QloomError("run_rtl needs at least one frame")
    steady_frames = max(int(steady_frames), 3)
    model_ii = int(design.get("cycles_per_frame_model") or 0)
    if timeout_cycles is None:  # generous: a stalled run still moves a word every few cycles
        timeout_cycles = max(100_000, 20 * model_ii)
    _check_memories(rtl_dir, design)
    exe, build = build_simulator(rtl_dir, cache_dir=cache_dir)
    with tempfile.TemporaryDirectory(prefix="qloom_rtl_") as tmp:
        tmp = Path(tmp)
        packing.to_chunks(pin, packing.pack_frames(pin, frames)).tofile(tmp / "in.bin")
        sizes = batch_lengths(n, seed)
        _batch_file(tmp / "tlast.txt", sizes)
        args = {"in": tmp / "in.bin", "out_dir": tmp, "frames": n, "steady_frames": steady_frames,
                "in_words": pin["words_per_frame"], "out_words": pout["words_per_frame"],
                "in_chunks": packing.chunks_per_word(pin), "out_chunks": packing.chunks_per_word(pout),
                "tlast": tmp / "tlast.txt", "seed": seed, "stall": stall_prob,
                "timeout": timeout_cycles, "drain": max(1000, 2 * model_ii)}
        args["progress"] = progress.TTY_INTERVAL  # seconds between the bench's frame counts on stderr
        cmd = [str(exe), *(f"{k}={v}" for k, v in args.items()), "+verilator+rand+reset+2",
               f"+verilator+seed+{seed % (2**31 - 1) + 1}"]  # a positive C int
        t0 = time.perf_counter()
        with progress.task("RTL simulation", total=n + steady_frames, unit="frames") as shown:
            res = progress.run(cmd, shown, cwd=rtl_dir)  # cwd: $readmemh paths
        sim_seconds = time.perf_counter() - t0
        _check_run(res, rtl_dir)
        stats = json.loads((tmp / "stats.json").read_text())
        outputs = _read_outputs(pout, tmp / "out_stress.bin")
        steady = _read_outputs(pout, tmp / "out_steady.bin")
        timing = np.loadtxt(tmp / "timing.txt", dtype=np.int64, ndmin=2)

    _check_counts(rtl_dir, {"backpressure": (outputs, n), "steady": (steady, steady_frames),
                            "timing": (timing, steady_frames)})
    cycles = stats["stress_cycles"] + stats["steady_cycles"]
    return {
        "outputs": outputs,
        "steady_outputs": steady,
        "frames": n,
        "steady_frames": steady_frames,
        "cycles_per_frame": steady_ii(timing),
        "cycles_per_frame_model": model_ii or None,
        "latency_cycles": int(timing[0, 3] - timing[0, 0]),
        "protocol_errors": stats["protocol_errors"],
        "tlast_errors": stats.get("tlast_errors", 0),
        "tlast_batches": sizes,
        "extra_words": stats["extra_words"],
        "sim_cycles": cycles,
        "build_seconds": build["build_seconds"],
        "build_cached": build["cached"],
        "sim_seconds": sim_seconds,
        "frames_per_second": (n + steady_frames) / stats["sim_seconds"] if stats["sim_seconds"] > 0 else None,
        "cycles_per_second": cycles / stats["sim_seconds"] if stats["sim_seconds"] > 0 else None,
    }


def _read_outputs(port: dict, path: Path) -> np.ndarray:
    """The bench's uint32 chunks -> (frames, *shape) values, through the one packing module."""
    chunks = np.fromfile(path, dtype="<u4")
    words = len(chunks) // packing.chunks_per_word(port)
    data = packing.from_chunks(port, chunks)
    return packing.unpack_frames(port, data, words // int(port["words_per_frame"]))


def _first_mismatch(got: np.ndarray, want: np.ndarray, frame_ids: np.ndarray, phase: str) -> dict | None:
    bad = np.argwhere(got != want)
    if len(bad) == 0:
        return None
    i = tuple(int(j) for j in bad[0])
    return {"phase": phase, "frame": int(frame_ids[i[0]]), "index": list(i[1:]),
            "expected": int(want[i]), "got": int(got[i]), "elements_wrong_in_frame": int((got[i[0]] != want[i[0]]).sum())}


def verify_rtl(graph: Graph, rtl_dir: str | Path, float_inputs: np.ndarray, *, seed: int = 0,
               stall_prob: float = 0.3, steady_frames: int = 16, cache_dir: str | Path | None = None,
               labels: np.ndarray | None = None) -> dict:
    """The `rtl` entry of verify.json: the RTL against `qloom.sim` on the same inputs.

    `float_inputs` are the model's inputs (N, C, H, W) when the graph starts with its host-side
    InputQuant, else integer frames (N, H, W, C) of the first hardware layer. Every output
    frame of both runs (with random backpressure, and stall-free) must equal the IR's, run
    the way the design emits (design.json dma.out.kind: labels or logits).
    """
    design = load_design(rtl_dir)
    graph = with_out_kind(graph, design["out_port"].get("kind"))
    if graph.input_quant is not None:
        want, trace = sim.execute(graph, float_inputs, trace=True)
        hw_in = trace[graph.layers[0].name]
        start = 1
    else:
        hw_in = np.asarray(float_inputs)
        want = sim.execute(graph, hw_in, start=0)
        start = 0
    last = graph.layers[-1]
    pin, pout = design["in_port"], design["out_port"]
    if _shape(pout) != tuple(last.out_shape) or pout["dtype"] != last.out_dtype.name:
        raise QloomError(f"{rtl_dir}/design.json output {_shape(pout)} {pout['dtype']} "
                         f"does not match graph {graph.name} output {last.out_shape} {last.out_dtype} ({last.name})")
    first = graph.layers[start]
    if _shape(pin) != tuple(first.in_shape) or pin["dtype"] != first.in_dtype.name:
        raise QloomError(f"{rtl_dir}/design.json input {_shape(pin)} {pin['dtype']} "
                         f"does not match {first.name} input {first.in_shape} {first.in_dtype}")
    entry = {"frames": int(len(hw_in)), "passed": False, "error": None}
    try:
        r = run_rtl(rtl_dir, hw_in, seed=seed, stall_prob=stall_prob, steady_frames=steady_frames, cache_dir=cache_dir)
    except SimulationHang as exc:  # the design hung: a failed verification, reported, not raised
        entry.update(mismatches=int(len(hw_in)), error=str(exc))  # (a simulator failure raises)
        return entry
    n = len(hw_in)
    steady_ids = np.arange(r["steady_frames"]) % n
    stress_bad = (r["outputs"] != want).reshape(n, -1).any(axis=1)
    steady_bad = (r["steady_outputs"] != want[steady_ids]).reshape(len(steady_ids), -1).any(axis=1)
    first_bad = (_first_mismatch(r["outputs"], want, np.arange(n), "backpressure")
                 or _first_mismatch(r["steady_outputs"], want[steady_ids], steady_ids, "steady"))
    if first_bad:
        first_bad["layer"] = last.name  # the RTL exposes only the last layer's stream
    model = r["cycles_per_frame_model"]
    ii_error = (r["cycles_per_frame"] - model) / model if model else None
    entry.update(
        mismatches=int(stress_bad.sum()),
        steady_mismatches=int(steady_bad.sum()),
        mismatched_elements=int((r["outputs"] != want).sum()),
        first_mismatch=first_bad,
        protocol_errors=r["protocol_errors"],
        tlast_errors=r["tlast_errors"],
        tlast_batches=len(r["tlast_batches"]),
        extra_words=r["extra_words"],
        cycles_per_frame=r["cycles_per_frame"],
        cycles_per_frame_model=model,
        ii_error=ii_error,
        ii_ok=ii_error is not None and abs(ii_error) <= II_TOLERANCE,
        latency_cycles=r["latency_cycles"],
        stall_prob=stall_prob,
        seed=seed,
        sim_frames_per_second=r["frames_per_second"],
        sim_cycles_per_second=r["cycles_per_second"],
        build_seconds=r["build_seconds"],
        build_cached=r["build_cached"],
        sim_seconds=r["sim_seconds"],
    )
    if labels is not None:  # the hardware's own predictions, scored on the dataset labels
        flat = r["outputs"].reshape(n, -1)
        pred = flat[:, 0] if graph.ends_in_labels else np.argmax(sim.logits(graph, r["outputs"]), axis=1)
        entry["rtl_accuracy"] = float(np.mean(pred == np.asarray(labels)[:n]))
    entry["passed"] = (entry["mismatches"] == 0 and entry["steady_mismatches"] == 0 and r["protocol_errors"] == 0
                       and r["extra_words"] == 0 and (ii_error is None or entry["ii_ok"]))
    return entry
