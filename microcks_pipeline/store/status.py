"""The status store: desired rows, leases, compare-and-set completion, retries, backoff, events.

Every write is one short transaction. Guards live in the SQL `WHERE` clauses (lease owner,
fingerprint, status), so a repeated or late call changes nothing instead of corrupting a row.
Times come from the caller's clock (`now`, default: the current UTC time), never the database's.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from microcks_pipeline.core.errors import StoreNotMigrated, StoreUnavailable
from microcks_pipeline.core.identity import entity_hash
from microcks_pipeline.core.lifecycle import Cause
from microcks_pipeline.core.model import (
    DesiredRow,
    Event,
    GlobalBackoff,
    StatusRow,
    StoredEvent,
)
from microcks_pipeline.store import migrate as _migrate
from microcks_pipeline.store.backoff import backoff_delay, checked_retry_after, retry_delay
from microcks_pipeline.store.engine import (
    display_url,
    forget_engine,
    resolve_url,
    shared_engine,
    transaction,
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
    STATUSES,
    UtcDateTime,
    events_table,
    state_table,
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


class StatusStore:
    """The `csit_microcks_sync_*` tables on SQLite (default) or PostgreSQL."""

    def __init__(self, url: str | None = None) -> None:
        self._url = resolve_url(url)
        self.url_for_display: str = display_url(self._url)
        self._engine = shared_engine(self._url)
        self._pg = self._engine.dialect.name == "postgresql"

    def __repr__(self) -> str:
        return f"StatusStore({self.url_for_display!r})"

    # -- plumbing ---------------------------------------------------------------------------

    @contextmanager
    def _tx(self, *, write: bool = True) -> Iterator[Connection]:
        """One transaction; database outages become StoreUnavailable with a sanitized reason."""
        try:
            with transaction(self._engine, write=write) as conn:
                yield conn
        except DBAPIError as exc:
            if _is_missing_table(exc):
                raise StoreNotMigrated(
                    f"status tables missing in {self.url_for_display}: run migrate() first"
                ) from exc
            if isinstance(exc, OperationalError | InterfaceError) or exc.connection_invalidated:
                reason = sanitize_error(str(exc.orig), limit=300)
                raise StoreUnavailable(
                    f"status database {self.url_for_display} unavailable: {reason}"
                ) from exc
            raise

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision; a no-op when already there."""
        try:
            _migrate.upgrade_to_head(self._engine)
        except (OperationalError, InterfaceError) as exc:
            reason = sanitize_error(str(exc.orig), limit=300)
            raise StoreUnavailable(
                f"status database {self.url_for_display} unavailable: {reason}"
            ) from exc

    def schema_revision(self) -> str | None:
        """The Alembic revision the database is at (None before the first migrate)."""
        return _migrate.current_revision(self._engine)

    def dispose(self) -> None:
        """Close this process's pooled connections to the database."""
        forget_engine(self._url)

    # -- desired state ----------------------------------------------------------------------

    def rows(self, entity_ref: str | None = None) -> list[StatusRow]:
        stmt = sa.select(_t).order_by(_t.c.entity_ref, _t.c.mock_id)
        if entity_ref is not None:
            stmt = stmt.where(_t.c.entity_ref == entity_ref)
        with self._tx(write=False) as conn:
            return [_status_row(r) for r in conn.execute(stmt)]

    def desired_index(self) -> list[Row[Any]]:
        """What the processor compares of every row (id, entity_ref, mock_id, fingerprint_hash,
        desired_action, failure_cause, status, attempts, last_error), read without building
        full StatusRow values."""
        stmt = sa.select(
            _t.c.id,
            _t.c.entity_ref,
            _t.c.mock_id,
            _t.c.fingerprint_hash,
            _t.c.desired_action,
            _t.c.failure_cause,
            _t.c.status,
            _t.c.attempts,
            _t.c.last_error,
        ).order_by(_t.c.entity_ref, _t.c.mock_id)
        with self._tx(write=False) as conn:
            return list(conn.execute(stmt))

    def finished_entities(self, refs: set[str] | None = None) -> list[str]:
        """Entities whose every row is a completed delete with no error: their services are gone.

        One grouped query, so the sync sensor's tick does not read every row of a large table."""
        not_done = sa.case(
            (
                sa.and_(
                    _t.c.desired_action == "delete",
                    _t.c.status == "completed",
                    _t.c.last_error.is_(None),
                ),
                0,
            ),
            else_=1,
        )
        stmt = (
            sa.select(_t.c.entity_ref)
            .group_by(_t.c.entity_ref)
            .having(sa.func.sum(not_done) == 0)
            .order_by(_t.c.entity_ref)
        )
        if refs is not None:
            stmt = stmt.where(_t.c.entity_ref.in_(sorted(refs)))
        with self._tx(write=False) as conn:
            return [r.entity_ref for r in conn.execute(stmt)]

    def requeue(self, row_ids: Sequence[int], *, now: datetime | None = None) -> int:
        """Make settled rows `pending` again, due now (the drift audit found their service
        changed or gone). Leased rows are left to their run."""
        if not row_ids:
            return 0
        now = _utc(now)
        stmt = (
            sa.update(_t)
            .where(_t.c.id.in_(list(row_ids)), _t.c.status.in_(["completed", "error"]))
            .values(status="pending", attempts=0, next_attempt_at=None, updated_at=now)
        )
        with self._tx() as conn:
            return conn.execute(stmt).rowcount

    def upsert_desired(self, desired: Sequence[DesiredRow], *, now: datetime | None = None) -> int:
        """Record what the catalog wants; returns how many rows were inserted or changed.

        New (entity, mock) → a `pending` row. A changed fingerprint or action → the new desired
        values, `pending`, attempts 0, due now, last_error = the row's load error; a row leased
        by a run keeps its status and lease (that run's compare-and-set then fails and the row
        returns to `pending`). An identical row is not written at all.
        """
        now = _utc(now)
        batch = list(desired)
        seen: set[tuple[str, str]] = set()
        for d in batch:
            _check_desired(d)
            key = (d.entity_ref, d.mock_id)
            if key in seen:
                raise ValueError(f"desired row {key[0]!r}/{key[1]!r} appears twice in one batch")
            seen.add(key)
        if not batch:
            return 0
        with self._tx() as conn:
            existing = self._existing(conn, sorted({d.entity_ref for d in batch}))
            inserts: list[dict[str, Any]] = []
            updates: list[dict[str, Any]] = []
            for d in batch:
                error = sanitize_error(d.error) if d.error is not None else None
                current = existing.get((d.entity_ref, d.mock_id))
                if current is None:
                    inserts.append(self._new_row(d, error, now))
                elif (current.fingerprint_hash, current.desired_action) != (
                    d.fingerprint_hash,
                    d.desired_action,
                ):
                    updates.append(
                        {
                            "b_id": current.id,
                            "b_fp": d.fingerprint_hash,
                            "b_action": d.desired_action,
                            "b_hash": d.entity_hash,
                            "b_version": d.microcks_version_id,
                            "b_error": error,
                            "b_cause": _cause_value(d.cause),
                            "b_now": now,
                        }
                    )
            return self._insert_new(conn, inserts) + self._update_changed(conn, updates)

    @staticmethod
    def _existing(conn: Connection, refs: list[str]) -> dict[tuple[str, str], Row[Any]]:
        found: dict[tuple[str, str], Row[Any]] = {}
        cols = (_t.c.id, _t.c.entity_ref, _t.c.mock_id, _t.c.fingerprint_hash, _t.c.desired_action)
        for start in range(0, len(refs), _REF_CHUNK):
            chunk = refs[start : start + _REF_CHUNK]
            for row in conn.execute(sa.select(*cols).where(_t.c.entity_ref.in_(chunk))):
                found[(row.entity_ref, row.mock_id)] = row
        return found

    @staticmethod
    def _new_row(d: DesiredRow, error: str | None, now: datetime) -> dict[str, Any]:
        return {
            "entity_ref": d.entity_ref,
            "mock_id": d.mock_id,
            "entity_hash": d.entity_hash,
            "desired_action": d.desired_action,
            "microcks_version_id": d.microcks_version_id,
            "fingerprint_hash": d.fingerprint_hash,
            "applied_fingerprint": None,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": None,
            "lease_owner": None,
            "lease_expires_at": None,
            "last_error": error,
            "failure_cause": _cause_value(d.cause),
            "microcks_service_id": None,
            "created_at": now,
            "updated_at": now,
        }

    def _insert_new(self, conn: Connection, inserts: list[dict[str, Any]]) -> int:
        if not inserts:
            return 0
        insert = pg_insert if self._pg else sqlite_insert
        # A concurrent upsert may have inserted the same key since our read: theirs stands.
        stmt = (
            insert(_t)
            .on_conflict_do_nothing(index_elements=["entity_ref", "mock_id"])
            .returning(_t.c.id)
        )
        return len(conn.execute(stmt, inserts).all())

    def _update_changed(self, conn: Connection, updates: list[dict[str, Any]]) -> int:
        if not updates:
            return 0
        stmt = (
            sa.update(_t)
            .where(
                _t.c.id == sa.bindparam("b_id"),
                # Re-checked here: skip a row another writer already brought up to date.
                sa.or_(
                    _t.c.fingerprint_hash != sa.bindparam("b_fp"),
                    _t.c.desired_action != sa.bindparam("b_action"),
                ),
            )
            .values(
                fingerprint_hash=sa.bindparam("b_fp"),
                desired_action=sa.bindparam("b_action"),
                entity_hash=sa.bindparam("b_hash"),
                microcks_version_id=sa.bindparam("b_version"),
                # Never take a lease away from a running run; its CAS will send the row back.
                status=sa.case((_t.c.status == "leased", _t.c.status), else_=sa.literal("pending")),
                attempts=0,
                next_attempt_at=None,
                last_error=sa.bindparam("b_error"),
                failure_cause=sa.bindparam("b_cause"),
                updated_at=sa.bindparam("b_now", type_=UtcDateTime()),
            )
        )
        result = conn.execute(stmt, updates)
        if self._engine.dialect.supports_sane_multi_rowcount:
            return result.rowcount
        # psycopg2 batches report only the last page; the rows read in this transaction are
        # what was written unless a concurrent upsert wrote the same change first.
        return len(updates)

    def entity_refs(self) -> set[str]:
        with self._tx(write=False) as conn:
            return set(conn.execute(sa.select(_t.c.entity_ref).distinct()).scalars())

    def forget_entity(self, entity_ref: str) -> int:
        """Delete an entity's rows whose delete completed; returns how many were deleted.

        Rows in any other state (a delete still running or failed, or the entity came back to the
        catalog meanwhile) are kept, so nothing still owed to Microcks is ever forgotten.
        """
        stmt = sa.delete(_t).where(
            _t.c.entity_ref == entity_ref,
            _t.c.desired_action == "delete",
            _t.c.status == "completed",
        )
        with self._tx() as conn:
            return conn.execute(stmt).rowcount

    def counts(self) -> dict[str, int]:
        """Rows per status, every status present (0 when none)."""
        stmt = sa.select(_t.c.status, sa.func.count()).group_by(_t.c.status)
        out = dict.fromkeys(STATUSES, 0)
        with self._tx(write=False) as conn:
            for status, n in conn.execute(stmt):
                out[status] = n
        return out

    # -- leases -----------------------------------------------------------------------------

    @staticmethod
    def _takeable(now: datetime, *, force: bool = False, owner: str | None = None) -> Any:
        """Rows a run may lease: pending and due, or leased with an expired lease.

        force (manual re-run, backfill): any row not under someone else's live lease.
        owner: the same run may take its own rows again (a retried step).
        """
        expired = sa.and_(
            _t.c.status == "leased",
            sa.or_(_t.c.lease_expires_at.is_(None), _t.c.lease_expires_at <= now),
        )
        if force:
            cond = sa.or_(_t.c.status.in_(("pending", "completed", "error")), expired)
        else:
            due = sa.and_(
                _t.c.status == "pending",
                sa.or_(_t.c.next_attempt_at.is_(None), _t.c.next_attempt_at <= now),
            )
            cond = sa.or_(due, expired)
        if owner is not None:
            cond = sa.or_(cond, sa.and_(_t.c.status == "leased", _t.c.lease_owner == owner))
        return cond

    def claim(
        self,
        entity_ref: str,
        owner: str,
        *,
        lease_seconds: float = 300,
        force: bool = False,
        now: datetime | None = None,
    ) -> list[StatusRow]:
        """Lease the entity's rows that are due to `owner`; returns them (ordered by id).

        Atomic: PostgreSQL locks the candidates with FOR UPDATE SKIP LOCKED and leases them in
        the same statement; SQLite runs one guarded UPDATE ... RETURNING under BEGIN IMMEDIATE.
        Two concurrent claimers never receive the same row.
        """
        now = _utc(now)
        _text(owner, "owner", OWNER_LEN)
        lease = _seconds(lease_seconds, "lease_seconds")
        cond = sa.and_(_t.c.entity_ref == entity_ref, self._takeable(now, force=force, owner=owner))
        stmt = sa.update(_t)
        if self._pg:
            candidates = sa.select(_t.c.id).where(cond).with_for_update(skip_locked=True)
            stmt = stmt.where(_t.c.id.in_(candidates))
        stmt = (
            stmt.where(cond)
            .values(
                status="leased", lease_owner=owner, lease_expires_at=now + lease, updated_at=now
            )
            .returning(*_t.c)
        )
        with self._tx() as conn:
            rows = [_status_row(r) for r in conn.execute(stmt)]
        return sorted(rows, key=lambda r: r.id)

    def renew(
        self,
        entity_ref: str,
        owner: str,
        *,
        lease_seconds: float = 300,
        now: datetime | None = None,
    ) -> int:
        """Extend `owner`'s leases on the entity's rows; returns how many it still holds."""
        now = _utc(now)
        lease = _seconds(lease_seconds, "lease_seconds")
        stmt = (
            sa.update(_t)
            .where(_t.c.entity_ref == entity_ref, _t.c.lease_owner == owner)
            .where(_t.c.status == "leased")
            .values(lease_expires_at=now + lease, updated_at=now)
        )
        with self._tx() as conn:
            return conn.execute(stmt).rowcount

    @staticmethod
    def _held(row_id: int, owner: str) -> Any:
        return sa.and_(_t.c.id == row_id, _t.c.lease_owner == owner, _t.c.status == "leased")

    @staticmethod
    def _to_pending(conn: Connection, row_id: int, owner: str, now: datetime) -> bool:
        stmt = (
            sa.update(_t)
            .where(StatusStore._held(row_id, owner))
            .values(status="pending", lease_owner=None, lease_expires_at=None, updated_at=now)
        )
        return conn.execute(stmt).rowcount == 1

    def complete(
        self,
        row_id: int,
        owner: str,
        fingerprint: str,
        *,
        service_id: str | None = None,
        applied: dict[str, Any] | None = None,
        cause: Cause | None = None,
        now: datetime | None = None,
    ) -> bool:
        """Compare-and-set the row to `completed` with `fingerprint` applied.

        Succeeds only while `owner` holds the lease and `fingerprint` is still the desired one.
        If the desired state moved during the run, the row goes back to `pending` (it runs again)
        and False is returned; a row no longer held by `owner` is left alone (False).
        `service_id` and `applied` (the artifacts applied, as JSON) are recorded when given; a
        completed delete has neither any more.
        `cause`: what the completed row records as its cause (a removal's, or none).
        """
        now = _utc(now)
        _check_cause(cause)
        service = sa.literal(service_id, sa.String) if service_id is not None else None
        record = sa.literal(applied, sa.JSON) if applied is not None else _t.c.applied_artifacts
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
                applied_artifacts=sa.case(
                    (_t.c.desired_action == "delete", sa.null()), else_=record
                ),
                updated_at=now,
            )
        )
        with self._tx() as conn:
            if conn.execute(stmt).rowcount == 1:
                return True
            self._to_pending(conn, row_id, owner, now)
            return False

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

    # -- global backoff ---------------------------------------------------------------------

    def _put_state(
        self, conn: Connection, key: str, until: datetime | None, reason: str, value: str | None
    ) -> None:
        now = datetime.now(UTC)
        values = {"key": key, "value": value, "until": until, "reason": reason, "updated_at": now}
        insert = pg_insert if self._pg else sqlite_insert
        stmt = insert(state_table).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["key"],
            set_={
                "until": stmt.excluded.until,
                "reason": stmt.excluded.reason,
                "value": stmt.excluded.value,
                "updated_at": now,
            },
        )
        conn.execute(stmt)

    def set_global_backoff(
        self,
        until: datetime,
        reason: str,
        *,
        kind: Literal["auth", "outage"] = "outage",
        credentials: str | None = None,
    ) -> None:
        """Pause all Microcks work until `until` (token or Microcks-wide failure).

        kind "auth": `credentials` is the sha256 fingerprint of the refused credentials (never
        the secret), so that a changed credential can end the backoff at once."""
        until = _utc(until, "until")
        if kind not in ("auth", "outage"):
            raise ValueError("kind must be 'auth' or 'outage'")
        _text(credentials, "credentials", HASH_LEN, optional=True)
        value = json.dumps({"kind": kind, "credentials": credentials})
        with self._tx() as conn:
            self._put_state(conn, GLOBAL_BACKOFF_KEY, until, sanitize_error(reason), value)

    def global_backoff(self, *, now: datetime | None = None) -> GlobalBackoff | None:
        """The backoff in force at `now`, or None when there is none or it has passed."""
        now = _utc(now)
        stmt = sa.select(state_table.c.until, state_table.c.reason, state_table.c.value).where(
            state_table.c.key == GLOBAL_BACKOFF_KEY
        )
        with self._tx(write=False) as conn:
            row = conn.execute(stmt).first()
        if row is None or row.until is None or row.until <= now:
            return None
        kind, credentials = _backoff_value(row.value)
        return GlobalBackoff(row.until, row.reason or "", kind, credentials)

    def clear_global_backoff(self) -> None:
        with self._tx() as conn:
            conn.execute(sa.delete(state_table).where(state_table.c.key == GLOBAL_BACKOFF_KEY))

    def note_server_error(
        self, entity_ref: str, reason: str, *, window: timedelta, now: datetime | None = None
    ) -> int:
        """Record that the entity's Microcks calls met a 5xx or 429; returns how many distinct
        entities did so within `window` (this one included). Kept in the database, so runs in
        other processes count too; expired records are removed as a side effect."""
        now = _utc(now)
        key = SERVER_ERROR_KEY + entity_hash(entity_ref)
        s = state_table
        recent = sa.and_(s.c.key.like(SERVER_ERROR_KEY + "%"), s.c.until > now)
        with self._tx() as conn:
            conn.execute(sa.delete(s).where(s.c.key.like(SERVER_ERROR_KEY + "%"), s.c.until <= now))
            self._put_state(conn, key, now + window, sanitize_error(reason), None)
            return conn.execute(sa.select(sa.func.count()).where(recent)).scalar_one()

    # -- events -----------------------------------------------------------------------------

    def append_events(self, events: Sequence[Event], *, now: datetime | None = None) -> int:
        """Append events (messages and detail strings sanitized); all or nothing."""
        now = _utc(now)
        values = [_event_values(e, now) for e in events]
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
        message = sanitize_error(reason)
        held = sa.and_(_t.c.lease_owner == owner, _t.c.status == "leased")
        read = sa.select(_t.c.id, _t.c.entity_ref, _t.c.mock_id, _t.c.attempts).where(held)
        if self._pg:
            read = read.with_for_update()
        with self._tx() as conn:
            rows = list(conn.execute(read))
            if not rows:
                return 0
            due = {r.id: now + timedelta(seconds=_crash_delay(r.attempts)) for r in rows}
            conn.execute(
                sa.update(_t)
                .where(_t.c.id == sa.bindparam("row_id"), held)
                .values(
                    status="pending",
                    attempts=_t.c.attempts + 1,
                    next_attempt_at=sa.bindparam("due"),
                    lease_owner=None,
                    lease_expires_at=None,
                    last_error=message,
                    failure_cause=_cause_value(Cause.TRANSIENT),  # the run died, not the mock
                    updated_at=now,
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

    # -- remembered, non-secret Microcks facts -----------------------------------------------

    def known_token_endpoint(self, microcks_url: str) -> str | None:
        """The token endpoint discovered earlier for this Microcks URL, or None."""
        stmt = sa.select(state_table.c.value).where(
            state_table.c.key == _token_endpoint_key(microcks_url)
        )
        with self._tx(write=False) as conn:
            return conn.execute(stmt).scalar_one_or_none()

    def remember_token_endpoint(self, microcks_url: str, token_url: str) -> None:
        """Remember the endpoint discovered for this Microcks URL (a changed URL has none)."""
        with self._tx() as conn:
            self._put_state(conn, _token_endpoint_key(microcks_url), None, "", token_url)


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


def _token_endpoint_key(microcks_url: str) -> str:
    """The state key for one Microcks URL (hashed: keys are short, URLs are not)."""
    digest = hashlib.sha256(microcks_url.rstrip("/").encode()).hexdigest()[:32]
    return f"token_endpoint:{digest}"
