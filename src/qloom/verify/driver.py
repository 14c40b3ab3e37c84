"""Driver co-simulation: the deploy folder's own drivers against an AXI DMA model and the RTL.

`qloom verify DIR --level driver` builds one shared library, the co-simulated board
(tb/dma_cosim.cpp: a PG021 register model of the AXI DMA in simple mode, a simulated DDR,
and the Verilator model of the stitched top, cycle by cycle), then runs two drivers on it:
- the bare-metal C driver: the same qloom_driver.c and main.c as the deploy folder, compiled
  with `gcc -std=c99 -Wall -Wextra -Werror` against the co-simulation board layer
  (tb/qloom_board_cosim.c) and linked with the library;
- the PYNQ driver qloom_pynq.py, importing a stand-in `pynq` (pynq_standin/) that loads the
  same library through ctypes.
The library logs every byte each DMA channel moved; those logs are checked here against
`qloom.packing` (the C driver's packed input must equal `pack_frames` byte for byte) and
the IR's outputs. A watchdog in the library ends a run where nothing moves; the wall-clock
limit below backs it up.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from qloom import progress
from qloom.deploy import drivers
from qloom.errors import QloomError
from qloom.fold.boards import DEFAULT_CLOCK_MHZ
from qloom.verify import simbuild

TB = Path(__file__).parent / "tb"
COSIM_CPP = TB / "dma_cosim.cpp"
BOARD_COSIM_C = TB / "qloom_board_cosim.c"
PYNQ_STANDIN = Path(__file__).parent / "pynq_standin"
CFLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Werror")
WALL_SECONDS = 1800  # backs up the co-simulation's own watchdog
# The PYNQ driver's deadline is wall time (time.monotonic, as on the board), and a Python poll
# through ctypes costs ~1 us for 16 simulated cycles: a watchdog of 2e8 cycles lets its own
# timeout (>= 1 s) report first.
PYNQ_WATCHDOG_CYCLES = 200_000_000
PYNQ_ACCESS_CYCLES = 64  # clocks per register access from Python: fewer ctypes calls per simulated frame


def build_cosim(rtl_dir: Path, *, cache_dir: Path | None = None) -> tuple[Path, dict]:
    """The co-simulation library of the design in rtl_dir (cached like the RTL bench)."""
    rtl_dir = Path(rtl_dir).resolve()
    design = drivers.load_dma(rtl_dir)
    sources = [(rtl_dir / f).resolve() for f in design.get("files", [])]
    missing = [str(f) for f in sources if not f.is_file()]
    if missing or not sources:
        raise QloomError(f"{rtl_dir}/design.json: source files missing: {missing or 'none listed'}")
    header = hashlib.sha256((TB / "qloom_cosim.h").read_bytes()).hexdigest()[:12]
    flags = ("-CFLAGS", f"-fPIC -I{TB} -DQLOOM_COSIM_API={header}", "-LDFLAGS", "-shared")
    return simbuild.build(rtl_dir, design["top"], sources, cache_dir=cache_dir,
                          bench=COSIM_CPP, flags=flags)


def compile_c(sw_dir: Path, lib: Path, exe: Path, sources: tuple[str, ...] = ("main.c", "qloom_driver.c")) -> Path:
    """gcc -Wall -Wextra -Werror: the deploy folder's C files + the co-simulation board layer."""
    gcc = shutil.which(os.environ.get("CC", "gcc")) or shutil.which("cc")
    if gcc is None:
        raise QloomError("no C compiler (gcc) found: the driver co-simulation compiles the C driver with it")
    cmd = [gcc, *CFLAGS, f"-I{sw_dir}", f"-I{TB}", *(str(Path(sw_dir) / s) for s in sources), str(BOARD_COSIM_C),
           str(lib), "-o", str(exe)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise QloomError(f"the C driver does not compile with {' '.join(CFLAGS)}:\n{res.stderr[-3000:]}")
    return exe


def watchdog_cycles(design: dict, frames: int) -> int:
    """Twice the C driver's bound for a batch of `frames` (qloom_timeout_us), and at least 2M cycles.

    The watchdog is the backstop for a driver that never gives up; it must not end a run that
    is only slow (a frame of a folded CNN can take millions of cycles with no stream beat)."""
    din, dout = design["in_dma"], design["out_dma"]
    frame = max(int(design.get("cycles_per_frame_model") or 0), din.words_per_frame, dout.words_per_frame)
    layers = len(design.get("layers") or []) or 1
    bound = float(design.get("clock_mhz") or DEFAULT_CLOCK_MHZ) * 1000 + 4 * (frames + layers + 2) * frame
    return int(2 * bound) + 2_000_000


def cosim_options(design: dict, dump_dir: Path, *, frames: int = 1, **extra) -> str:
    """The library's option string: stream widths from design.json "dma", the dump folder, the
    progress lines (output frames on stderr), faults."""
    din, dout = design["in_dma"], design["out_dma"]
    bits, max_frames = drivers.length_bits(design)
    opts = {"in_bits": din.width, "out_bits": dout.width, "length_bits": bits,
            "clock_mhz": float(design.get("clock_mhz") or DEFAULT_CLOCK_MHZ), "dump_dir": str(dump_dir),
            "watchdog_cycles": watchdog_cycles(design, min(frames, max_frames)),
            "frame_bytes": dout.bytes_per_frame, "progress": progress.TTY_INTERVAL, **extra}
    return ",".join(f"{k}={int(v) if isinstance(v, bool) else v}" for k, v in opts.items())


def _stats(dump_dir: Path) -> dict:
    path = dump_dir / "stats.json"
    if not path.is_file():
        raise QloomError(f"the co-simulation wrote no {path} (crashed?)")
    return json.loads(path.read_text())


def _run(cmd: list[str], rtl_dir: Path, env: dict, wall_seconds: float, label: str,
         frames: int | None) -> subprocess.CompletedProcess:
    """Run a driver program; the library's `qloom-progress` lines count its output frames."""
    try:  # cwd: the design's $readmemh paths are relative to rtl/
        with progress.task(label, total=frames, unit="frames") as shown:
            return progress.run(cmd, shown, cwd=rtl_dir, env=env, timeout=wall_seconds)
    except subprocess.TimeoutExpired:
        raise QloomError(f"driver co-simulation exceeded {wall_seconds:.0f} s of wall time: {' '.join(cmd)}") from None


def run_c(exe: Path, rtl_dir: Path, options: str, *, args: tuple[str, ...] = (),
          wall_seconds: float = WALL_SECONDS, frames: int | None = None) -> dict:
    """Run a compiled C driver program; its QLOOM_RESULT line, exit code and output."""
    env = {**os.environ, "QLOOM_COSIM_OPTS": options}
    res = _run([str(exe), *args], rtl_dir, env, wall_seconds, "driver co-simulation (C)", frames)
    m = re.search(r"^QLOOM_RESULT (.*)$", res.stdout, re.M)
    result = {k: int(v) for k, v in re.findall(r"(\w+)=(-?\d+)", m.group(1))} if m else {}
    return {"exit_code": res.returncode, "result": result, "stdout": res.stdout, "stderr": res.stderr}


def run_pynq(pynq_dir: Path, lib: Path, rtl_dir: Path, options: str, *, frames: int, timeout_s: float | None = None,
             wall_seconds: float = WALL_SECONDS) -> dict:
    """Run qloom_pynq.py with the stand-in `pynq`; its results json, exit code and output."""
    out = Path(tempfile.mkdtemp(prefix="qloom_pynq_")) / "result.json"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(PYNQ_STANDIN), QLOOM_COSIM_LIB=str(lib), QLOOM_COSIM_OPTS=options)
    cmd = [sys.executable, str(pynq_dir / "qloom_pynq.py"), "--frames", str(frames), "--json", str(out)]
    if timeout_s is not None:
        cmd += ["--timeout", str(timeout_s)]
    res = _run(cmd, rtl_dir, env, wall_seconds, "driver co-simulation (PYNQ)", frames)
    result = json.loads(out.read_text()) if out.is_file() else {}
    shutil.rmtree(out.parent, ignore_errors=True)
    return {"exit_code": res.returncode, "result": result, "stdout": res.stdout, "stderr": res.stderr}


