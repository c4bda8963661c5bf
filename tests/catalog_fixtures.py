"""Test helpers for the catalog sources: a faithful fake Backstage catalog served by uvicorn.

The fake implements the part of the catalog REST API the pipeline uses, following
reference/backstage-catalog.md: `GET /api/catalog/entities/by-query` (ORed `filter` params of
ANDed, case-insensitive conditions; `fields`; `limit`, default 20; opaque cursors that carry the
filter, so filters are ignored when a cursor is given) and
`GET /api/catalog/entities/by-name/{kind}/{namespace}/{name}` (404 NotFoundError) and
`POST /api/catalog/refresh` (`{"entityRef"}`, recorded), all behind a static bearer token
(401 AuthenticationError otherwise). Faults can be injected per page.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

TOKEN = "static-token-for-tests-0123"


def api_entity(
    name: str,
    *,
    namespace: str | None = None,
    kind: str = "API",
    annotations: dict[str, str] | None = None,
    config_ref: str | None = "dir:.",
    location: str
    | None = "url:https://github.com/org/repo/blob/main/apis/{name}/catalog-info.yaml",
) -> dict[str, Any]:
    """An entity as the catalog API returns it: stitched, with `spec.definition` substituted."""
    notes: dict[str, str] = {}
    if config_ref is not None:
        notes["bcgov/microcks-config-ref"] = config_ref
    if location is not None:
        notes["backstage.io/managed-by-location"] = location.format(name=name)
        notes["backstage.io/managed-by-origin-location"] = location.format(name="seed")
    notes.update(annotations or {})
    metadata: dict[str, Any] = {
        "name": name,
        "uid": f"uid-{name}",
        "etag": f"etag-{name}",
        "annotations": notes,
    }
    if namespace is not None:
        metadata["namespace"] = namespace
    return {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": kind,
        "metadata": metadata,
        "spec": {
            "type": "openapi",
            "lifecycle": "production",
            "owner": "group:team-a",
            "definition": f"openapi: 3.0.0\ninfo:\n  title: {name}\n  version: '1'\npaths: {{}}\n",
        },
        "relations": [{"type": "ownedBy", "targetRef": "group:default/team-a"}],
        "status": {"items": []},
    }


def _flatten(value: Any, prefix: str, out: dict[str, set[str]]) -> None:
    """Backstage's search table: dotted lower-cased keys; arrays traversed; values lower-cased."""
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(v, f"{prefix}.{k}" if prefix else str(k), out)
    elif isinstance(value, list):
        for v in value:
            _flatten(v, prefix, out)
    elif value is not None:
        out.setdefault(prefix.lower(), set()).add(str(value).lower())


def _matches(entity: dict[str, Any], filters: list[str]) -> bool:
    if not filters:
        return True
    flat: dict[str, set[str]] = {}
    _flatten(entity, "", flat)
    for one in filters:  # filters are ORed, conditions inside one are ANDed
        ok = True
        for cond in one.split(","):
            key, sep, want = cond.strip().partition("=")
            values = flat.get(key.strip().lower())
            if values is None or (sep and want.strip().lower() not in values):
                ok = False
                break
        if ok:
            return True
    return False


def _project(entity: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    if not fields:
        return entity
    out: dict[str, Any] = {}
    for path in fields:
        src: Any = entity
        parts = path.split(".")
        for part in parts:
            src = src.get(part) if isinstance(src, dict) else None
        if src is None:
            continue
        dst = out
        for part in parts[:-1]:
            dst = dst.setdefault(part, {})
        dst[parts[-1]] = src
    return out


def _ref(entity: dict[str, Any]) -> str:
    md = entity["metadata"]
    return f"{entity['kind']}:{md.get('namespace', 'default')}/{md['name']}".lower()


def _error(status: int, name: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"name": name, "message": message}, "response": {"statusCode": status}},
        status_code=status,
    )


@dataclass
class FakeBackstage:
    """State and fault switches of one fake catalog; `requests` records each query's params."""

    entities: list[dict[str, Any]] = field(default_factory=list)
    token: str = TOKEN
    page_status: dict[int, int] = field(default_factory=dict)  # page number → HTTP status
    page_body: dict[int, str] = field(default_factory=dict)  # page number → raw body (200)
    page_redirect: dict[int, str] = field(default_factory=dict)  # page number → Location
    sleep_seconds: float = 0.0
    repeat_cursor: bool = False
    requests: list[dict[str, list[str]]] = field(default_factory=list)
    refreshes: list[str] = field(default_factory=list)  # entityRef of each accepted refresh
    refresh_status: int = 200

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/api/catalog/entities/by-query", self.by_query),
                Route("/api/catalog/entities/by-name/{kind}/{namespace}/{name}", self.by_name),
                Route("/api/catalog/refresh", self.refresh, methods=["POST"]),
            ]
        )

    async def refresh(self, request: Request) -> Response:
        if not self._authorized(request):
            return _error(401, "AuthenticationError", "Missing or invalid credentials")
        if self.refresh_status != 200:
            return _error(self.refresh_status, "Error", "injected failure")
        self.refreshes.append((await request.json())["entityRef"])
        return Response(status_code=200)

    def _authorized(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {self.token}"

    async def by_query(self, request: Request) -> Response:
        params = {k: request.query_params.getlist(k) for k in request.query_params.keys()}
        self.requests.append(params)
        if not self._authorized(request):
            return _error(401, "AuthenticationError", "Missing or invalid credentials")
        if self.sleep_seconds:
            await asyncio.sleep(self.sleep_seconds)
        limit = int(params.get("limit", ["20"])[0])
        fields = [f for raw in params.get("fields", []) for f in raw.split(",") if f]
        if "cursor" in params:
            state = json.loads(base64.urlsafe_b64decode(params["cursor"][0]))
            filters, offset = state["filter"], state["offset"]
        else:
            filters, offset = params.get("filter", []), 0
        page = offset // limit + 1
        if page in self.page_status:
            return _error(self.page_status[page], "Error", "injected failure")
        if page in self.page_redirect:
            return Response(status_code=307, headers={"location": self.page_redirect[page]})
        if page in self.page_body:
            return PlainTextResponse(self.page_body[page])
        matched = sorted((e for e in self.entities if _matches(e, filters)), key=_ref)
        items = [_project(e, fields) for e in matched[offset : offset + limit]]
        page_info: dict[str, str] = {}
        if offset + limit < len(matched):
            next_offset = offset if self.repeat_cursor else offset + limit
            page_info["nextCursor"] = _cursor(filters, next_offset)
        if offset > 0:
            page_info["prevCursor"] = _cursor(filters, max(0, offset - limit))
        return JSONResponse({"items": items, "totalItems": len(matched), "pageInfo": page_info})

    async def by_name(self, request: Request) -> Response:
        if not self._authorized(request):
            return _error(401, "AuthenticationError", "Missing or invalid credentials")
        p = request.path_params
        ref = f"{p['kind']}:{p['namespace']}/{p['name']}".lower()
        for entity in self.entities:
            if _ref(entity) == ref:
                return JSONResponse(entity)
        return _error(
            404,
            "NotFoundError",
            f"No entity named '{p['name']}' found, with kind '{p['kind']}' "
            f"in namespace '{p['namespace']}'",
        )


def _cursor(filters: list[str], offset: int) -> str:
    raw = json.dumps({"filter": filters, "offset": offset}).encode()
    return base64.urlsafe_b64encode(raw).decode()


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Run an ASGI app under uvicorn on 127.0.0.1 (a free port) in a thread; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def closed_port() -> int:
    """A local port with nothing listening (bound then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
