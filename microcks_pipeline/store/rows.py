"""Values read from and written to the status store (no SQL here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Action = Literal["reconcile", "delete"]
Status = Literal["pending", "leased", "completed", "error"]
Level = Literal["info", "warn", "error"]


@dataclass(frozen=True)
class StatusRow:
    id: int
    entity_ref: str
    mock_id: str
    entity_hash: str
    microcks_version_id: str
    desired_action: Action
    fingerprint_hash: str  # desired fingerprint
    applied_fingerprint: str | None
    status: Status
    attempts: int
    next_attempt_at: datetime | None
    lease_owner: str | None
    lease_expires_at: datetime | None
    last_error: str | None
    microcks_service_id: str | None
    created_at: datetime
    updated_at: datetime
    # What the last verified apply uploaded and saw (converge.AppliedRecord as JSON), or None.
    applied_artifacts: dict[str, Any] | None = None


@dataclass(frozen=True)
class DesiredRow:
    """What the processor wants for one (entity, mock): written by `upsert_desired`."""

    entity_ref: str
    mock_id: str
    entity_hash: str
    microcks_version_id: str
    desired_action: Action
    fingerprint_hash: str
    error: str | None = None  # set for a permanent load failure: the worker deletes, then `error`


@dataclass(frozen=True)
class Event:
    entity_ref: str
    event_type: str
    level: Level
    message: str
    mock_id: str | None = None
    sync_status_id: int | None = None
    run_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GlobalBackoff:
    until: datetime
    reason: str


@dataclass(frozen=True)
class StoredEvent:
    """An event as read back from the store: with its id and the time it was recorded."""

    id: int
    created_at: datetime
    entity_ref: str
    event_type: str
    level: Level
    message: str
    mock_id: str | None
    sync_status_id: int | None
    run_id: str | None
    details: dict[str, Any]
