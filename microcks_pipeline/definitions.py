"""The one Dagster Definitions of microcks-pipeline: wires assets, checks, jobs, sensors,
schedules and resources (`dagster dev -w workspace.yaml`, `dg check defs`)."""

from __future__ import annotations

import dagster as dg

from microcks_pipeline.defs.assets import desired_mocks, microcks_services, sync_status_report
from microcks_pipeline.defs.checks import mocks_answer_examples
from microcks_pipeline.defs.jobs import (
    delete_entity_mocks,
    drift_audit_job,
    prune_events_job,
    status_report_job,
    sync_batch_job,
    sync_entity_job,
)
from microcks_pipeline.defs.pool_wait import sleep_while_waiting_for_a_slot
from microcks_pipeline.defs.report import status_report_sensor
from microcks_pipeline.defs.resources import resources_from_env
from microcks_pipeline.defs.run_failures import (
    release_leases_of_canceled_runs,
    release_leases_of_failed_runs,
)
from microcks_pipeline.defs.schedules import drift_audit_schedule, event_retention_schedule
from microcks_pipeline.defs.sensors import catalog_sensor, sync_sensor

# Every run process loads this module: its steps then wait for a pool slot without spinning.
sleep_while_waiting_for_a_slot()

defs = dg.Definitions(
    assets=[desired_mocks, microcks_services, sync_status_report],
    asset_checks=[mocks_answer_examples],
    jobs=[
        sync_entity_job,
        delete_entity_mocks,
        sync_batch_job,
        drift_audit_job,
        prune_events_job,
        status_report_job,
    ],
    sensors=[
        catalog_sensor,
        sync_sensor,
        status_report_sensor,
        release_leases_of_failed_runs,
        release_leases_of_canceled_runs,
    ],
    schedules=[drift_audit_schedule, event_retention_schedule],
    resources=resources_from_env(),
    # UI materializations and backfills run Dagster's implicit asset job: keep it in one
    # process too (a step worker per step costs 1-2 s, see reference/dagster-throughput.md).
    executor=dg.in_process_executor,
)
