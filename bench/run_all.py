"""Run every bench script in turn (each prints its own table). `python bench/run_all.py [--quick]`.

--quick passes smoke-run flags where a script has them (training on a subset, small
designs) and skips the end-to-end bench (it needs the fully trained models of bench_train.py).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
TRAINED = Path(tempfile.gettempdir()) / "qloom-bench-train"  # bench_train.py's default --out-dir
# (script, its arguments, its arguments under --quick or None to skip it then)
SCRIPTS = [
    ("bench_train.py", [], ["--epochs", "1", "--limit-train", "5000"]),
    ("bench_ir.py", [], []),
    ("bench_fold.py", [], []),
    ("bench_rtl.py", [], []),
    ("bench_resources.py", [], ["--quick"]),
    # the models bench_train.py just trained with their full recipes
    ("bench_e2e.py", ["--models", *(str(TRAINED / f"{m}-mnist" / "model.onnx") for m in ("tfc-w1a1", "tfc-w2a2", "sfc-w2a2"))],
     None),
    ("bench_driver.py", ["--models", str(TRAINED / "tfc-w2a2-mnist" / "model.onnx"), "--frames", "1000"], None),
    ("bench_ptq.py", [], None),
    ("bench_quant.py", [], None),
]


def main() -> int:
    quick = "--quick" in sys.argv[1:]
    rc = 0
    for script, args, quick_args in SCRIPTS:
        path = HERE / script
        if not path.exists() or (quick and quick_args is None):
            continue
        cmd = [sys.executable, str(path), *(quick_args if quick else args)]
        print(f"\n#### {' '.join(cmd[1:])}", flush=True)
        rc |= subprocess.call(cmd, cwd=HERE)
    return rc


if __name__ == "__main__":
    sys.exit(main())
