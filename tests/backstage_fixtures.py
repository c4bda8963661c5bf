"""A real Backstage catalog backend for the tests: `tests/backstage/` (package.json and
package-lock.json, installed by `make backstage-deps` with `npm ci` into its ignored
node_modules) started with Node.js, an in-memory SQLite database, a static external-access
token and one `url` location: the sample catalog (or a test's own), served over http on
127.0.0.1 by a Python file server (`backend.reading.allow` lets Backstage read from it). The
repository's catalog module (`backstage/`) is installed there and decorates API entities when
a status service URL is given.

Skipped where Node.js is missing, except on CI (CI=true), where that fails the suite.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

HERE = Path(__file__).resolve().parent
PACKAGE = HERE / "backstage"
SAMPLE_CATALOG = HERE.parent / "examples" / "catalog"
TOKEN = "backstage-static-token-for-tests-42"
ORPHAN = "backstage.io/orphan"
MODULE = "@microcks-pipeline/plugin-catalog-backend-module-microcks-status"  # backstage/


def require_node() -> str:
    """The node executable; skips the module without one (fails on CI)."""
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Node.js is required on CI for the real-Backstage tests")
        pytest.skip("Node.js is not installed: the real-Backstage tests need it")
    installed = PACKAGE / "node_modules"
    if not all((installed / name).is_dir() for name in ("@backstage/backend-defaults", MODULE)):
        pytest.fail(
            "the Backstage test backend is not installed: run `make backstage-deps` "
            "(builds backstage/, then npm ci in tests/backstage), which `make test` does when "
            "Node.js is present"
        )
    return node


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _QuietFiles(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@dataclass
class Backstage:
    """A running Backstage backend and the folder of catalog files it reads over http."""

    base_url: str
    files_url: str  # where the sample catalog is served
    catalog_dir: Path  # edit files here; Backstage and the pipeline read them over http
    log: Path

    def get(self, path: str, token: str = TOKEN, **params: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"}
        return httpx.get(f"{self.base_url}{path}", params=params, headers=headers, timeout=10)

    def entity(self, name: str) -> dict[str, Any] | None:
        response = self.get(f"/api/catalog/entities/by-name/api/default/{name}")
        return response.json() if response.status_code == 200 else None

    def api_names(self) -> set[str]:
        body = self.get("/api/catalog/entities/by-query", filter="kind=api", limit=100).json()
        return {item["metadata"]["name"] for item in body["items"]}

    def delete_by_uid(self, uid: str) -> None:
        response = httpx.delete(
            f"{self.base_url}/api/catalog/entities/by-uid/{uid}",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        )
        assert response.status_code == 204, response.text

    def wait_for(self, what: str, check: Callable[[], bool], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                tail = self.log.read_text(errors="replace")[-3000:]
                raise AssertionError(f"Backstage: timed out waiting for {what}\n{tail}")
            time.sleep(0.25)


def app_config(port: int, files_port: int, status: dict[str, Any] | None = None) -> dict[str, Any]:
    """Backstage's app-config; `status` is the module's `microcksPipeline.status` section."""
    config: dict[str, Any] = {
        "backend": {
            "baseUrl": f"http://127.0.0.1:{port}",
            "listen": {"host": "127.0.0.1", "port": port},
            "database": {"client": "better-sqlite3", "connection": ":memory:"},
            "auth": {
                "externalAccess": [
                    {"type": "static", "options": {"token": TOKEN, "subject": "microcks-sync"}}
                ]
            },
            "reading": {"allow": [{"host": f"127.0.0.1:{files_port}"}]},
        },
        "catalog": {
            # Re-read locations every 1-1.5 s (CatalogBuilder.getDefaultProcessingInterval).
            "processingInterval": {"seconds": 1},
            # Keep orphans listed: the pipeline must treat `backstage.io/orphan` as gone itself
            # (the default strategy, delete, removes them within 30 s).
            "orphanStrategy": "keep",
            "rules": [{"allow": ["Component", "API", "Location"]}],
            "locations": [
                {"type": "url", "target": f"http://127.0.0.1:{files_port}/catalog-info.yaml"}
            ],
        },
    }
    if status is not None:
        config["microcksPipeline"] = {"status": status}
    return config


@contextmanager
def file_server(folder: Path) -> Iterator[int]:
    """Serve `folder` over http on 127.0.0.1 (Last-Modified, no ETag); yields the port."""
    handler = functools.partial(_QuietFiles, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@contextmanager
def running_backstage(
    workdir: Path, catalog: Path = SAMPLE_CATALOG, status: dict[str, Any] | None = None
) -> Iterator[Backstage]:
    """Copy `catalog` under `workdir`, serve it, start Backstage on it (with the catalog
    module's `status` settings, if any) and wait until it lists every API of the catalog;
    stops both afterwards."""
    node = require_node()
    catalog_dir = workdir / "catalog"
    shutil.copytree(catalog, catalog_dir)
    expected = {
        doc["metadata"]["name"]
        for path in catalog_dir.rglob("catalog-info.yaml")
        for doc in yaml.safe_load_all(path.read_text())
        if doc and doc.get("kind") == "API"
    }
    with file_server(catalog_dir) as files_port:
        port = free_port()
        config = workdir / "app-config.yaml"
        config.write_text(json.dumps(app_config(port, files_port, status)))  # JSON is YAML
        log = workdir / "backstage.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [node, "index.js", "--config", str(config)],
                cwd=PACKAGE,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "NODE_ENV": "development"},
            )
        backstage = Backstage(
            f"http://127.0.0.1:{port}", f"http://127.0.0.1:{files_port}", catalog_dir, log
        )

        def ready() -> bool:
            if process.poll() is not None:
                tail = log.read_text(errors="replace")[-3000:]
                raise AssertionError(f"Backstage exited with {process.returncode}\n{tail}")
            return _lists(backstage, expected)

        try:
            backstage.wait_for(f"the sample APIs {sorted(expected)}", ready, timeout=120)
            yield backstage
        finally:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def _lists(backstage: Backstage, expected: set[str]) -> bool:
    try:
        return backstage.api_names() >= expected
    except (httpx.HTTPError, ValueError, KeyError):
        return False  # not listening yet, or still starting its plugins
