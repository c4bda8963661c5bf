"""Read-only views of the status rows for the status service (one query for the listing, a
cheap version stamp to cache it by, and a liveness check) and for the status report (counts
and the rows needing attention, without reading every row)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from microcks_pipeline.core.model import StatusRow
from microcks_pipeline.store.base import StoreBase
from microcks_pipeline.store.values import _status_row, _t

# What the status service shows of a row; nothing else (no leases, no applied records).
VIEW_COLUMNS = (
    _t.c.entity_ref,
    _t.c.mock_id,
    _t.c.desired_action,
    _t.c.status,
    _t.c.last_error,
    _t.c.microcks_service_id,
    _t.c.microcks_version_id,
    _t.c.api_kind,
    _t.c.include_in_swagger,
    _t.c.service_name,
    _t.c.mock_url,
    _t.c.last_success_at,
    _t.c.updated_at,
)


class StatusView(StoreBase):
    """What the status service reads: every row's public columns, and when they last changed."""

    def view_rows(self, entity_ref: str | None = None) -> list[Row[Any]]:
        """The public columns of every row (or one entity's), ordered by entity and mock."""
        stmt = sa.select(*VIEW_COLUMNS).order_by(_t.c.entity_ref, _t.c.mock_id)
        if entity_ref is not None:
            stmt = stmt.where(_t.c.entity_ref == entity_ref)
        with self._tx(write=False) as conn:
            return list(conn.execute(stmt))

    def view_version(self) -> tuple[int, datetime | None]:
        """(row count, newest update time): changes whenever a row is written or forgotten."""
        stmt = sa.select(sa.func.count(), sa.func.max(_t.c.updated_at))
        with self._tx(write=False) as conn:
            count, newest = conn.execute(stmt).one()
        return int(count), newest

    def status_summary(self) -> tuple[dict[str, tuple[int, datetime | None]], int]:
        """({status: (rows, newest update)}, entities): one grouped query and a count. Rows per
        status move on every transition and the newest update on every write, so the summary
        changes whenever what the status report shows does."""
        by_status = sa.select(_t.c.status, sa.func.count(), sa.func.max(_t.c.updated_at))
        entities = sa.select(sa.func.count(sa.distinct(_t.c.entity_ref)))
        with self._tx(write=False) as conn:
            rows = {
                s: (int(n), newest)
                for s, n, newest in conn.execute(by_status.group_by(_t.c.status))
            }
            return rows, int(conn.execute(entities).scalar_one())

    def attention_rows(self, limit: int) -> list[StatusRow]:
        """At most `limit` rows not completed: in error first, then pending, then leased; by
        entity and mock within each."""
        rank = sa.case({"error": 0, "pending": 1, "leased": 2}, value=_t.c.status, else_=3)
        stmt = (
            sa.select(_t)
            .where(_t.c.status != "completed")
            .order_by(rank, _t.c.entity_ref, _t.c.mock_id)
            .limit(limit)
        )
        with self._tx(write=False) as conn:
            return [_status_row(r) for r in conn.execute(stmt)]

    def ping(self) -> None:
        """Raise StoreUnavailable or StoreNotMigrated unless the status table answers."""
        with self._tx(write=False) as conn:
            conn.execute(sa.select(_t.c.id).limit(1)).all()
