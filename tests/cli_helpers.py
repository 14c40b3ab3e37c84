"""A small complete build folder for CLI tests, and a way to run the CLI in-process.

`small_model(path)` exports a tiny conv+dense QONNX model (a few seconds); `run_cli(argv)`
calls `qloom.cli.main` with stdout/stderr captured and returns (exit code, stdout, stderr),
turning argparse's SystemExit into its code; `snapshot(folder)` maps every file to its bytes'
hash so a test can show a command left a folder unchanged.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
from pathlib import Path

from qnn_factory import LayerSpec, NetSpec, calibrate_and_export

SMALL_SPEC = NetSpec(in_shape=(1, 6, 6), in_bits=4, in_signed=False, seed=11, layers=[
    LayerSpec(kind="conv", out=4, wbits=2, abits=2, asigned=False, narrow=False, per_channel=True,
              bn=True, bias=False, kernel=3, pool=True),
    LayerSpec(kind="dense", out=8, wbits=1, abits=1, asigned=True, narrow=False, per_channel=False,
              bn=True, bias=True)])


def small_model(path: Path) -> Path:
    calibrate_and_export(SMALL_SPEC, path)
    return path


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    from qloom.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main([str(a) for a in argv])
        except SystemExit as exc:  # argparse: usage errors exit 2 (anything else is a bug)
            assert exc.code == 2, f"argparse exited {exc.code}"
            rc = 2
    return rc, out.getvalue(), err.getvalue()


def snapshot(folder: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file (and '<dir>' for every folder) under `folder`."""
    snap = {}
    for p in sorted(Path(folder).rglob("*")):
        rel = str(p.relative_to(folder))
        snap[rel] = "<dir>" if p.is_dir() and not p.is_symlink() else hashlib.sha256(p.read_bytes()).hexdigest()
    return snap
