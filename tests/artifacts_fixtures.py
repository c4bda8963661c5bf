"""Shared helpers for the artifact, stamp and desired-state tests: tiny repos, entities, a real
local HTTP server, a transport that records (and refuses) every request, and Microcks' type
sniffing rules (reference/microcks/NOTES.md §1) to check stamped output."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from microcks_pipeline.core.identity import ANNOTATION, entity_ref
from microcks_pipeline.sources.catalog.entity import Entity, EntityLocation


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    """Create `files` (repo-relative path → content) under `root`; returns root."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


def file_entity(
    repo: Path,
    folder: str = "apis/pet",
    *,
    name: str = "petstore",
    annotation: str | None = "dir:.",
    definition: Any = None,
) -> Entity:
    """An entity as the filesystem catalog source builds it, from `<repo>/<folder>/catalog-info.yaml`."""
    annotations = {ANNOTATION: annotation} if annotation is not None else {}
    spec: dict[str, Any] = {"type": "openapi"}
    if definition is not None:
        spec["definition"] = definition
    target = str(repo / folder / "catalog-info.yaml")
    return Entity(
        ref=entity_ref(name),
        name=name,
        namespace="default",
        annotations=annotations,
        spec=spec,
        location=EntityLocation("file", target, repo_root=str(repo)),
    )


def url_entity(
    repo_root: str,
    folder: str,
    *,
    name: str = "petstore",
    annotation: str = "dir:.",
    definition: Any = None,
) -> Entity:
    """An entity as the Backstage source builds it: located at `<repo_root><folder>/catalog-info.yaml`."""
    spec: dict[str, Any] = {"type": "openapi"}
    if definition is not None:
        spec["definition"] = definition
    return Entity(
        ref=entity_ref(name),
        name=name,
        namespace="default",
        annotations={ANNOTATION: annotation},
        spec=spec,
        location=EntityLocation(
            "url", f"{repo_root}{folder}/catalog-info.yaml", repo_root=repo_root
        ),
    )


OPENAPI_YAML = """openapi: 3.0.2
info:
  title: Pet Store
  version: 1.0.0
paths:
  /pets:
    get:
      operationId: listPets
      responses:
        '200':
          description: ok
"""

EXAMPLES_YAML = """apiVersion: mocks.microcks.io/v1alpha1
kind: APIExamples
metadata:
  name: Pet Store
  version: 1.0.0
operations:
  GET /pets:
    all:
      request: {}
      response:
        status: 200
        body: [{"name": "rex"}]
"""

METADATA_YAML = """apiVersion: mocks.microcks.io/v1alpha1
kind: APIMetadata
metadata:
  name: Pet Store
  version: 1.0.0
  labels: {domain: pets}
operations:
  GET /pets:
    dispatcher: FALLBACK
"""


# ---- Microcks' type sniffing (NOTES.md §1): first line matching a rule, rules in this order ---

_OPENAPI = re.compile(r""".*['"]?openapi['"]?\s*:\s*['"]?[3\.].*""")
_SWAGGER = re.compile(r""".*['"]?swagger['"]?\s*:\s*.*""")
_ASYNCAPI = re.compile(r""".*['"]?asyncapi['"]?\s*:\s*['"]?[23].*""")


def sniff(content: bytes) -> str:
    """The importer Microcks would choose for `content`."""
    for raw in content.decode("utf-8").splitlines():
        line = raw.strip()
        if line.startswith('"_postman_id":'):
            return "postman"
        if line.startswith('"collection":'):
            return "postman-workspace"
        if _OPENAPI.match(line):
            return "openapi"
        if _SWAGGER.match(line):
            return "swagger"
        if line.startswith("<?xml"):
            return "soapui"
        if _ASYNCAPI.match(line):
            return "asyncapi"
        if line.startswith('syntax = "proto3";'):
            return "protobuf"
        if "kind: APIMetadata" in line:
            return "APIMetadata"
        if "kind: APIExamples" in line:
            return "APIExamples"
    return "har"


# ---- HTTP ---------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (timeouts)
    send_length: bool = True  # False: no Content-Length, the body ends when the connection closes


@dataclass
class Seen:
    path: str
    headers: dict[str, str]


class LocalServer:
    """A real HTTP server on 127.0.0.1 with fixed routes; records every request it receives."""

    def __init__(self) -> None:
        self.routes: dict[str, Reply | Callable[[Seen], Reply]] = {}
        self.seen: list[Seen] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                seen = Seen(self.path, {k.lower(): v for k, v in self.headers.items()})
                server.seen.append(seen)
                route = server.routes.get(self.path.split("?", 1)[0], Reply(404))
                reply = route(seen) if callable(route) else route
                if reply.delay:
                    threading.Event().wait(reply.delay)
                try:
                    self.send_response(reply.status)
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    if reply.send_length and "Content-Length" not in reply.headers:
                        self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def __enter__(self) -> LocalServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def local_server() -> Iterator[LocalServer]:
    with LocalServer() as server:
        yield server


class RecordingTransport(httpx.BaseTransport):
    """Records every request that reaches the network layer and refuses it: a policy refusal
    must leave this empty."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        raise httpx.ConnectError("the test transport never connects", request=request)
