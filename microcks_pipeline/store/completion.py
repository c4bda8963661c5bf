"""Completion and retries: compare-and-set completion, failures, due entities, dead runs' leases."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from microcks_pipeline.core.lifecycle import Cause
from microcks_pipeline.core.model import (
    Event,
    ServedMock,
    StatusRow,
)
from microcks_pipeline.store.backoff import backoff_delay, checked_retry_after, retry_delay
from microcks_pipeline.store.base import StoreBase
from microcks_pipeline.store.events import insert_events
from microcks_pipeline.store.sanitize import sanitize_error
from microcks_pipeline.store.schema import (
    OWNER_LEN,
    events_table,
)
from microcks_pipeline.store.values import (
    _REF_CHUNK,
    _cause_value,
    _check_cause,
    _event_values,
    _status_row,
    _t,
    _text,
    _utc,
)


class Completion(StoreBase):
    """How a leased row ends: completed, retried later, failed, or given back by a dead run."""

    @staticmethod
    def _held(row_id: int, owner: str) -> Any:
        return sa.and_(_t.c.id == row_id, _t.c.lease_owner == owner, _t.c.status == "leased")

    @staticmethod
    def _to_pending(conn: Connection, row_id: int, owner: str, now: datetime) -> bool:
        return _unlease(conn, Completion._held(row_id, owner), now) == 1

    def complete(
        self,
        row_id: int,
        owner: str,
        fingerprint: str,
        *,
        service_id: str | None = None,
        applied: dict[str, Any] | None = None,
        cause: Cause | None = None,
        served: ServedMock | None = None,
        now: datetime | None = None,
        events: Sequence[Event] = (),
        entity_rows: list[StatusRow] | None = None,
    ) -> bool:
        """Compare-and-set the row to `completed` with `fingerprint` applied.

        Succeeds only while `owner` holds the lease and `fingerprint` is still the desired one.
        If the desired state moved during the run, the row goes back to `pending` (it runs again)
        and False is returned; a row no longer held by `owner` is left alone (False).
        `service_id` and `applied` (the artifacts applied, as JSON) are recorded when given; a
        completed delete has neither any more.
        `cause`: what the completed row records as its cause (a removal's, or none).
        `served`: what a reconcile left served (kind, includeInSwagger, name, mock URL); a
        completed delete clears the mock URL, so the status service stops calling it served.
        `events`: written in the same transaction when the row completed (not when it did not).
        `entity_rows`: when given, filled with all of the entity's rows as they stand after it,
        read in the same transaction (a run reports them: one round trip less).
        """
        now = _utc(now)
        _check_cause(cause)
        service = sa.literal(service_id, sa.String) if service_id is not None else None
        record = sa.literal(applied, sa.JSON) if applied is not None else _t.c.applied_artifacts
        deleting = _t.c.desired_action == "delete"
        stmt = (
            sa.update(_t)
            .where(self._held(row_id, owner), _t.c.fingerprint_hash == fingerprint)
            .values(
                status="completed",
                applied_fingerprint=fingerprint,
                lease_owner=None,
                lease_expires_at=None,
                attempts=0,
                next_attempt_at=None,
                last_error=None,
                failure_cause=_cause_value(cause),
                microcks_service_id=sa.case(
                    (_t.c.desired_action == "delete", sa.null()),
                    else_=service if service is not None else _t.c.microcks_service_id,
                ),
                applied_artifacts=sa.case((deleting, sa.null()), else_=record),
                mock_url=sa.case((deleting, sa.null()), else_=_given(served, "mock_url")),
                api_kind=_given(served, "kind", "api_kind"),
                include_in_swagger=_given(served, "include_in_swagger"),
                service_name=_given(served, "service_name"),
                last_success_at=sa.case(
                    (deleting, _t.c.last_success_at),
                    else_=sa.literal(now, _t.c.last_success_at.type),
                ),
                updated_at=now,
            )
        )
        with self._tx() as conn:
            done = conn.execute(stmt).rowcount == 1
            if done:
                insert_events(conn, events, now)  # an invalid event rolls the completion back
            else:
                self._to_pending(conn, row_id, owner, now)
            if entity_rows is not None:
                entity_rows[:] = _entity_rows(conn, row_id)
            return done

    def release(self, row_id: int, owner: str, *, now: datetime | None = None) -> bool:
        """Give the row back as `pending`, due now; False when `owner` does not hold it."""
        now = _utc(now)
        with self._tx() as conn:
            return self._to_pending(conn, row_id, owner, now)

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

    def fail_transient(
        self,
        row_id: int,
        owner: str,
        error: str,
        *,
        retry_after: float | None = None,
        cause: Cause = Cause.TRANSIENT,
        fingerprint: str | None = None,
        now: datetime | None = None,
    ) -> datetime | None:
        """Back to `pending` after a retryable failure, due after a growing, jittered backoff.

        Returns the next attempt time, or None (nothing written) when `owner` does not hold it.
        With `fingerprint` (the desired fingerprint the run claimed): if the desired state moved
        meanwhile, the row just goes back to `pending`, due now, its new cause kept (None).
        """
        now = _utc(now)
        checked_retry_after(retry_after)
        _check_cause(cause)
        reason = sanitize_error(error)
        guard = self._held(row_id, owner)
        with self._tx() as conn:
            read = sa.select(_t.c.attempts, _t.c.fingerprint_hash).where(guard)
            if self._pg:
                read = read.with_for_update()
            held = conn.execute(read).first()
            if held is None:
                return None
            if fingerprint is not None and held.fingerprint_hash != fingerprint:
                self._to_pending(conn, row_id, owner, now)
                return None
            next_at = now + timedelta(seconds=retry_delay(held.attempts + 1, retry_after))
            conn.execute(
                sa.update(_t)
                .where(guard)
                .values(
                    status="pending",
                    attempts=held.attempts + 1,
                    next_attempt_at=next_at,
                    lease_owner=None,
                    lease_expires_at=None,
                    last_error=reason,
                    failure_cause=_cause_value(cause),
                    updated_at=now,
                )
            )
            return next_at

    def fail_permanent(
        self,
        row_id: int,
        owner: str,
        error: str,
        *,
        fingerprint: str | None = None,
        cause: Cause = Cause.REJECTED_BY_MICROCKS,
        now: datetime | None = None,
    ) -> bool:
        """Mark the row `error` with the sanitized reason and its cause; it waits for a new fingerprint or a
        forced re-run. With `fingerprint`, the same compare-and-set as `complete` applies.
        """
        now = _utc(now)
        _check_cause(cause)
        reason = sanitize_error(error)
        guard = self._held(row_id, owner)
        if fingerprint is not None:
            guard = sa.and_(guard, _t.c.fingerprint_hash == fingerprint)
        stmt = (
            sa.update(_t)
            .where(guard)
            .values(
                status="error",
                attempts=_t.c.attempts + 1,
                next_attempt_at=None,
                lease_owner=None,
                lease_expires_at=None,
                last_error=reason,
                failure_cause=_cause_value(cause),
                # Its services may be gone (a load failure deletes them): never advertise it
                # again before the next successful sync records a URL.
                mock_url=None,
                updated_at=now,
            )
        )
        with self._tx() as conn:
            if conn.execute(stmt).rowcount == 1:
                return True
            if fingerprint is not None:
                self._to_pending(conn, row_id, owner, now)
            return False

    def due_entities(
        self, *, now: datetime | None = None, limit: int | None = None
    ) -> dict[str, list[StatusRow]]:
        """entity_ref → its rows a run should take now, oldest first; at most `limit` entities."""
        now = _utc(now)
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
            raise ValueError("limit must be an integer or None")
        if limit is not None and limit < 0:
            raise ValueError("limit must be >= 0")
        if limit == 0:
            return {}
        cond = self._takeable(now)
        stmt = sa.select(_t).where(cond).order_by(_t.c.updated_at, _t.c.id)
        if limit is not None:
            oldest = (
                sa.select(_t.c.entity_ref)
                .where(cond)
                .group_by(_t.c.entity_ref)
                .order_by(sa.func.min(_t.c.updated_at), sa.func.min(_t.c.id))
                .limit(limit)
            )
            stmt = stmt.where(_t.c.entity_ref.in_(oldest))
        out: dict[str, list[StatusRow]] = {}
        with self._tx(write=False) as conn:
            for r in conn.execute(stmt):
                row = _status_row(r)
                out.setdefault(row.entity_ref, []).append(row)
        return out

    def waiting_for_retry(
        self, *, now: datetime | None = None, limit: int = 1000
    ) -> list[StatusRow]:
        """Pending rows backing off after a failure (next attempt after `now`), soonest first."""
        now = _utc(now)
        stmt = (
            sa.select(_t)
            .where(_t.c.status == "pending", _t.c.next_attempt_at > now)
            .order_by(_t.c.next_attempt_at, _t.c.id)
            .limit(limit)
        )
        with self._tx(write=False) as conn:
            return [_status_row(r) for r in conn.execute(stmt)]

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


def _entity_rows(conn: Connection, row_id: int) -> list[StatusRow]:
    """Every row of the entity of row `row_id`, by mock id."""
    entity = sa.select(_t.c.entity_ref).where(_t.c.id == row_id).scalar_subquery()
    stmt = sa.select(_t).where(_t.c.entity_ref == entity).order_by(_t.c.mock_id)
    return [_status_row(r) for r in conn.execute(stmt)]


def _unlease(conn: Connection, held: Any, now: datetime) -> int:
    """Rows matching `held` back to `pending`, unleased; how many."""
    stmt = (
        sa.update(_t)
        .where(held)
        .values(status="pending", lease_owner=None, lease_expires_at=None, updated_at=now)
    )
    return conn.execute(stmt).rowcount


def _given(served: ServedMock | None, field: str, column: str | None = None) -> Any:
    """The value `served` gives for a column, else the column's current value."""
    if served is None:
        return _t.c[column or field]
    return sa.literal(getattr(served, field), _t.c[column or field].type)


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
