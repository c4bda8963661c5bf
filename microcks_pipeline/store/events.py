"""The append-only events table: write, read, prune."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from microcks_pipeline.core.model import (
    Event,
    StoredEvent,
)
from microcks_pipeline.store.base import StoreBase
from microcks_pipeline.store.schema import (
    events_table,
)
from microcks_pipeline.store.values import (
    _event_values,
    _utc,
)


def insert_events(conn: Connection, events: Sequence[Event], now: datetime) -> int:
    """Insert events inside the caller's transaction (a transition and the event saying so
    commit together: one round trip less, and never one without the other)."""
    values = [_event_values(e, now) for e in events]
    if values:
        conn.execute(sa.insert(events_table), values)
    return len(values)


class EventLog(StoreBase):
    """`csit_microcks_sync_events`: what happened to each row, in order."""

    # -- events -----------------------------------------------------------------------------

    def append_events(self, events: Sequence[Event], *, now: datetime | None = None) -> int:
        """Append events (messages and detail strings sanitized); all or nothing."""
        now = _utc(now)
        values = [_event_values(e, now) for e in events]  # checked before any transaction
        if not values:
            return 0
        with self._tx() as conn:
            conn.execute(sa.insert(events_table), values)
        return len(values)

    def events(self, *, entity_ref: str | None = None, limit: int = 100) -> list[StoredEvent]:
        """The newest events first, optionally of one entity."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError("limit must be an integer >= 1")
        e = events_table
        stmt = sa.select(e).order_by(e.c.id.desc()).limit(limit)
        if entity_ref is not None:
            stmt = stmt.where(e.c.entity_ref == entity_ref)
        with self._tx(write=False) as conn:
            return [
                StoredEvent(
                    id=r.id,
                    created_at=r.created_at,
                    entity_ref=r.entity_ref,
                    event_type=r.event_type,
                    level=r.level,
                    message=r.message,
                    mock_id=r.mock_id,
                    sync_status_id=r.sync_status_id,
                    run_id=r.run_id,
                    details=r.details or {},
                )
                for r in conn.execute(stmt)
            ]

    def prune_events(self, *, older_than: datetime) -> int:
        """Delete events recorded before `older_than`; returns how many."""
        older_than = _utc(older_than, "older_than")
        stmt = sa.delete(events_table).where(events_table.c.created_at < older_than)
        with self._tx() as conn:
            return conn.execute(stmt).rowcount
