"""Screenshots of the mock URLs on Backstage's API page for the README (`make ui-shots`).

Given the running demo (local Microcks, synced sample catalog, status service), starts the real
Backstage catalog backend the tests run (tests/backstage_fixtures.py: `tests/backstage/` with
the repository's catalog module reading the demo's status service) on a copy of the demo's
catalog, and waits until the module decorated the entities. Backstage's API page itself is
React in Backstage's frontend app, which this repository does not build; a stand-in page
(bench/backstage-api-page/: swagger-ui-dist, the library behind the API docs plugin's OpenAPI
widget) fetches the entity from Backstage's catalog API and renders it. This module serves that
page on 127.0.0.1, proxying `/api/catalog/` to Backstage with the token, as the app would.
"""

from __future__ import annotations

import asyncio
import functools
import http.server
import json
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

HERE = Path(__file__).resolve().parent
PAGE = HERE / "backstage-api-page"
sys.path.insert(0, str(HERE.parent / "tests"))
from backstage_fixtures import TOKEN, Backstage, running_backstage  # noqa: E402
from devtools import Page  # noqa: E402

MOCK_SERVER = "Mocked Service ({}) with fixed responses for testing and development purposes"
SYNC_STATUS = "microcks-pipeline/sync-status"


@dataclass(frozen=True)
class EntityShot:
    name: str  # docs/<name>.png
    entity: str  # API entity name (namespace default)
    height: int
    expand_servers: bool  # show Swagger UI's servers dropdown as an open list


SHOTS = (
    # Three mocks: `default` and `v2-preview` become servers, `internal` (includeInSwagger:
    # false) only a link.
    EntityShot("backstage-api-servers", "payments-api", 720, expand_servers=True),
    # Swagger 2.0 and one mock in error (the demo removed its examples): links only.
    EntityShot("backstage-entity-links", "users-api", 760, expand_servers=False),
)


def installed() -> str | None:
    """Why the Backstage shots cannot run here, or None."""
    if not (PAGE / "node_modules" / "swagger-ui-dist").is_dir():
        return "the stand-in page is not installed: cd bench/backstage-api-page && npm ci"
    backstage = HERE.parent / "tests" / "backstage" / "node_modules" / "@backstage"
    if not backstage.is_dir():
        return "the test Backstage is not installed: make backstage-deps"
    return None


def _servers(entity: dict[str, Any] | None) -> list[str]:
    definition = yaml.safe_load((entity or {}).get("spec", {}).get("definition") or "{}")
    return [s.get("description", "") for s in definition.get("servers") or []]


def _annotation(entity: dict[str, Any] | None) -> str:
    return (entity or {}).get("metadata", {}).get("annotations", {}).get(SYNC_STATUS, "")


@contextmanager
def running_api_page(workdir: Path, catalog: Path, status_url: str) -> Iterator[str]:
    """Backstage on a copy of `catalog`, its module reading `status_url`, decorated; yields the
    stand-in page's base URL."""
    status = {"baseUrl": status_url, "cacheSeconds": 0}
    with running_backstage(workdir, catalog=catalog, status=status) as backstage:
        backstage.wait_for(
            "payments-api's mock servers and users-api's error",
            lambda: (
                MOCK_SERVER.format("v2-preview") in _servers(backstage.entity("payments-api"))
                and "in error" in _annotation(backstage.entity("users-api"))
            ),
            timeout=60,
        )
        with _page_server(backstage) as url:
            yield url


class _PageFiles(http.server.SimpleHTTPRequestHandler):
    backstage: Backstage

    def do_GET(self) -> None:
        if not self.path.startswith("/api/catalog/"):
            return super().do_GET()
        answer = httpx.get(
            self.backstage.base_url + self.path,
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        )
        self.send_response(answer.status_code)
        self.send_header("Content-Type", answer.headers.get("content-type", "application/json"))
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)
        return None

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def _page_server(backstage: Backstage) -> Iterator[str]:
    handler = type("Handler", (_PageFiles,), {"backstage": backstage})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(PAGE))
    )
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


# Swagger UI's servers dropdown is a <select>; a headless screenshot never shows its popup, so
# the same options are shown as an open list box instead.
EXPAND_SERVERS = """(() => {
  const select = document.querySelector('.servers select');
  if (!select) return false;
  select.size = select.options.length;
  return [...select.options].map(o => o.textContent);
})()"""


async def shoot(page: Page, url: str, out: Path) -> None:
    for shot in SHOTS:
        await page.resize(1440, shot.height)
        await page.call("Page.navigate", url=f"{url}/index.html?entity={shot.entity}")
        rendered = "!!(window.pageState && document.querySelector('.swagger-ui .info .title'))"
        if not await page.wait_true(rendered):
            await page.save(out / f"{shot.name}-timeout.png")
            state = await page.evaluate("window.pageState")
            raise SystemExit(f"{shot.entity}: the page never rendered ({state})")
        if shot.expand_servers:
            options = await page.evaluate(EXPAND_SERVERS)
            wanted = MOCK_SERVER.format("default")
            if not options or not any(wanted in o for o in options):
                raise SystemExit(f"{shot.entity}: no mock server in {json.dumps(options)}")
        await asyncio.sleep(1)  # let Swagger UI finish laying out
        await page.save(out / f"{shot.name}.png")
        print(f"  {out / shot.name}.png", flush=True)
