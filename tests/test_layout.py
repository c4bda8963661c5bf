"""The package's shape: layers kept by import-linter, small modules, a --help written for users."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "microcks_pipeline"
MAX_LINES = 420  # "about 400": a module past it does more than one thing
# Alembic revisions are history, and the local server's importers mirror Microcks' own.
EXEMPT = ("store/migrations/", "localserver/importers")


def test_the_layer_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(lint), "--no-cache"], cwd=PACKAGE.parent, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_no_module_of_the_package_is_over_about_400_lines():
    long = {
        str(path.relative_to(PACKAGE)): count
        for path in PACKAGE.rglob("*.py")
        if not str(path.relative_to(PACKAGE)).startswith(EXEMPT)
        and (count := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_help_tells_a_user_what_the_tool_does_not_how_the_module_is_built():
    done = subprocess.run(
        [sys.executable, "-m", "microcks_pipeline.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0
    assert "Keep Microcks mocks equal to what a Backstage catalog declares" in done.stdout
    assert "registered below" not in done.stdout and "function" not in done.stdout
