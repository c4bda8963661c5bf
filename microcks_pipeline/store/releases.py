"""Leases given back without the rows' own work: a batch run that stopped before entities it
claimed ahead, a run that died or was cancelled, a run that ended before taking its rows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from microcks_pipeline.core.lifecycle import Cause
from microcks_pipeline.core.model import Event
from microcks_pipeline.store.backoff import backoff_delay
from microcks_pipeline.store.base import StoreBase
from microcks_pipeline.store.sanitize import sanitize_error
from microcks_pipeline.store.schema import OWNER_LEN, events_table
from microcks_pipeline.store.values import (
    _REF_CHUNK,
    _cause_value,
    _event_values,
    _t,
    _text,
    _utc,
)


class Releases(StoreBase):
    """Rows a run leases, given back as `pending` with an event each."""

    def release_unstarted(
        self,
        row_ids: Sequence[int],
        owner: str,
        reason: str,
        *,
        now: datetime | None = None,
    ) -> int:
        """Give back the rows `owner` still leases among `row_ids`, as `pending`, due now,
        attempts and errors unchanged; returns how many. For a batch run that stops before
        entities it claimed ahead: nothing was tried on them (a run that died is
        `release_run`'s, which counts an attempt). A `retry_scheduled` event per row says why."""
        now = _utc(now)
        _text(owner, "owner", OWNER_LEN)
        ids = sorted(set(row_ids))
        released = 0
        with self._tx() as conn:
            for start in range(0, len(ids), _REF_CHUNK):
                chunk = _t.c.id.in_(ids[start : start + _REF_CHUNK])
                released += self._give_back(conn, chunk, owner, reason, now, count=False)
        return released

    # -- runs that ended while holding leases (see defs/run_failures.py) ---------------------

    def release_run(self, owner: str, reason: str, *, now: datetime | None = None) -> int:
        """Give back every row `owner` (a run id) still leases, as `pending`; returns how many.

        For a run that crashed, was killed or was cancelled. Each row counts the attempt
        (attempts + 1): the first such end makes it due at once, a row that keeps ending runs
        waits `backoff_delay(attempts)` like any repeated failure, so a crash loop backs off.
        A `retry_scheduled` event per row is written in the same transaction.
        """
        now = _utc(now)
        _text(owner, "owner", OWNER_LEN)
        with self._tx() as conn:
            return self._give_back(conn, sa.true(), owner, reason, now, count=True)

    def _give_back(
        self, conn: Connection, among: Any, owner: str, reason: str, now: datetime, *, count: bool
    ) -> int:
        """The rows `owner` leases `among` back to `pending` with `reason` as their error, an
        event each; `count`: as a failed attempt (due after `_crash_delay`), else due now."""
        message = sanitize_error(reason)
        held = sa.and_(_t.c.lease_owner == owner, _t.c.status == "leased")
        read = sa.select(_t.c.id, _t.c.entity_ref, _t.c.mock_id, _t.c.attempts)
        read = read.where(among, held)
        if self._pg:
            read = read.with_for_update()
        rows = list(conn.execute(read))
        if not rows:
            return 0
        due = {
            r.id: now + timedelta(seconds=_crash_delay(r.attempts) if count else 0) for r in rows
        }
        # Counted: the run died, not the mock (its error and cause say so).
        failed: dict[str, Any] = {}
        if count:
            failed = {
                "attempts": _t.c.attempts + 1,
                "last_error": message,
                "failure_cause": _cause_value(Cause.TRANSIENT),
            }
        conn.execute(
            sa.update(_t)
            .where(_t.c.id == sa.bindparam("row_id"), held)
            .values(
                status="pending",
                next_attempt_at=sa.bindparam("due"),
                lease_owner=None,
                lease_expires_at=None,
                updated_at=now,
                **failed,
            ),
            [{"row_id": row_id, "due": at} for row_id, at in due.items()],
        )
        conn.execute(
            sa.insert(events_table),
            [
                _event_values(_released(r, owner, message, due[r.id]), now)
                for r in sorted(rows, key=lambda r: r.id)
            ],
        )
        return len(rows)

    def requeue_untouched(
        self,
        entity_refs: Iterable[str],
        owner: str,
        reason: str,
        *,
        since: datetime,
        now: datetime | None = None,
    ) -> int:
        """Mark the pending rows of `entity_refs` untouched since `since` (a run's creation) as
        changed now; returns how many.

        For a run that ended before it took them (failed to launch, cancelled while queued):
        nothing else touches such rows, so their run key would stay the one Dagster already
        used and the sync sensor could not request them again. Attempts, backoff and errors
        are kept; a `retry_scheduled` event per row says why.
        """
        now, since = _utc(now), _utc(since, "since")
        _text(owner, "owner", OWNER_LEN)
        refs = sorted(set(entity_refs))
        if not refs:
            return 0
        message = sanitize_error(reason)
        untouched = sa.and_(
            _t.c.entity_ref.in_(refs), _t.c.status == "pending", _t.c.updated_at <= since
        )
        read = sa.select(_t.c.id, _t.c.entity_ref, _t.c.mock_id, _t.c.next_attempt_at)
        with self._tx() as conn:
            rows = list(conn.execute(read.where(untouched)))
            if not rows:
                return 0
            ids = [r.id for r in rows]
            conn.execute(sa.update(_t).where(_t.c.id.in_(ids), untouched).values(updated_at=now))
            conn.execute(
                sa.insert(events_table),
                [
                    _event_values(_released(r, owner, message, r.next_attempt_at or now), now)
                    for r in sorted(rows, key=lambda r: r.id)
                ],
            )
        return len(rows)


def _crash_delay(attempts: int) -> float:
    return 0.0 if attempts < 1 else backoff_delay(attempts)


def _released(row: Row[Any], owner: str, message: str, due: datetime) -> Event:
    return Event(
        entity_ref=row.entity_ref,
        mock_id=row.mock_id,
        sync_status_id=row.id,
        event_type="retry_scheduled",
        level="warn",
        message=message,
        run_id=owner,
        details={"next_attempt_at": due.isoformat()},
    )
