"""Which started runs are zombies: no heartbeat, no live lease and no event for a hold.

A run whose worker died with its node (worker and code server killed together) stays STARTED
for ever: nothing is left to notice. Its heartbeat stops, its leases lapse one hold later
(`sync.heartbeat`: a third of the lease time), and then the run covers its entities only on
paper. A run is judged a zombie when its step started more than a hold ago and it shows no sign
of life within the last hold (no heartbeat, no live lease, no event written): a working run
beats every tenth of the lease time. Pure: the caller reads the runs and their signs of life.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class StartedRun:
    """A run Dagster still shows as starting or started, with when its work started."""

    run_id: str
    started_at: datetime


def old_enough(runs: Iterable[StartedRun], now: datetime, hold: timedelta) -> list[StartedRun]:
    """The runs started more than a hold ago: only those can have outlived their leases."""
    return [r for r in runs if now - r.started_at > hold]


def zombies(candidates: Iterable[StartedRun], alive: set[str], hold: timedelta) -> dict[str, str]:
    """run id → the reason an operator reads, for each candidate not among `alive`."""
    seconds = int(hold.total_seconds())
    return {
        r.run_id: (
            f"marked failed by the sync sensor: working since {r.started_at:%Y-%m-%d %H:%M:%S} "
            f"UTC, it has sent no heartbeat, held no lease and written no event for {seconds} s "
            "(a third of the lease time); its worker is gone (killed, or lost with its node), "
            "so its entities are due again"
        )
        for r in candidates
        if r.run_id not in alive
    }
