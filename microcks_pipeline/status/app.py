"""The status service's HTTP app (Starlette): the contract's routes, auth and error answers.

Routes (contract v1, documented in the README's "Status API"):
`GET /api/v1/entities` (ETag, 304 on If-None-Match), `GET /api/v1/entities/{entity ref}`,
`GET /healthz` (never behind the token) and `GET /metrics` (Prometheus text).
No answer ever carries a stack trace, a token or a database URL: store outages answer a fixed
503, anything unexpected a fixed 500.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from microcks_pipeline.core.errors import StoreNotMigrated, StoreUnavailable
from microcks_pipeline.status.entities import (
    API_VERSION,
    entity_view,
    entity_views,
    etag_matches,
    etag_of,
    iso,
)
from microcks_pipeline.status.metrics import StatusCollector
from microcks_pipeline.store import StatusStore
from microcks_pipeline.store.migrate import head_revision
from microcks_pipeline.store.schema import REF_LEN

TOKEN_ENV = "MICROCKS_PIPELINE_STATUS_TOKEN"
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    """The whole listing as of one store version, rendered once."""

    version: tuple[int, datetime | None]
    entities: list[dict[str, Any]]
    etag: str
    body: bytes
    last_success: datetime | None


class Listing:
    """The bulk listing, rebuilt only when the store's (row count, newest update) moves: an
    unchanged store costs one aggregate query per request."""

    def __init__(self, store: StatusStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None

    def current(self) -> Snapshot:
        version = self.store.view_version()
        with self._lock:
            if self._snapshot is not None and self._snapshot.version == version:
                return self._snapshot
            rows = self.store.view_rows()
            entities = entity_views(rows)
            newest = version[1] or datetime.now(UTC)
            body = {"apiVersion": API_VERSION, "generatedAt": iso(newest), "entities": entities}
            successes = [r.last_success_at for r in rows if r.last_success_at is not None]
            self._snapshot = Snapshot(
                version=version,
                entities=entities,
                etag=etag_of(entities),
                body=json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8"),
                last_success=max(successes, default=None),
            )
            return self._snapshot


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


Handler = Callable[[Request], Awaitable[Response]]


def create_app(store: StatusStore, *, token: str | None = None) -> Starlette:
    """The app over `store`; with `token`, /api/v1/* and /metrics need `Bearer <token>`."""
    listing = Listing(store)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StatusCollector(listing.current))
    expected = f"Bearer {token}".encode() if token else None

    def guarded(handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        def wrapper(request: Request) -> Response:
            if expected is not None:
                given = request.headers.get("authorization", "").encode("utf-8", "replace")
                if not hmac.compare_digest(given, expected):
                    headers = {"WWW-Authenticate": 'Bearer realm="microcks-pipeline-status"'}
                    return _error(401, "a valid bearer token is required", headers)
            return handler(request)

        return wrapper

    def entities(request: Request) -> Response:
        snap = listing.current()
        headers = {"ETag": snap.etag, "Cache-Control": "no-cache"}
        if etag_matches(request.headers.get("if-none-match"), snap.etag):
            return Response(status_code=304, headers=headers)
        return Response(snap.body, media_type="application/json", headers=headers)

    def entity(request: Request) -> Response:
        ref = request.path_params["ref"].strip().lower()
        rows = store.view_rows(ref)
        if not rows:
            return _error(404, f"no entity {ref[:REF_LEN]!r} in the status store")
        return JSONResponse(entity_view(ref, rows))

    def metrics(request: Request) -> Response:
        listing.current()  # a store outage answers 503 here, not a half-empty scrape
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    def healthz(request: Request) -> Response:
        store.ping()
        if store.schema_revision() != head_revision():
            # The pipeline migrates the store when it starts; until then the reads would fail.
            return _error(503, "status store not migrated to this version")
        return JSONResponse({"status": "ok"})

    async def unavailable(request: Request, exc: Exception) -> Response:
        _log.warning("status store unavailable: %s", type(exc).__name__)
        return _error(503, "status store unavailable")

    async def internal(request: Request, exc: Exception) -> Response:
        _log.error("status service error on %s: %s", request.url.path, type(exc).__name__)
        return _error(500, "internal error")

    routes = [
        Route("/api/v1/entities", guarded(entities), methods=["GET"]),
        Route("/api/v1/entities/{ref:path}", guarded(entity), methods=["GET"]),
        Route("/metrics", guarded(metrics), methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
    return Starlette(
        routes=routes,
        exception_handlers={
            StoreUnavailable: unavailable,
            StoreNotMigrated: unavailable,
            Exception: internal,
        },
    )
