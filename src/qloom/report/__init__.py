"""DIR/report.html: the build folder as one page a user would rather look at than read.

Written at the end of every successful `qloom build`, after every `qloom verify`, and by
`qloom report DIR`. Drawn from the folder's JSON artifacts alone (build.json, report.json,
verify.json, ir_folded.json, rtl/design.json, the model's metrics.json, an analysis.json), so
regenerating it runs no model and no simulator. Sections and their ids: `page.SECTIONS`.
"""

from __future__ import annotations

import os
from pathlib import Path

from qloom.errors import QloomError

REPORT_HTML = "report.html"


def write_report(build_dir) -> Path:
    """Write DIR/report.html (through a temporary name) and return its path.

    Refuses to replace a report.html that qloom did not write (a user's file in a --force folder).
    """
    from qloom import artifacts as A
    from qloom.report.collect import collect
    from qloom.report.page import GENERATOR, render

    d = Path(build_dir)
    if d.is_file():
        raise QloomError(f"{d} is a file, not a build folder; give the --out folder of `qloom build`")
    if not (d / A.BUILD_JSON).is_file():
        raise QloomError(f"{d} is not a qloom build folder (no {A.BUILD_JSON}); run `qloom build MODEL --out {d}`")
    path = d / REPORT_HTML
    if path.exists():
        try:
            head = path.read_text(errors="replace")[:400] if path.is_file() else ""
        except OSError:
            head = ""
        if f"content='{GENERATOR}'" not in head:
            raise QloomError(f"{path} exists and was not written by qloom: move it away to get the build report")
    text = render(collect(d))
    tmp = path.with_name(REPORT_HTML + ".tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise QloomError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def write_report_safely(build_dir, log=print) -> Path | None:
    """`write_report` for the end of a build or a verification: a failure is one line in the log,
    never a failed build. Under pytest an unexpected error is raised, so a report bug is not silent."""
    try:
        path = write_report(build_dir)
        log(f"report: {path} (open it in a browser)")
        return path
    except QloomError as exc:
        log(f"note: report.html not written: {exc}")
    except Exception as exc:  # noqa: BLE001 - the build succeeded; its report is a convenience
        if "PYTEST_CURRENT_TEST" in os.environ:
            raise
        log(f"warning: report.html not written ({type(exc).__name__}: {exc}); `qloom report DIR` retries")
    return None


__all__ = ["REPORT_HTML", "write_report", "write_report_safely"]
