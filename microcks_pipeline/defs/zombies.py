"""Zombie runs: a started sync run silent for a hold is marked failed, its rows given back.

Which runs are zombies is decided in `sync.zombies`; this module reads Dagster's run records,
asks the status store for signs of life, and tells the instance (a readable failure reason on
the run; the `microcks_api` pool slot its step held freed, which Dagster does only for runs
that end themselves) and the store (the run's leased rows pending again, due at once).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import dagster as dg

from microcks_pipeline.defs.run_requests import BATCH_JOB, BATCH_OP, DELETE_JOB, DELETE_OP, SYNC_JOB
from microcks_pipeline.defs.runner import lease_times
from microcks_pipeline.store import StatusStore
from microcks_pipeline.sync.zombies import StartedRun, old_enough, zombies

# The jobs whose runs lease rows; an audit or a report never does, however long it runs.
LEASING_JOBS = frozenset({SYNC_JOB, BATCH_JOB, DELETE_JOB})
# The steps that lease (each waits for a `microcks_api` pool slot before it starts).
LEASING_STEPS = frozenset({"microcks_services", BATCH_OP, DELETE_OP})
_STARTED = (dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED)


def _step_started(instance: dg.DagsterInstance, record: dg.RunRecord) -> StartedRun | None:
    """When the run's leasing step started (it then holds its pool slot and works), or None.

    Not the run's start: a run whose step waits for a `microcks_api` pool slot is STARTED but
    silent, sometimes longer than a lease, and is not dead. (Dagster logs the wait only every
    300 s.) A worker killed while waiting for a slot is left to run monitoring.
    """
    run_id = record.dagster_run.run_id
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.STEP_START, ascending=False, limit=10
    ).records
    started = [r for r in records if r.event_log_entry.step_key in LEASING_STEPS]
    if not started:
        return None
    return StartedRun(run_id, datetime.fromtimestamp(started[0].timestamp, UTC))


def _run_start(record: dg.RunRecord) -> datetime:
    when = record.start_time
    return datetime.fromtimestamp(when, UTC) if when else record.create_timestamp.astimezone(UTC)


def fail_zombie_runs(
    instance: dg.DagsterInstance,
    records: Sequence[dg.RunRecord],
    store: StatusStore,
    now: datetime | None = None,
) -> set[str]:
    """Mark the zombie sync runs among `records` failed and give their rows back; their ids."""
    now = now or datetime.now(UTC)
    hold = timedelta(seconds=lease_times().hold)
    started = [
        StartedRun(r.dagster_run.run_id, _run_start(r))
        for r in records
        if r.dagster_run.status in _STARTED and r.dagster_run.job_name in LEASING_JOBS
    ]
    by_id = {r.dagster_run.run_id: r for r in records}
    stepping = [_step_started(instance, by_id[r.run_id]) for r in old_enough(started, now, hold)]
    candidates = old_enough([r for r in stepping if r is not None], now, hold)
    if not candidates:
        return set()
    alive = store.runs_alive([r.run_id for r in candidates], since=now - hold, now=now)
    dead = zombies(candidates, alive, hold)
    for run_id, reason in dead.items():
        store.release_run(run_id, f"run {run_id} {reason}", now=now)
        store.end_beats(run_id)
        instance.report_run_failed(by_id[run_id].dagster_run, message=reason)
        if instance.event_log_storage.supports_global_concurrency_limits:
            instance.event_log_storage.free_concurrency_slots_for_run(run_id)
    return set(dead)
