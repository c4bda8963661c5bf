"""Which started runs are zombies: they hold no live lease and did nothing for a lease's time.

A run whose worker died with its node (worker and code server killed together) stays STARTED
for ever: nothing is left to notice. Its leases expire after the lease time, and then the run
covers its entities only on paper. A run is judged a zombie when its step started more than a
lease time ago and it shows no sign of life within the last lease time (no live lease, no event
written): a working run holds the lease of the entity it works on (a batch, the current one)
and writes an event per mock it finishes. Pure: the caller reads the runs and their signs of life.
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


def old_enough(runs: Iterable[StartedRun], now: datetime, lease: timedelta) -> list[StartedRun]:
    """The runs started more than a lease time ago: only those can have outlived their leases."""
    return [r for r in runs if now - r.started_at > lease]


def zombies(candidates: Iterable[StartedRun], alive: set[str], lease: timedelta) -> dict[str, str]:
    """run id → the reason an operator reads, for each candidate not among `alive`."""
    seconds = int(lease.total_seconds())
    return {
        r.run_id: (
            f"marked failed by the sync sensor: working since {r.started_at:%Y-%m-%d %H:%M:%S} "
            f"UTC, it has held no lease and written no event for the lease time ({seconds} s); its "
            "worker is gone (killed, or lost with its node), so its entities are due again"
        )
        for r in candidates
        if r.run_id not in alive
    }
