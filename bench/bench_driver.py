"""Driver co-simulation bench: the deploy folder's C and PYNQ drivers beside the RTL level.

    python bench/bench_driver.py --models DIR/tfc-w2a2/model.onnx DIR/cnv-w2a2/model.onnx [--frames 1000]

Per model: `qloom build --stop-after rtl` (optionally --target-fps), then `qloom verify
--level rtl --level driver` on MNIST test images. A row gives the RTL bench's steady cycles
per frame and simulated frames/s, and the driver level's: cycles per frame from the first
MM2S beat to S2MM's TLAST (DMA start and pipeline fill included, one transfer per batch),
the frames/s that means at the design's clock, the co-simulation's own frames/s for the C
and the PYNQ driver, mismatches against the IR, and whether the C driver's packed bytes
equal qloom.packing's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from table import print_table  # noqa: E402


def _qloom(*args) -> int:
    return subprocess.run([sys.executable, "-m", "qloom.cli", *map(str, args)], capture_output=True, text=True).returncode


def bench(model: Path, work: Path, frames: int, target_fps: float | None) -> dict:
    out = work / (model.parent.name or model.stem)
    fold = ["--target-fps", str(target_fps)] if target_fps else []
    if _qloom("build", model, "--out", out, "--stop-after", "rtl", *fold) != 0:
        raise SystemExit(f"qloom build {model} failed")
    _qloom("verify", out, "--level", "rtl", "--level", "driver", "--frames", frames)
    lv = json.loads((out / "verify.json").read_text())["levels"]
    rtl, drv = lv["rtl"], lv["driver"]
    pynq = drv.get("pynq", {})
    return {"model": out.name, "frames": frames, "rtl_cycles/frame": round(rtl["cycles_per_frame"], 1),
            "rtl_sim_fps": round(rtl["sim_frames_per_second"], 1),
            "driver_cycles/frame": round(drv.get("cycles_per_frame") or 0, 1),
            "board_fps": round(drv.get("board_frames_per_second") or 0, 1),
            "c_cosim_fps": round(drv.get("sim_frames_per_second") or 0, 1),
            "pynq_cosim_fps": round(pynq.get("sim_frames_per_second") or 0, 1),
            "mismatches": drv["mismatches"], "bytes_equal": drv.get("bytes_equal"), "passed": drv["passed"]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", type=Path, required=True)
    p.add_argument("--frames", type=int, default=1000)
    p.add_argument("--target-fps", type=float, default=None, help="folding target for the builds")
    p.add_argument("--work", type=Path, default=None)
    args = p.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="qloom-bench-driver-"))
    rows = [bench(m, work, args.frames, args.target_fps) for m in args.models]
    print_table("driver co-simulation (C and PYNQ drivers, AXI DMA model) vs RTL", rows)
    return 0 if all(r["passed"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