def decode_sr(sr: int) -> list[str]:
    """DMASR bits by their PG021 names."""
    names = {0: "Halted", 1: "Idle", 4: "DMAIntErr", 5: "DMASlvErr", 6: "DMADecErr", 12: "IOC_Irq", 14: "Err_Irq"}
    return [n for b, n in names.items() if sr >> b & 1]


def dma_status(stats: dict) -> dict:
    return {"mm2s_dmasr": f"0x{stats['mm2s_dmasr']:08x}", "mm2s": decode_sr(stats["mm2s_dmasr"]),
            "s2mm_dmasr": f"0x{stats['s2mm_dmasr']:08x}", "s2mm": decode_sr(stats["s2mm_dmasr"]),
            "s2mm_length": stats["s2mm_length"], "mm2s_busy": stats["mm2s_busy"], "s2mm_busy": stats["s2mm_busy"]}


def check_streams(design: dict, dump_dir: Path, hw_in: np.ndarray, want: np.ndarray) -> dict:
    """What the DMA moved, against qloom.packing and the IR."""
    from qloom.packing import pack_frames, unpack_frames

    n = len(hw_in)
    sent = (dump_dir / "mm2s.bin").read_bytes()
    ref = pack_frames(design["dma"]["in"], hw_in)
    diff = next((i for i, (a, b) in enumerate(zip(sent, ref)) if a != b), None)
    if diff is None and len(sent) != len(ref):
        diff = min(len(sent), len(ref))
    got_bytes = (dump_dir / "s2mm.bin").read_bytes()
    out_bytes = n * design["out_dma"].bytes_per_frame
    entry = {"bytes_checked": len(ref), "bytes_equal": diff is None, "first_byte_difference": diff,
             "out_bytes": len(got_bytes)}
    entry["stream_mismatches"] = n
    if len(got_bytes) == out_bytes:
        try:
            got = unpack_frames(design["dma"]["out"], got_bytes, n).reshape(n, -1)
        except QloomError as exc:  # nonzero padding bits: the output words are wrong
            entry["stream_error"] = str(exc)
        else:
            entry["stream_mismatches"] = int((got != np.asarray(want).reshape(n, -1)).any(axis=1).sum())
    return entry


