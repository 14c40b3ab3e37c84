"""The command line's own face: --version, and help texts written for users."""

from __future__ import annotations

import pytest

from qloom import __version__
from qloom.cli import main


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"qloom {__version__}"


def test_top_level_help_is_for_users(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "qloom train" in out and "qloom build" in out and "qloom verify" in out
    assert "add_parser" not in out and "module" not in out  # not a developer note


def test_build_help_does_not_claim_to_verify(capsys):
    """`qloom build` compiles; `qloom verify` verifies."""
    with pytest.raises(SystemExit):
        main(["build", "--help"])
    assert "verified" not in capsys.readouterr().out.lower()
    with pytest.raises(SystemExit):
        main(["--help"])
    build_line = next(l for l in capsys.readouterr().out.splitlines() if l.strip().startswith("build "))
    assert "verif" not in build_line.lower()
