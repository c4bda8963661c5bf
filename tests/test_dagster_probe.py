"""The asset check's probe: Microcks examples made concrete, and answers compared to them."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from microcks_pipeline.sync.probe import examples, probe


def pair(criteria: str, body: object, *, status: str = "200", query: list | None = None) -> dict:
    return {
        "request": {"name": "ex", "queryParameters": query or []},
        "response": {
            "name": "ex",
            "status": status,
            "mediaType": "application/json",
            "dispatchCriteria": criteria,
            "content": json.dumps(body),
        },
    }


VIEW = {
    "service": {"name": "petstore", "version": "v"},
    "messagesMap": {
        "POST /pets": [pair("", {"id": 9})],
        "GET /pets/{petId}": [pair("/petId=3", {"id": 3, "name": "Spike"})],
        "GET /orders": [pair("?status=shipped", {"n": 1}, query=[{"name": "page", "value": "2"}])],
        "GET /broken/{id}": [pair("", {})],  # no value for {id}: cannot be called
    },
}


def test_examples_fill_path_parts_and_query_and_put_gets_first() -> None:
    found = list(examples(VIEW))

    assert [(e.method, e.path) for e in found] == [
        ("GET", "/orders?page=2&status=shipped"),
        ("GET", "/pets/3"),
        ("POST", "/pets"),
    ]
    assert found[1].status == 200 and json.loads(found[1].expected)["name"] == "Spike"


class _Fixed(BaseHTTPRequestHandler):
    answer: tuple[int, str] = (200, "{}")

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        status, body = self.server.answer  # type: ignore[attr-defined]
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def mock_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Fixed)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def base(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/rest/petstore/v"


ONE = {"messagesMap": {"GET /pets/{petId}": [pair("/petId=3", {"id": 3, "name": "Spike"})]}}


def test_an_answer_equal_to_the_example_passes(mock_server: ThreadingHTTPServer) -> None:
    mock_server.answer = (200, '{"name": "Spike", "id": 3}')  # same JSON, other key order

    with httpx.Client() as http:
        result = probe(ONE, base(mock_server), http)

    assert result.ok, result.detail
    assert result.url.endswith("/rest/petstore/v/pets/3")


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ((200, '{"id": 3, "name": "Spiky"}'), "body differs"),
        ((404, "{}"), "HTTP 404, expected 200"),
    ],
)
def test_a_different_answer_fails_with_the_reason(
    mock_server: ThreadingHTTPServer, answer: tuple[int, str], reason: str
) -> None:
    mock_server.answer = answer

    with httpx.Client() as http:
        result = probe(ONE, base(mock_server), http)

    assert not result.ok
    assert reason in result.detail
    assert "GET /pets/{petId}" in result.detail


def test_a_service_without_a_callable_example_fails() -> None:
    with httpx.Client() as http:
        result = probe({"messagesMap": {}}, "http://127.0.0.1:9/rest/x/y", http)

    assert not result.ok
    assert "no example" in result.detail


def test_an_unreachable_mock_fails_without_raising() -> None:
    with httpx.Client(timeout=2) as http:
        result = probe(ONE, "http://127.0.0.1:9/rest/petstore/v", http)

    assert not result.ok
    assert "ConnectError" in result.detail
