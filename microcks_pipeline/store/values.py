"""Checks and conversions of the values that cross the status store's boundary, and its keys."""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy.engine import Row
from sqlalchemy.exc import DBAPIError

from microcks_pipeline.core.lifecycle import Cause
from microcks_pipeline.core.model import (
    DesiredRow,
    Event,
    StatusRow,
)
from microcks_pipeline.store.sanitize import sanitize_error
from microcks_pipeline.store.schema import (
    ACTIONS,
    EVENT_TYPE_LEN,
    HASH_LEN,
    LEVELS,
    MOCK_ID_LEN,
    OWNER_LEN,
    REF_LEN,
    status_table,
)

GLOBAL_BACKOFF_KEY = "global_backoff"
# One state row per entity whose Microcks calls met a 5xx or 429, until its window is over.
SERVER_ERROR_KEY = "server_error:"
MAX_DETAILS_BYTES = 8192
_REF_CHUNK = 500  # entity refs per IN (...) lookup: well under every backend's bind limit
_STATUS_FIELDS = tuple(f.name for f in dataclasses.fields(StatusRow))

_t = status_table


def _utc(now: datetime | None, name: str = "now") -> datetime:
    if now is None:
        return datetime.now(UTC)
    if not isinstance(now, datetime) or now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
    return now.astimezone(UTC)


def _seconds(value: float, name: str) -> timedelta:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number of seconds")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number of seconds > 0, got {value!r}")
    return timedelta(seconds=value)


def _text(value: object, name: str, limit: int, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string")
    if len(value) > limit:
        raise ValueError(f"{name} is longer than {limit} characters")


def _check_desired(d: DesiredRow) -> None:
    if not isinstance(d, DesiredRow):
        raise ValueError(f"expected DesiredRow, got {type(d).__name__}")
    where = f"desired row {d.entity_ref!r}/{d.mock_id!r}"[:200]
    _text(d.entity_ref, f"{where}: entity_ref", REF_LEN)
    _text(d.mock_id, f"{where}: mock_id", MOCK_ID_LEN)
    _text(d.entity_hash, f"{where}: entity_hash", HASH_LEN)
    _text(d.microcks_version_id, f"{where}: microcks_version_id", HASH_LEN)
    _text(d.fingerprint_hash, f"{where}: fingerprint_hash", HASH_LEN)
    if d.desired_action not in ACTIONS:
        raise ValueError(f"{where}: desired_action must be one of {ACTIONS}")
    if d.error is not None and not isinstance(d.error, str):
        raise ValueError(f"{where}: error must be a string or None")
    _check_cause(d.cause, where)


def _check_cause(cause: object, where: str = "row") -> None:
    if cause is not None and cause not in tuple(Cause):
        raise ValueError(f"{where}: cause must be a lifecycle.Cause or None, got {cause!r}")


def _clean_details(value: Any) -> Any:
    """Details with every string sanitized like a message (URLs keep working, secrets do not)."""
    if isinstance(value, str):
        return sanitize_error(value)
    if isinstance(value, dict):
        return {str(k): _clean_details(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean_details(v) for v in value]
    return value


def _event_values(e: Event, now: datetime) -> dict[str, Any]:
    if not isinstance(e, Event):
        raise ValueError(f"expected Event, got {type(e).__name__}")
    where = f"event {e.event_type!r}"[:100]
    _text(e.entity_ref, f"{where}: entity_ref", REF_LEN)
    _text(e.event_type, f"{where}: event_type", EVENT_TYPE_LEN)
    _text(e.mock_id, f"{where}: mock_id", MOCK_ID_LEN, optional=True)
    _text(e.run_id, f"{where}: run_id", OWNER_LEN, optional=True)
    if e.level not in LEVELS:
        raise ValueError(f"{where}: level must be one of {LEVELS}")
    if not isinstance(e.message, str):
        raise ValueError(f"{where}: message must be a string")
    if e.sync_status_id is not None and (
        isinstance(e.sync_status_id, bool) or not isinstance(e.sync_status_id, int)
    ):
        raise ValueError(f"{where}: sync_status_id must be an integer or None")
    if not isinstance(e.details, dict):
        raise ValueError(f"{where}: details must be a dict")
    details = _clean_details(e.details)
    try:
        encoded = json.dumps(details, allow_nan=False)
    except (TypeError, ValueError):
        raise ValueError(
            f"{where}: details must be plain JSON (str, number, bool, list, dict)"
        ) from None
    if len(encoded.encode("utf-8")) > MAX_DETAILS_BYTES:
        raise ValueError(f"{where}: details exceed {MAX_DETAILS_BYTES} bytes of JSON")
    return {
        "entity_ref": e.entity_ref,
        "mock_id": e.mock_id,
        "sync_status_id": e.sync_status_id,
        "event_type": e.event_type,
        "level": e.level,
        "message": sanitize_error(e.message),
        "created_at": now,
        "run_id": e.run_id,
        "details": details,
    }


def _status_row(row: Row[Any]) -> StatusRow:
    m = row._mapping
    values = {name: m[name] for name in _STATUS_FIELDS}
    cause = values["failure_cause"]
    values["failure_cause"] = Cause(cause) if cause is not None else None
    return StatusRow(**values)


def _cause_value(cause: Cause | None) -> str | None:
    return str(cause) if cause is not None else None


def _backoff_value(value: str | None) -> tuple[Literal["auth", "outage"], str | None]:
    try:
        decoded = json.loads(value) if value else {}
    except ValueError:
        decoded = {}
    kind = "auth" if isinstance(decoded, dict) and decoded.get("kind") == "auth" else "outage"
    credentials = decoded.get("credentials") if isinstance(decoded, dict) else None
    return kind, credentials if isinstance(credentials, str) else None


def _is_missing_table(exc: DBAPIError) -> bool:
    if getattr(exc.orig, "pgcode", None) == "42P01":  # undefined_table
        return True
    return "no such table" in str(exc.orig)
