"""Run every bench script in turn (each prints its own table). `python bench/run_all.py [--quick]`.

--quick passes smoke-run flags where a script has them (training on a subset).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = [
    ("bench_train.py", ["--epochs", "1", "--limit-train", "5000"]),
    ("bench_ir.py", []),
    ("bench_fold.py", []),
    ("bench_rtl.py", []),
    ("bench_resources.py", []),
]


def main() -> int:
    quick = "--quick" in sys.argv[1:]
    rc = 0
    for script, quick_args in SCRIPTS:
        path = HERE / script
        if not path.exists():
            continue
        cmd = [sys.executable, str(path), *(quick_args if quick else [])]
        print(f"\n#### {' '.join(cmd[1:])}", flush=True)
        rc |= subprocess.call(cmd, cwd=HERE)
    return rc


if __name__ == "__main__":
    sys.exit(main())
