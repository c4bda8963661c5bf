"""The repository's Backstage catalog module (`backstage/`) in a real Backstage catalog backend
(see backstage_fixtures.py), installed from its packed files as an adopter installs it, reading
a status service that serves the status contract with fixed data: what API consumers see through
Backstage's catalog API (links, the sync-status annotation, servers in the definitions), and that
a status service going down changes none of it and causes no processing error.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml
from backstage_fixtures import Backstage, running_backstage

STATUS_TOKEN = "status-token-for-tests-77"
MOCKS = "http://microcks.test"
DESCRIPTION = "Mocked Service ({}) with fixed responses for testing and development purposes"
SYNC_STATUS = "microcks-pipeline/sync-status"

PETSTORE = """\
openapi: 3.0.3
info:
  title: Petstore
  version: 1.0.0
servers:
  - url: https://petstore.example.com/v1
    description: Production
paths: {}
"""
ORDERS = json.dumps(
    {"openapi": "3.1.0", "info": {"title": "Orders", "version": "2"}, "paths": {}}, indent=2
)
USERS = (
    '{"swagger": "2.0", "info": {"title": "Users", "version": "1"},\n'
    '  "host": "users.example.com", "basePath": "/v1", "paths": {}}\n'
)
EVENTS = """\
asyncapi: 2.6.0
info:
  title: User events
  version: 0.1.1
channels: {}
"""


def api(name: str, spec_type: str, definition: str, managed: bool = True) -> dict[str, Any]:
    annotations = {"bcgov/microcks-config-ref": "dir:."} if managed else {}
    return {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "API",
        "metadata": {
            "name": name,
            "annotations": annotations,
            "links": [{"url": f"https://{name}.example.com/docs", "title": "Docs"}],
        },
        "spec": {
            "type": spec_type,
            "lifecycle": "production",
            "owner": "team-a",
            "definition": definition,
        },
    }


def mock(name: str, mock_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "mockId": mock_id,
        "kind": "openapi",
        "status": "completed",
        "served": True,
        "mockUrl": f"{MOCKS}/rest/{name}/bk-0123456789abcdef-{mock_id}",
        "includeInSwagger": True,
        "lastError": None,
        "lastSuccessAt": "2026-01-01T00:00:00Z",
        "serviceId": f"svc-{name}-{mock_id}",
        "serviceName": name,
        "serviceVersion": f"bk-0123456789abcdef-{mock_id}",
        **fields,
    }


def entity_status(name: str, *mocks: dict[str, Any]) -> dict[str, Any]:
    errors = [m for m in mocks if m["status"] == "error"]
    return {
        "entityRef": f"api:default/{name}",
        "servedCount": sum(m["served"] for m in mocks),
        "errorCount": len(errors),
        "lastError": errors[0]["lastError"] if errors else None,
        "mocks": list(mocks),
    }


STATUS = [
    entity_status(
        "petstore",
        mock("petstore", "default"),
        mock("petstore", "internal", includeInSwagger=False),
        mock(
            "petstore",
            "broken",
            status="error",
            served=False,
            lastError="Microcks refused the upload: HTTP 400",
        ),
    ),
    entity_status("orders", mock("orders", "default")),
    entity_status("users", mock("users", "default", kind="swagger")),
    entity_status(
        "events",
        mock(
            "events",
            "default",
            kind="asyncapi",
            mockUrl=f"{MOCKS}/api/ws/User+events/0.1.1/user/signedup",
        ),
    ),
    entity_status("legacy", mock("legacy", "default")),  # listed, but not annotated
]


@dataclass
class StatusService:
    """A stand-in for microcks-pipeline's status service: the contract, fixed data."""

    entities: list[dict[str, Any]]
    requests: list[dict[str, str]] = field(default_factory=list)
    server: http.server.ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def body(self) -> tuple[bytes, str]:
        document = {"apiVersion": "v1", "generatedAt": "2026-01-01T00:00:00Z"}
        body = json.dumps({**document, "entities": self.entities}).encode()
        return body, f'"{hashlib.sha256(body).hexdigest()[:16]}"'

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def handler_for(service: StatusService) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            service.requests.append(dict(self.headers))
            if self.headers.get("Authorization") != f"Bearer {STATUS_TOKEN}":
                self.send_error(401)
                return
            body, etag = service.body()
            if self.path != "/api/v1/entities":
                self.send_error(404)
            elif self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
            else:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture(scope="module")
