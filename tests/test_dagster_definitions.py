"""The Dagster project loads: every job resolves, sensors and schedules run by default, and
`dagster definitions validate` accepts the workspace without any Microcks configuration."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from microcks_pipeline.definitions import defs
from microcks_pipeline.defs import settings as s

REPO = Path(__file__).resolve().parents[1]
JOBS = [
    "sync_entity_job",
    "delete_entity_mocks",
    "sync_batch_job",
    "drift_audit_job",
    "prune_events_job",
    "status_report_job",
]


def test_every_job_resolves() -> None:
    resolved = {name: defs.resolve_job_def(name) for name in JOBS}

    assert all(job.name == name for name, job in resolved.items())


def test_the_entity_sync_job_runs_in_process_and_includes_the_check() -> None:
    job = defs.resolve_job_def("sync_entity_job")

    assert job.executor_def is dg.in_process_executor
    assert isinstance(job.partitions_def, dg.DynamicPartitionsDefinition)
    assert job.partitions_def.name == "api_entities"
    checks = job.asset_layer.asset_graph.asset_check_keys
    assert dg.AssetCheckKey(dg.AssetKey("microcks_services"), "mocks_answer_examples") in checks


def test_steps_that_call_microcks_share_one_pool() -> None:
    pools = {
        node.name: node.definition.pool
        for name in ("sync_entity_job", "delete_entity_mocks", "sync_batch_job", "drift_audit_job")
        for node in defs.resolve_job_def(name).nodes
    }

    assert pools["microcks_services"] == "microcks_api"
    assert pools["delete_entity_services"] == "microcks_api"
    assert pools["sync_entities"] == "microcks_api"
    assert pools["audit_microcks"] == "microcks_api"
    assert pools["desired_mocks"] is None  # reads only the catalog


def test_sensors_and_schedules_are_on_by_default() -> None:
    names = ("catalog_sensor", "sync_sensor", "status_report_sensor")
    sensors = {name: defs.resolve_sensor_def(name) for name in names}
    schedules = {
        name: defs.resolve_schedule_def(name)
        for name in ("drift_audit_schedule", "event_retention_schedule")
    }

    for sensor in sensors.values():
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    for schedule in schedules.values():
        assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert (
        sensors["catalog_sensor"].minimum_interval_seconds == s.Settings.from_env().catalog_interval
    )
    assert sensors["sync_sensor"].minimum_interval_seconds == s.Settings.from_env().sync_interval


def test_the_workspace_validates_without_microcks_configuration(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MICROCKS_", "DAGSTER_PG_"))}
    env["DAGSTER_HOME"] = str(tmp_path)  # else ./dagster.yaml (production, PostgreSQL) applies

    done = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert done.returncode == 0, done.stderr[-2000:]
    assert "Validation successful for code location microcks_pipeline" in done.stdout + done.stderr


def test_ui_materializations_and_backfills_run_in_process() -> None:
    implicit = defs.resolve_implicit_global_asset_job_def()
    assert implicit.executor_def is dg.in_process_executor
