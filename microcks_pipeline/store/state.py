"""Microcks-wide state: the global backoff, per-entity server errors, remembered token endpoints."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from microcks_pipeline.core.identity import entity_hash
from microcks_pipeline.core.model import (
    GlobalBackoff,
)
from microcks_pipeline.store.base import StoreBase
from microcks_pipeline.store.sanitize import sanitize_error
from microcks_pipeline.store.schema import (
    HASH_LEN,
    state_table,
)
from microcks_pipeline.store.values import (
    GLOBAL_BACKOFF_KEY,
    SERVER_ERROR_KEY,
    _backoff_value,
    _text,
    _utc,
)


class GlobalState(StoreBase):
    """The `csit_microcks_sync_state` table: one row per key."""

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


def _token_endpoint_key(microcks_url: str) -> str:
    """The state key for one Microcks URL (hashed: keys are short, URLs are not)."""
    digest = hashlib.sha256(microcks_url.rstrip("/").encode()).hexdigest()[:32]
    return f"token_endpoint:{digest}"
