"""Run-status sensors: a run that failed (crashed, killed) or was cancelled gives its leases back.

A run leases its entity's rows for a third of the lease time and renews the lease with its
heartbeat while it works (`sync.heartbeat`). When the run dies the lease would hold the rows
until it lapses; Dagster, though, knows within a second that the
run failed or was cancelled. These sensors react to that event and put every row the run still
leases back to `pending` (StatusStore.release_run: due at once the first time, backing off if
the row keeps ending runs), writing a `retry_scheduled` event per row. The sync sensor's next
tick then requests a new run.

A run that ended before it took its rows (it failed to launch, say a retry dequeued while the
code server restarted, or was cancelled while queued) changed nothing: its entities' rows keep
the state whose run key Dagster already used, so the sync sensor could not ask again until
RELAUNCH_AFTER. The sensors mark those rows changed (`StatusStore.requeue_untouched`), so the
next sync tick requests them under a new key.

The sensor never returns a SkipReason: one tick evaluates it for several runs, and Dagster
fails the tick when some evaluations return nothing and others skip ("received both
DagsterRunReaction and SkipReason"). What it did is logged instead.

Runs started from the CLI or a test have no code-location origin, so the sensors watch every
run of the instance (`monitor_all_code_locations`); a run that holds no lease costs one UPDATE
that matches nothing. (`run_status_sensor`, Dagster 1.13; `run_failure_sensor` is the same
sensor for the FAILURE status.)
"""

from __future__ import annotations

import dagster as dg

from microcks_pipeline.defs.resources import StatusStoreResource
from microcks_pipeline.defs.run_requests import run_entities
from microcks_pipeline.defs.settings import Settings

SETTINGS = Settings.from_env()


def release_leases_of(run: dg.DagsterRun, status_store: StatusStoreResource) -> int:
    """Give back the rows `run` still leases; how many."""
    status = run.status.value.lower()
    reason = f"run {run.run_id} ended ({status}) while syncing; its rows are due again"
    return status_store.store().release_run(run.run_id, reason)


def requeue_rows_not_taken(
    instance: dg.DagsterInstance, run: dg.DagsterRun, status_store: StatusStoreResource
) -> int:
    """Mark the due rows `run` never took (untouched since it was created) changed; how many."""
    record = instance.get_run_record_by_id(run.run_id)
    refs = run_entities(run)
    if record is None or not refs:
        return 0
    status = run.status.value.lower()
    reason = f"run {run.run_id} ended ({status}) before it took these rows; they are due again"
    return status_store.store().requeue_untouched(
        refs, run.run_id, reason, since=record.create_timestamp
    )


def _release_sensor(status: dg.DagsterRunStatus, name: str) -> dg.SensorDefinition:
    word = status.value.lower()

    @dg.run_status_sensor(
        run_status=status,
        name=name,
        monitor_all_code_locations=True,
        minimum_interval_seconds=SETTINGS.sync_interval,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"A run that ended in {word} gives its leases back at once.",
    )
    def release(context: dg.RunStatusSensorContext, status_store: StatusStoreResource) -> None:
        run = context.dagster_run
        released = release_leases_of(run, status_store)
        if released:
            context.log.info(f"released {released} row(s) of run {run.run_id} ({word})")
            return
        requeued = requeue_rows_not_taken(context.instance, run, status_store)
        context.log.info(
            f"run {run.run_id} ({word}) held no lease; {requeued} row(s) it never took are due "
            "again under a new run key"
        )

    return release


release_leases_of_failed_runs = _release_sensor(
    dg.DagsterRunStatus.FAILURE, "release_leases_of_failed_runs"
)
release_leases_of_canceled_runs = _release_sensor(
    dg.DagsterRunStatus.CANCELED, "release_leases_of_canceled_runs"
)
