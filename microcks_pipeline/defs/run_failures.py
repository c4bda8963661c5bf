"""Run-status sensors: a run that failed (crashed, killed) or was cancelled gives its leases back.

A run leases its entity's rows for 300 s and renews the lease while it works. When the run dies
the lease would hold the rows until it expires; Dagster, though, knows within a second that the
run failed or was cancelled. These sensors react to that event and put every row the run still
leases back to `pending` (StatusStore.release_run: due at once the first time, backing off if
the row keeps ending runs), writing a `retry_scheduled` event per row. The sync sensor's next
tick then requests a new run.

Runs started from the CLI or a test have no code-location origin, so the sensors watch every
run of the instance (`monitor_all_code_locations`); a run that holds no lease costs one UPDATE
that matches nothing. (`run_status_sensor`, Dagster 1.13; `run_failure_sensor` is the same
sensor for the FAILURE status.)
"""

from __future__ import annotations

import dagster as dg

from microcks_pipeline.defs.resources import StatusStoreResource
from microcks_pipeline.defs.settings import Settings

SETTINGS = Settings.from_env()


def release_leases_of(run: dg.DagsterRun, status_store: StatusStoreResource) -> int:
    """Give back the rows `run` still leases; how many."""
    status = run.status.value.lower()
    reason = f"run {run.run_id} ended ({status}) while syncing; its rows are due again"
    return status_store.store().release_run(run.run_id, reason)


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
    def release(
        context: dg.RunStatusSensorContext, status_store: StatusStoreResource
    ) -> dg.SkipReason | None:
        run = context.dagster_run
        released = release_leases_of(run, status_store)
        context.log.info(f"released {released} row(s) of run {run.run_id} ({word})")
        return None if released else dg.SkipReason("the run held no lease")

    return release


release_leases_of_failed_runs = _release_sensor(
    dg.DagsterRunStatus.FAILURE, "release_leases_of_failed_runs"
)
release_leases_of_canceled_runs = _release_sensor(
    dg.DagsterRunStatus.CANCELED, "release_leases_of_canceled_runs"
)