def status_service() -> Iterator[StatusService]:
    service = StatusService(STATUS)
    service.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler_for(service))
    service.server.daemon_threads = True
    thread = threading.Thread(target=service.server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield service
    service.stop()
    thread.join(10)


@pytest.fixture(scope="module")
def backstage(
    tmp_path_factory: pytest.TempPathFactory, status_service: StatusService
) -> Iterator[Backstage]:
    catalog = tmp_path_factory.mktemp("catalog")
    entities = [
        api("petstore", "openapi", PETSTORE),
        api("orders", "openapi", ORDERS),
        api("users", "openapi", USERS),
        api("events", "asyncapi", EVENTS),
        api("legacy", "openapi", PETSTORE, managed=False),
    ]
    (catalog / "catalog-info.yaml").write_text(yaml.safe_dump_all(entities, sort_keys=False))
    status = {"baseUrl": status_service.base_url, "token": STATUS_TOKEN, "cacheSeconds": 1}
    with running_backstage(tmp_path_factory.mktemp("backstage"), catalog, status) as running:
        running.wait_for(
            "petstore decorated", lambda: SYNC_STATUS in annotations(running, "petstore")
        )
        yield running


def entity(backstage: Backstage, name: str) -> dict[str, Any]:
    found = backstage.entity(name)
    assert found is not None, name
    return found


def annotations(backstage: Backstage, name: str) -> dict[str, str]:
    return entity(backstage, name)["metadata"].get("annotations", {})


def links(backstage: Backstage, name: str) -> list[tuple[str, str]]:
    return [
        (link.get("title"), link["url"]) for link in entity(backstage, name)["metadata"]["links"]
    ]


def definition(backstage: Backstage, name: str) -> str:
    return entity(backstage, name)["spec"]["definition"]


def test_an_openapi_3_entity_lists_its_mock_after_its_real_server(backstage):
    servers = yaml.safe_load(definition(backstage, "petstore"))["servers"]

    assert servers == [
        {"url": "https://petstore.example.com/v1", "description": "Production"},
        {
            "url": f"{MOCKS}/rest/petstore/bk-0123456789abcdef-default",
            "description": DESCRIPTION.format("default"),
        },
    ]


def test_every_served_mock_gets_a_link_and_a_mock_not_served_none(backstage):
    assert links(backstage, "petstore") == [
        ("Docs", "https://petstore.example.com/docs"),
        ("Mock (default)", f"{MOCKS}/rest/petstore/bk-0123456789abcdef-default"),
        ("Mock (internal)", f"{MOCKS}/rest/petstore/bk-0123456789abcdef-internal"),
    ]
    assert "broken" not in definition(backstage, "petstore")


def test_a_mock_left_out_of_swagger_gets_a_link_but_no_server(backstage):
    assert ("Mock (internal)", f"{MOCKS}/rest/petstore/bk-0123456789abcdef-internal") in links(
        backstage, "petstore"
    )
    assert "internal" not in definition(backstage, "petstore")


def test_the_status_annotation_counts_served_mocks_and_shows_the_error(backstage):
    assert annotations(backstage, "petstore")[SYNC_STATUS] == (
        "2 of 3 mocks served; 1 in error: broken: Microcks refused the upload: HTTP 400"
    )
    assert annotations(backstage, "orders")[SYNC_STATUS] == "1 of 1 mocks served"


def test_a_json_openapi_definition_stays_json(backstage):
    text = definition(backstage, "orders")

    assert json.loads(text)["servers"] == [
        {
            "url": f"{MOCKS}/rest/orders/bk-0123456789abcdef-default",
            "description": DESCRIPTION.format("default"),
        }
    ]
    assert text.startswith('{\n  "openapi": "3.1.0",')


def test_a_swagger_2_definition_is_byte_for_byte_the_same_and_the_mock_is_a_link(backstage):
    assert definition(backstage, "users") == USERS
    assert links(backstage, "users")[1:] == [
        ("Mock (default)", f"{MOCKS}/rest/users/bk-0123456789abcdef-default")
    ]


def test_an_asyncapi_entity_gets_a_websocket_server_for_its_mock(backstage):
    servers = yaml.safe_load(definition(backstage, "events"))["servers"]

    assert servers == {
        "microcks-default": {
            "url": "ws://microcks.test/api/ws/User+events/0.1.1/user/signedup",
            "protocol": "ws",
            "description": DESCRIPTION.format("default"),
        }
    }


def test_an_entity_without_the_microcks_annotation_is_not_touched(backstage):
    assert definition(backstage, "legacy") == PETSTORE
    assert SYNC_STATUS not in annotations(backstage, "legacy")
    assert links(backstage, "legacy") == [("Docs", "https://legacy.example.com/docs")]


def test_the_module_reads_the_bulk_listing_with_its_token_and_etag(backstage, status_service):
    seen = len(status_service.requests)
    backstage.wait_for("two more listings", lambda: len(status_service.requests) >= seen + 2)

    recent = status_service.requests[seen:]
    assert all(r["Authorization"] == f"Bearer {STATUS_TOKEN}" for r in recent)
    assert all(r.get("If-None-Match") == status_service.body()[1] for r in recent)


def test_a_stopped_status_service_leaves_every_decoration_and_no_processing_error(
    backstage, status_service
):
    before = {name: entity(backstage, name) for name in ("petstore", "users", "events")}
    log_start = len(backstage.log.read_text(errors="replace"))

    status_service.stop()
    backstage.wait_for(
        "the module to notice", lambda: "unavailable" in new_log(backstage, log_start)
    )
    time.sleep(4)  # several processing loops (1 s) and cache periods (1 s) without the service

    for name, was in before.items():
        now = entity(backstage, name)
        assert now["metadata"]["links"] == was["metadata"]["links"], name
        assert now["metadata"]["annotations"] == was["metadata"]["annotations"], name
        assert now["spec"]["definition"] == was["spec"]["definition"], name
        assert not now.get("status", {}).get("items"), now.get("status")  # processing errors
    warnings = [
        line for line in new_log(backstage, log_start).splitlines() if "unavailable" in line
    ]
    assert len(warnings) == 1, warnings
    assert "entities keep their last known mocks" in warnings[0]
    assert not [line for line in new_log(backstage, log_start).splitlines() if " error " in line]
    assert STATUS_TOKEN not in backstage.log.read_text(errors="replace")


def new_log(backstage: Backstage, start: int) -> str:
    """Backstage's log since `start`, without its colour codes."""
    return re.sub(r"\x1b\[[0-9;]*m", "", backstage.log.read_text(errors="replace")[start:])