def cosim_c(design: dict, rtl_dir: Path, sw_dir: Path, lib: Path, work: Path, hw_in: np.ndarray, want: np.ndarray,
            **faults) -> dict:
    """Compile and run main.c on the co-simulated board; the C half of the driver level."""
    dump = work / "c"
    dump.mkdir(parents=True, exist_ok=True)
    exe = compile_c(sw_dir, lib, work / "qloom_app")
    run = run_c(exe, rtl_dir, cosim_options(design, dump, frames=len(hw_in), **faults), frames=len(hw_in))
    stats = _stats(dump)
    r = run["result"]
    n = len(hw_in)
    clock = float(design.get("clock_mhz") or DEFAULT_CLOCK_MHZ)
    cpf = stats["dma_cycles"] / n if stats["dma_cycles"] else None  # MM2S start to S2MM TLAST, per frame
    entry = {"frames": r.get("frames", 0), "mismatches": r.get("mismatches", n), "exit_code": run["exit_code"],
             "driver_status": r.get("status"), "accuracy": r["correct"] / r["labelled"] if r.get("labelled") else None,
             **check_streams(design, dump, hw_in, want), "cycles": stats["cycles"],
             "dma_cycles": stats["dma_cycles"], "cycles_per_frame": cpf, "driver_us": r.get("us"),
             "board_frames_per_second": clock * 1e6 / cpf if cpf else None,
             "sim_seconds": stats["sim_seconds"],
             "sim_frames_per_second": n / stats["sim_seconds"] if stats["sim_seconds"] > 0 else None,
             "protocol_errors": stats["protocol_errors"], "dma_status": dma_status(stats),
             "error": stats["error"] or None, "output": (run["stdout"] + run["stderr"]).strip()[-2000:]}
    entry["passed"] = (run["exit_code"] == 0 and entry["frames"] == n and entry["mismatches"] == 0
                       and entry["stream_mismatches"] == 0 and entry["bytes_equal"] and not entry["error"]
                       and entry["protocol_errors"] == 0)
    return entry


