"""Run liveness: a working run's heartbeat keeps its leases live; a silent run is found dead.

A run renews its leases and its heartbeat (a state row per run, `until` = the end of the hold)
every few seconds while it works (`sync.heartbeat`). A run whose worker is gone stops renewing:
its leases lapse and its heartbeat ends within one hold, so the sync sensor can tell it from a
slow one (`runs_alive`) and give its entities to another run long before any fixed lease would.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime, timedelta

import sqlalchemy as sa

from microcks_pipeline.store.schema import OWNER_LEN, events_table, state_table
from microcks_pipeline.store.state import GlobalState
from microcks_pipeline.store.values import _t, _text, _utc

RUN_ALIVE_KEY = "run_alive:"
# A heartbeat row left by a run that ended without saying so is removed this long after.
FORGET_AFTER = timedelta(days=1)


def _alive_key(owner: str) -> str:
    """The state key of one run's heartbeat (hashed: run ids may be longer than keys)."""
    return RUN_ALIVE_KEY + hashlib.sha256(owner.encode()).hexdigest()[:32]


class RunLiveness(GlobalState):
    """Heartbeats in the state table, and the signs of life the zombie check reads."""

    def beat(self, owner: str, *, hold_seconds: float, now: datetime | None = None) -> int:
        """`owner` is alive: its heartbeat and every lease it holds last `hold_seconds` from now.
        Returns how many rows it holds. One transaction; heartbeats ended a day ago go."""
        now = _utc(now)
        _text(owner, "owner", OWNER_LEN)
        if not hold_seconds > 0:
            raise ValueError("hold_seconds must be positive")
        until = now + timedelta(seconds=hold_seconds)
        s = state_table
        renew = (
            sa.update(_t)
            .where(_t.c.lease_owner == owner, _t.c.status == "leased")
            .values(lease_expires_at=until)
        )
        stale = sa.and_(s.c.key.like(RUN_ALIVE_KEY + "%"), s.c.until < now - FORGET_AFTER)
        with self._tx() as conn:
            held = conn.execute(renew).rowcount
            self._put_state(conn, _alive_key(owner), until, "", owner)
            conn.execute(sa.delete(s).where(stale))
        return held

    def end_beats(self, owner: str) -> None:
        """`owner` stopped working (its run ended, or was found dead): forget its heartbeat."""
        with self._tx() as conn:
            conn.execute(sa.delete(state_table).where(state_table.c.key == _alive_key(owner)))

    def runs_alive(
        self, owners: Iterable[str], *, since: datetime, now: datetime | None = None
    ) -> set[str]:
        """Which of `owners` (run ids) showed a sign of life: a heartbeat or a lease still live at
        `now`, or an event written after `since`. A run that shows none holds nothing and does
        nothing."""
        now, since = _utc(now), _utc(since, "since")
        owners = sorted(set(owners))
        if not owners:
            return set()
        leasing = sa.select(_t.c.lease_owner).where(
            _t.c.lease_owner.in_(owners), _t.c.status == "leased", _t.c.lease_expires_at > now
        )
        writing = sa.select(events_table.c.run_id).where(
            events_table.c.created_at > since, events_table.c.run_id.in_(owners)
        )
        beating = sa.select(state_table.c.value).where(
            state_table.c.key.in_([_alive_key(o) for o in owners]), state_table.c.until > now
        )
        with self._tx(write=False) as conn:
            alive = {r[0] for r in conn.execute(leasing.distinct())}
            alive |= {r[0] for r in conn.execute(writing.distinct())}
            alive |= {r[0] for r in conn.execute(beating)}
        return alive & set(owners)
