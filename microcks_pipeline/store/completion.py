"""Completion and retries: compare-and-set completion, failures, due entities, dead runs' leases."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from microcks_pipeline.core.lifecycle import Cause
from microcks_pipeline.core.model import (
    Event,
    ServedMock,
    StatusRow,
)
from microcks_pipeline.store.backoff import checked_retry_after, retry_delay
from microcks_pipeline.store.base import StoreBase
from microcks_pipeline.store.events import insert_events
from microcks_pipeline.store.sanitize import sanitize_error
from microcks_pipeline.store.values import (
    _REF_CHUNK,
    _cause_value,
    _check_cause,
    _status_row,
    _t,
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
        self,
        *,
        now: datetime | None = None,
        limit: int | None = None,
        refs: Sequence[str] | None = None,
    ) -> dict[str, list[StatusRow]]:
        """entity_ref → its rows a run should take now, oldest first; at most `limit` entities,
        only those of `refs` when given."""
        now = _utc(now)
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
            raise ValueError("limit must be an integer or None")
        if limit is not None and limit < 0:
            raise ValueError("limit must be >= 0")
        if limit == 0 or (refs is not None and not refs):
            return {}
        cond = self._takeable(now)
        stmt = sa.select(_t).where(cond).order_by(_t.c.updated_at, _t.c.id)
        if limit is not None:
            stmt = stmt.where(_t.c.entity_ref.in_(self._oldest_due(cond).limit(limit)))
        with self._tx(write=False) as conn:
            if refs is None:
                found = list(conn.execute(stmt))
            else:
                wanted = list(dict.fromkeys(refs))
                found = sorted(
                    (
                        r
                        for start in range(0, len(wanted), _REF_CHUNK)
                        for r in conn.execute(
                            stmt.where(_t.c.entity_ref.in_(wanted[start : start + _REF_CHUNK]))
                        )
                    ),
                    key=lambda r: (r.updated_at, r.id),
                )
        out: dict[str, list[StatusRow]] = {}
        for r in found:
            row = _status_row(r)
            out.setdefault(row.entity_ref, []).append(row)
        return out

    def due_entity_refs(self, *, now: datetime | None = None) -> list[str]:
        """The entities with rows a run should take now, oldest first: what `due_entities` keys,
        without reading the rows (a sensor tick that finds them all in runs reads no more)."""
        with self._tx(write=False) as conn:
            return list(conn.execute(self._oldest_due(self._takeable(_utc(now)))).scalars())

    @staticmethod
    def _oldest_due(cond: Any) -> Any:
        return (
            sa.select(_t.c.entity_ref)
            .where(cond)
            .group_by(_t.c.entity_ref)
            .order_by(sa.func.min(_t.c.updated_at), sa.func.min(_t.c.id))
        )

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