def cosim_pynq(design: dict, rtl_dir: Path, pynq_dir: Path, lib: Path, work: Path, hw_in: np.ndarray,
               want: np.ndarray, *, timeout_s: float | None = None, **faults) -> dict:
    """Run qloom_pynq.py on the co-simulated board; the PYNQ half of the driver level.

    The driver's deadline is wall time; a simulated second takes far longer, so verify passes
    a bound from the C run's simulation speed (timeout_s), else the driver's own default."""
    dump = work / "pynq"
    dump.mkdir(parents=True, exist_ok=True)
    faults.setdefault("watchdog_cycles", max(PYNQ_WATCHDOG_CYCLES, watchdog_cycles(design, len(hw_in))))
    faults.setdefault("access_cycles", PYNQ_ACCESS_CYCLES)
    options = cosim_options(design, dump, frames=len(hw_in), **faults)
    run = run_pynq(pynq_dir, lib, rtl_dir, options, frames=len(hw_in), timeout_s=timeout_s)
    stats = _stats(dump)
    r = run["result"]
    n = len(hw_in)
    entry = {"frames": r.get("frames", 0), "mismatches": r.get("mismatches") if r.get("mismatches") is not None else n,
             "exit_code": run["exit_code"], "accuracy": r.get("accuracy"), **check_streams(design, dump, hw_in, want),
             "cycles": stats["cycles"], "dma_cycles": stats["dma_cycles"],
             "cycles_per_frame": stats["dma_cycles"] / n if stats["dma_cycles"] else None,
             "sim_seconds": stats["sim_seconds"], "sim_frames_per_second": n / stats["sim_seconds"] if stats["sim_seconds"] > 0 else None,
             "dma_status": dma_status(stats), "driver_error": r.get("error"), "error": stats["error"] or None,
             "output": (run["stdout"] + run["stderr"]).strip()[-2000:]}
    entry["passed"] = (run["exit_code"] == 0 and entry["frames"] == n and entry["mismatches"] == 0
                       and entry["stream_mismatches"] == 0 and entry["bytes_equal"] and not entry["error"])
    return entry


def verify_driver(graph, build_dir: Path, float_inputs: np.ndarray, *, labels: np.ndarray | None = None,
                  pynq: bool = True, cache_dir: Path | None = None) -> dict:
    """The `driver` entry of verify.json: both drivers on the co-simulated board, against the IR.

    The drivers are written afresh (same templates as `qloom deploy`) with these inputs as
    their embedded test data, into DIR/driver_cosim/."""
    from qloom import artifacts as A

    build_dir = Path(build_dir)
    rtl_dir = (build_dir / A.RTL_DIR).resolve()
    design = drivers.load_dma(rtl_dir)
    hw_in, want = drivers.hardware_io(graph, float_inputs, design)
    work = (build_dir / "driver_cosim").resolve()  # the compiled app runs from another cwd
    drivers.write_sw(design, work / "sw", hw_in, labels, want, graph.output)
    lib, build = build_cosim(rtl_dir, cache_dir=cache_dir)
    entry = {"frames": len(hw_in), "build_seconds": build["build_seconds"], "build_cached": build["cached"]}
    deployed = build_dir / "deploy" / "sw" / "qloom_driver.c"
    if deployed.is_file():  # the deploy folder's driver must be the one co-simulated
        entry["deploy_driver_identical"] = deployed.read_bytes() == (work / "sw" / "qloom_driver.c").read_bytes()
    c = cosim_c(design, rtl_dir, work / "sw", lib, work, hw_in, want)
    entry.update({k: c[k] for k in ("mismatches", "bytes_checked", "bytes_equal", "cycles", "dma_cycles",
                                    "board_frames_per_second", "sim_frames_per_second", "dma_status", "accuracy")})
    if c["cycles_per_frame"] is not None:  # MM2S start to S2MM TLAST, per frame (the CLI prints it beside the model)
        entry.update(cycles_per_frame=c["cycles_per_frame"], cycles_per_frame_model=design.get("cycles_per_frame_model"))
    entry["c"] = c
    passed = c["passed"] and entry.get("deploy_driver_identical", True)
    if pynq:
        drivers.write_pynq(design, work / "pynq", hw_in, labels, want, graph.output)
        # the largest batch's share of the C run's wall time, 20x (Python polls), plus a minute
        batches = -(-len(hw_in) // int(json.loads((work / "pynq" / "qloom_design.json").read_text())["max_batch"]))
        p = cosim_pynq(design, rtl_dir, work / "pynq", lib, work, hw_in, want,
                       timeout_s=60 + 20 * c["sim_seconds"] / batches)
        entry["pynq"] = p
        entry["mismatches"] = max(entry["mismatches"], p["mismatches"])
        passed = passed and p["passed"]
    entry["passed"] = passed
    entry["error"] = None if passed else (c["error"] or (entry.get("pynq") or {}).get("error")
                                          or (entry.get("pynq") or {}).get("driver_error") or "see verify.json")
    return entry
