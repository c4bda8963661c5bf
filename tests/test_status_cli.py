"""End to end: `microcks-pipeline serve-status` in a real subprocess serves the status store over
HTTP, behind its token when one is set; bad command lines fail with a clear message."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from status_fixtures import synced, url_of

from microcks_pipeline.cli import main
from microcks_pipeline.store import StatusStore

TOKEN = "cli-status-token"


@contextmanager
def serve_status(env: dict[str, str]) -> Iterator[str]:
    """Start the command on a free port; yield the base URL from the line it prints."""
    process = subprocess.Popen(
        [sys.executable, "-m", "microcks_pipeline.cli", "serve-status", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )
    try:
        line = process.stdout.readline().strip()
        assert line.startswith("status API on http://127.0.0.1:"), process.stderr.read()
        yield line.split()[3].removesuffix("/api/v1/entities")
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_command_serves_the_store_behind_its_token(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'status.db'}"
    store = StatusStore(url)
    store.migrate()
    synced(store, "api:default/petstore", "default")
    version = store.rows()[0].microcks_version_id
    env = {"MICROCKS_PIPELINE_DB_URL": url, "MICROCKS_PIPELINE_STATUS_TOKEN": TOKEN}
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with serve_status(env) as base:
        refused = httpx.get(f"{base}/api/v1/entities", timeout=10)
        listing = httpx.get(f"{base}/api/v1/entities", headers=auth, timeout=10)
        cached = httpx.get(
            f"{base}/api/v1/entities",
            headers={**auth, "If-None-Match": listing.headers["etag"]},
            timeout=10,
        )
        one = httpx.get(
            f"{base}/api/v1/entities/api%3Adefault%2Fpetstore", headers=auth, timeout=10
        )
        health = httpx.get(f"{base}/healthz", timeout=10)
        metrics = httpx.get(f"{base}/metrics", headers=auth, timeout=10)
    assert refused.status_code == 401
    assert listing.status_code == 200
    (entity,) = listing.json()["entities"]
    assert entity["mocks"][0]["mockUrl"] == url_of("petstore", version)
    assert cached.status_code == 304
    assert one.json() == entity
    assert health.json() == {"status": "ok"}
    assert 'microcks_pipeline_mocks{status="completed"} 1.0' in metrics.text


def test_help_describes_the_contract(capsys):
    assert main(["serve-status", "--help"]) == 0
    out = capsys.readouterr().out
    for words in (
        "GET /api/v1/entities ",
        "GET /api/v1/entities/{ref}",
        "/healthz",
        "/metrics",
        "MICROCKS_PIPELINE_DB_URL",
        "MICROCKS_PIPELINE_STATUS_TOKEN",
        "--port PORT",
        "default 8090",
    ):
        assert words in out


def test_a_bad_port_is_a_usage_error(capsys):
    assert main(["serve-status", "--port", "70000"]) == 2
    assert "port 70000 is outside 0-65535" in capsys.readouterr().err
    assert main(["serve-status", "--port", "http"]) == 2
    assert "not a port number: 'http'" in capsys.readouterr().err


def test_a_bad_database_url_is_a_usage_error(capsys, monkeypatch):
    monkeypatch.setenv("MICROCKS_PIPELINE_DB_URL", "mysql://someone@db/x")
    assert main(["serve-status"]) == 2
    assert capsys.readouterr().err.startswith("error: ")
