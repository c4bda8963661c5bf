"""Desired rows and claims: the catalog's upserts, and the leases runs take on pending rows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Row

from microcks_pipeline.core.model import (
    DesiredRow,
    Event,
    StatusRow,
)
from microcks_pipeline.store.base import StoreBase
from microcks_pipeline.store.events import insert_events
from microcks_pipeline.store.sanitize import sanitize_error
from microcks_pipeline.store.schema import (
    OWNER_LEN,
    STATUSES,
    UtcDateTime,
)
from microcks_pipeline.store.values import (
    _REF_CHUNK,
    _cause_value,
    _check_desired,
    _seconds,
    _status_row,
    _t,
    _text,
    _utc,
)


class Claim(NamedTuple):
    claimed: list[StatusRow]  # the rows leased, ordered by id
    entity_rows: list[StatusRow]  # every row of the entity right after (empty if none claimed)


class DesiredRows(StoreBase):
    """Rows as the catalog wants them, and the leases runs hold on them."""

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
        announce: Callable[[Sequence[StatusRow]], Event] | None = None,
    ) -> list[StatusRow]:
        """Lease the entity's rows that are due to `owner`; returns them (ordered by id).

        Atomic: PostgreSQL locks the candidates with FOR UPDATE SKIP LOCKED and leases them in
        the same statement; SQLite runs one guarded UPDATE ... RETURNING under BEGIN IMMEDIATE.
        Two concurrent claimers never receive the same row.
        `announce`: the event saying what was claimed, written in the claim's transaction when
        it claimed anything.
        """
        return self.claim_entity(
            entity_ref, owner, lease_seconds=lease_seconds, force=force, now=now, announce=announce
        ).claimed

    def claim_entity(
        self,
        entity_ref: str,
        owner: str,
        *,
        lease_seconds: float = 300,
        force: bool = False,
        now: datetime | None = None,
        announce: Callable[[Sequence[StatusRow]], Event] | None = None,
    ) -> Claim:
        """`claim`, and (when it claimed anything) all of the entity's rows as they stand after
        it, read in the same transaction: a run needs both, in one round trip."""
        claims = self.claim_entities(
            [entity_ref],
            owner,
            lease_seconds=lease_seconds,
            force=force,
            now=now,
            announce=(lambda _ref, rows: announce(rows)) if announce is not None else None,
        )
        return claims.get(entity_ref, Claim([], []))

    def claim_entities(
        self,
        entity_refs: Sequence[str],
        owner: str,
        *,
        lease_seconds: float = 300,
        force: bool = False,
        now: datetime | None = None,
        announce: Callable[[str, Sequence[StatusRow]], Event] | None = None,
    ) -> dict[str, Claim]:
        """`claim_entity` for many entities in one transaction (a batch run claims the next
        entities ahead: one round trip for them instead of one each). Only entities it claimed
        something of are in the answer; `announce(ref, claimed)` gives each one's event."""
        now = _utc(now)
        _text(owner, "owner", OWNER_LEN)
        lease = _seconds(lease_seconds, "lease_seconds")
        refs = sorted(set(entity_refs))
        claimed: dict[str, list[StatusRow]] = {}
        entity_rows: dict[str, list[StatusRow]] = {}
        with self._tx() as conn:
            for start in range(0, len(refs), _REF_CHUNK):
                chunk = refs[start : start + _REF_CHUNK]
                for row in conn.execute(self._lease(chunk, owner, now + lease, now, force)):
                    claimed.setdefault(row.entity_ref, []).append(_status_row(row))
            taken = sorted(claimed)
            if not taken:
                return {}
            for start in range(0, len(taken), _REF_CHUNK):
                chunk = taken[start : start + _REF_CHUNK]
                entity = sa.select(_t).where(_t.c.entity_ref.in_(chunk)).order_by(_t.c.mock_id)
                for row in conn.execute(entity):
                    entity_rows.setdefault(row.entity_ref, []).append(_status_row(row))
            for rows in claimed.values():
                rows.sort(key=lambda r: r.id)
            if announce is not None:
                insert_events(conn, [announce(ref, claimed[ref]) for ref in taken], now)
        return {ref: Claim(claimed[ref], entity_rows[ref]) for ref in taken}

    def _lease(
        self, refs: Sequence[str], owner: str, until: datetime, now: datetime, force: bool
    ) -> Any:
        """The statement leasing the due rows of `refs` to `owner`, returning them.

        PostgreSQL locks the candidates with FOR UPDATE SKIP LOCKED and leases them in the
        same statement; SQLite runs the guarded UPDATE under BEGIN IMMEDIATE."""
        cond = sa.and_(_t.c.entity_ref.in_(refs), self._takeable(now, force=force, owner=owner))
        stmt = sa.update(_t)
        if self._pg:
            candidates = sa.select(_t.c.id).where(cond).with_for_update(skip_locked=True)
            stmt = stmt.where(_t.c.id.in_(candidates))
        return (
            stmt.where(cond)
            .values(status="leased", lease_owner=owner, lease_expires_at=until, updated_at=now)
            .returning(*_t.c)
        )

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
