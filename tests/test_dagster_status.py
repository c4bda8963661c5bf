"""End to end through Dagster: what the status service serves after real syncs, and the
decoration Backstage's module derives from it never feeding back into a sync.

Real sensor ticks and runs, the local Microcks over HTTP, a SQLite status store, and the status
service on 127.0.0.1 over HTTP.
"""

from __future__ import annotations

from typing import Any

import httpx
import yaml
from dagster_fixtures import World

from microcks_pipeline.core.identity import service_version
from microcks_pipeline.status import running_status_server

PETSTORE = "api:default/petstore"
PAYMENTS = "api:default/payments-api"
USERS = "api:default/users-api"
DESCRIPTION = "Mocked Service ({}) with fixed responses for testing and development purposes"


def _entity(base: str, ref: str) -> dict[str, Any]:
    answer = httpx.get(f"{base}/api/v1/entities/{ref}", timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _mocks(entity: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["mockId"]: m for m in entity["mocks"]}


def test_the_status_service_lists_what_a_real_sync_serves(synced: World) -> None:
    with running_status_server(synced.store) as base:
        listing = httpx.get(f"{base}/api/v1/entities", timeout=10)
        petstore = _entity(base, PETSTORE)
        payments = _mocks(_entity(base, PAYMENTS))
        users = _mocks(_entity(base, USERS))

    assert listing.status_code == 200
    refs = {e["entityRef"] for e in listing.json()["entities"]}
    assert {PETSTORE, PAYMENTS, USERS} <= refs
    default = _mocks(petstore)["default"]
    version = service_version(PETSTORE, "default")
    assert default["mockUrl"] == f"{synced.server.base_url}/rest/petstore/{version}"
    assert (default["served"], default["status"], default["kind"]) == (True, "completed", "openapi")
    assert (default["serviceName"], default["serviceVersion"]) == ("petstore", version)
    assert default["serviceId"] and default["lastSuccessAt"]
    # the mock URL is the root the API's paths hang off: a path of the API answers there
    pet = httpx.get(default["mockUrl"] + "/pets/1", timeout=10)
    assert pet.status_code == 200
    assert pet.json()["name"] == "Rex"
    # includeInSwagger as microcks.yaml says; Swagger 2 known as such
    assert payments["internal"]["includeInSwagger"] is False
    assert payments["default"]["includeInSwagger"] is True
    assert {m["kind"] for m in users.values()} == {"swagger"}


def _decorate(definition: str, servers: list[dict[str, str]]) -> str:
    """What the catalog module does to an OpenAPI 3 definition without `servers`: a block
    appended at the end of the root map, every other byte kept (backstage/src/definition.ts)."""
    lines = ["servers:"]
    for server in servers:
        lines.append(f"  - url: {server['url']!r}".replace("'", '"'))
        lines.append(f"    description: {server['description']!r}".replace("'", '"'))
    return definition + "\n".join(lines) + "\n"


def test_ticks_after_the_decoration_start_no_run(synced: World) -> None:
    with running_status_server(synced.store) as base:
        mocks = _mocks(_entity(base, PETSTORE))
    servers = [
        {"url": m["mockUrl"], "description": DESCRIPTION.format(m["mockId"])}
        for m in mocks.values()
        if m["served"] and m["includeInSwagger"]
    ]
    assert len(servers) == 2
    before = {r.mock_id: r for r in synced.store.rows(PETSTORE)}
    info = synced.catalog_dir / "petstore" / "catalog-info.yaml"
    docs = list(yaml.safe_load_all(info.read_text()))
    (entity,) = [d for d in docs if d and d.get("kind") == "API"]
    entity["spec"]["definition"] = _decorate(entity["spec"]["definition"], servers)
    info.write_text(yaml.safe_dump_all(docs, sort_keys=False))

    for _ in range(5):
        assert not synced.tick_catalog().run_requests
        assert not synced.tick_sync().run_requests

    after = {r.mock_id: r for r in synced.store.rows(PETSTORE)}
    assert {m: r.status for m, r in after.items()} == dict.fromkeys(before, "completed")
    assert {m: r.fingerprint_hash for m, r in after.items()} == {
        m: r.fingerprint_hash for m, r in before.items()
    }
    assert {m: r.updated_at for m, r in after.items()} == {
        m: r.updated_at for m, r in before.items()
    }
