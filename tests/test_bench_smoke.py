"""The benchmarks still run (tiny sizes) and report what the README quotes; no timing asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _run(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return done.stdout


def test_catalog_scan_reports_an_unchanged_pass_that_writes_nothing() -> None:
    out = _run("catalog_scan.py", "--entities", "30")

    assert "raw read + sha256" in out and "(baseline 1.00x)" in out
    assert "second pass rows written       0" in out
    assert "second pass events written     0" in out
    assert "first pass (desired + upsert)" in out and "rows 30" in out


def test_microcks_calls_reports_the_same_call_count_at_both_sizes() -> None:
    out = _run("microcks_calls.py", "--services", "50", "--rounds", "1")

    assert "call count independent of the service count: yes" in out
    assert (
        "calls within budget (per mock; per run <= 1 token request, no Keycloak discovery once known): yes"
        in out
    )


def test_remote_scan_reports_an_unchanged_pass_at_one_request_per_repository() -> None:
    out = _run("remote_scan.py", "--entities", "24", "--repos", "4")

    assert "files 72, repositories 4" in out
    assert "unchanged pass artifact bytes   0" in out
    assert "unchanged pass requests/repo    1.00" in out
    assert "edit pass re-planned entities   1 ['api:default/orders-7']" in out
    assert "targets met: yes" in out


def test_remote_scan_meets_its_targets_on_gitlab_too() -> None:
    out = _run("remote_scan.py", "--entities", "12", "--repos", "3", "--flavor", "gitlab")

    assert "targets met: yes" in out
