"""Zombie runs: a started sync run silent for the lease time is marked failed, its rows given back.

Which runs are zombies is decided in `sync.zombies`; this module reads Dagster's run records,
asks the status store for signs of life, and tells the instance (a readable failure reason on
the run) and the store (the run's leased rows pending again, due at once).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import dagster as dg

from microcks_pipeline.defs.run_requests import BATCH_JOB, DELETE_JOB, SYNC_JOB
from microcks_pipeline.defs.settings import Settings
from microcks_pipeline.store import StatusStore
from microcks_pipeline.sync.zombies import StartedRun, old_enough, zombies

# The jobs whose runs lease rows; an audit or a report never does, however long it runs.
LEASING_JOBS = frozenset({SYNC_JOB, BATCH_JOB, DELETE_JOB})
_STARTED = (dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED)


def _started(record: dg.RunRecord) -> StartedRun:
    when = record.start_time
    started = datetime.fromtimestamp(when, UTC) if when else record.create_timestamp
    return StartedRun(record.dagster_run.run_id, started.astimezone(UTC))


def fail_zombie_runs(
    instance: dg.DagsterInstance,
    records: Sequence[dg.RunRecord],
    store: StatusStore,
    now: datetime | None = None,
) -> set[str]:
    """Mark the zombie sync runs among `records` failed and give their rows back; their ids."""
    now = now or datetime.now(UTC)
    lease = timedelta(seconds=Settings.from_env().lease_seconds)
    started = [
        _started(r)
        for r in records
        if r.dagster_run.status in _STARTED and r.dagster_run.job_name in LEASING_JOBS
    ]
    candidates = old_enough(started, now, lease)
    if not candidates:
        return set()
    alive = store.runs_alive([r.run_id for r in candidates], since=now - lease, now=now)
    dead = zombies(candidates, alive, lease)
    by_id = {r.dagster_run.run_id: r.dagster_run for r in records}
    for run_id, reason in dead.items():
        store.release_run(run_id, f"run {run_id} {reason}", now=now)
        instance.report_run_failed(by_id[run_id], message=reason)
    return set(dead)
