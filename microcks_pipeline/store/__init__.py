"""Status store: the status, events and state tables, on SQLite or PostgreSQL."""

from microcks_pipeline.store.backoff import backoff_delay, retry_delay
from microcks_pipeline.store.desired_rows import Claim
from microcks_pipeline.store.rows import (
    Action,
    DesiredRow,
    Event,
    GlobalBackoff,
    Level,
    Status,
    StatusRow,
    StoredEvent,
)
from microcks_pipeline.store.sanitize import sanitize_error
from microcks_pipeline.store.status import StatusStore, StoreNotMigrated, StoreUnavailable

__all__ = [
    "Action",
    "Claim",
    "DesiredRow",
    "Event",
    "GlobalBackoff",
    "Level",
    "Status",
    "StatusRow",
    "StatusStore",
    "StoreNotMigrated",
    "StoreUnavailable",
    "StoredEvent",
    "backoff_delay",
    "retry_delay",
    "sanitize_error",
]
