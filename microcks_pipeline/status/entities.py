"""Status rows → the status API's entities (pure): what is served, and the contract's fields.

A mock is served when Microcks holds its last good content: it is wanted (`reconcile`), its last
successful sync recorded a mock URL, and it is not in `error`. A pending or leased row after a
transient failure or an edit is still served; a never-synced, errored or deleted mock is not.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from itertools import groupby
from typing import Any

API_VERSION = "v1"
KINDS = ("openapi", "swagger", "asyncapi", "graphql", "grpc", "postman", "soapui", "har")


def iso(value: datetime | None) -> str | None:
    """UTC ISO 8601 with a `Z`, millisecond precision; None stays None."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def is_internal(mock_id: str) -> bool:
    """Rows that are not mocks (`_entity`: the entity's own config failure)."""
    return mock_id.startswith("_")


def is_served(row: Any) -> bool:
    return row.desired_action == "reconcile" and row.status != "error" and bool(row.mock_url)


def _finished_delete(row: Any) -> bool:
    return row.desired_action == "delete" and row.status == "completed"


def mock_view(row: Any) -> dict[str, Any]:
    served = is_served(row)
    kind = row.api_kind if row.api_kind in KINDS else None
    return {
        "mockId": row.mock_id,
        "kind": kind,
        "status": row.status,
        "served": served,
        "mockUrl": row.mock_url if served else None,
        "includeInSwagger": row.include_in_swagger is not False,  # the format's default: true
        "lastError": row.last_error,
        "lastSuccessAt": iso(row.last_success_at) if row.desired_action == "reconcile" else None,
        "serviceId": row.microcks_service_id if served else None,
        "serviceName": row.service_name,
        "serviceVersion": row.microcks_version_id,
    }


def entity_view(entity_ref: str, rows: Sequence[Any]) -> dict[str, Any]:
    """One entity: its mocks (finished deletes and internal rows left out), counts and error.

    errorCount and lastError include the entity's own config failure (internal row)."""
    errors = sorted((r for r in rows if r.status == "error"), key=lambda r: r.updated_at)
    mocks = [mock_view(r) for r in rows if not is_internal(r.mock_id) and not _finished_delete(r)]
    return {
        "entityRef": entity_ref,
        "servedCount": sum(1 for m in mocks if m["served"]),
        "errorCount": len(errors),
        "lastError": next((r.last_error for r in reversed(errors) if r.last_error), None)
        or ("failed" if errors else None),
        "mocks": mocks,
    }


def entity_views(rows: Iterable[Any]) -> list[dict[str, Any]]:
    """Every entity of rows ordered by entity_ref (as `StatusView.view_rows` returns them)."""
    return [entity_view(ref, list(group)) for ref, group in groupby(rows, lambda r: r.entity_ref)]


def etag_of(entities: Sequence[dict[str, Any]]) -> str:
    """A strong ETag over the entities only (generatedAt may move without a change)."""
    text = json.dumps(entities, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return '"' + hashlib.sha256(text.encode("utf-8")).hexdigest()[:32] + '"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """If-None-Match against our ETag, with the weak comparison GET asks for (RFC 9110)."""
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == etag:
            return True
    return False
