"""The course labs (docs/lab*.md) executed as written, so the pages never go stale.

Each page's fenced ```sh and ```python blocks run in order in one temporary folder per lab:
sh blocks as one bash script each under `set -e`, python blocks with this interpreter, both
importing this checkout's `src`. Blocks fenced as anything else (```text) or whose first line
is `# not run in CI` (Vivado, Yosys, long sweeps) are skipped. Any non-zero exit fails.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
LABS = ["lab1-train-quantize.md", "lab2-hardware-layers.md", "lab3-zynq-inference.md"]
SKIP_MARK = "# not run in CI"
FENCE = re.compile(r"^```([A-Za-z0-9_+-]*)[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
BLOCK_TIMEOUT_S = 900


def code_blocks(markdown: str) -> list[tuple[str, str]]:
    """(language, code) of the blocks a student runs, in page order."""
    blocks = []
    for lang, code in FENCE.findall(markdown):
        first = code.lstrip().splitlines()[0].strip() if code.strip() else ""
        if lang in ("sh", "python") and not first.startswith(SKIP_MARK):
            blocks.append((lang, code))
    return blocks


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH")) if p)
    env["PATH"] = os.pathsep.join((str(Path(sys.executable).parent), env.get("PATH", "")))
    env["MPLBACKEND"] = "Agg"
    return env


def run_block(lang: str, code: str, folder: Path) -> subprocess.CompletedProcess:
    """Run one block in `folder` (bash with set -e, or this venv's python)."""
    if lang == "sh":
        argv = ["bash", "-c", "set -e\n" + code]
    else:
        argv = [sys.executable, "-c", code]
    return subprocess.run(argv, cwd=folder, env=_env(), capture_output=True, text=True,
                          timeout=BLOCK_TIMEOUT_S)


def run_page(page: Path, folder: Path) -> int:
    blocks = code_blocks(page.read_text())
    for i, (lang, code) in enumerate(blocks, 1):
        p = run_block(lang, code, folder)
        if p.returncode != 0:
            pytest.fail(f"{page.name}: block {i}/{len(blocks)} ({lang}) exited {p.returncode}\n"
                        f"--- code ---\n{code}--- stdout ---\n{p.stdout[-3000:]}\n"
                        f"--- stderr ---\n{p.stderr[-3000:]}", pytrace=False)
    return len(blocks)


SAMPLE = """intro
```sh
echo one > a.txt
```
```text
not code
```
```python
# not run in CI: needs a board
raise SystemExit(1)
```
```python
assert open("a.txt").read() == "one\\n"
```
"""


def test_extractor_keeps_sh_and_python_and_skips_marked_blocks():
    blocks = code_blocks(SAMPLE)
    assert [lang for lang, _ in blocks] == ["sh", "python"]
    assert "raise" not in "".join(code for _, code in blocks)


def test_runner_shares_the_folder_and_fails_on_errors(tmp_path):
    assert run_page_text(SAMPLE, tmp_path) == 2
    for bad in ("```sh\nfalse\necho reached\n```\n", "```python\nimport json\njson.load(open('missing.json'))\n```\n"):
        with pytest.raises(pytest.fail.Exception, match="exited 1"):
            run_page_text(bad, tmp_path)


def run_page_text(text: str, folder: Path) -> int:
    page = folder / "page.md"
    page.write_text(text)
    return run_page(page, folder)


@pytest.mark.parametrize("lab", LABS)
def test_lab_runs_as_written(lab, tmp_path):
    page = DOCS / lab
    n = run_page(page, tmp_path)
    assert n >= 4, f"{lab}: only {n} runnable blocks"
