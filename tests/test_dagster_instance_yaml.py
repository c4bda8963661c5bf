"""The top-level dagster.yaml loads a working production instance on the real PostgreSQL, and its
run retries re-run a run that died but never one that failed on a classified failure."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import dagster as dg
import psycopg2
import pytest
from dagster._daemon.auto_run_reexecution.auto_run_reexecution import (
    filter_runs_to_should_retry,
)
from dagster_fixtures import World, make_world, request_for
from run_process_fixtures import PETSTORE, interrupt, start_a_slow_run

from microcks_pipeline.defs.partitions import entity_partitions
from microcks_pipeline.defs.resources import MicrocksResource
from microcks_pipeline.localserver import DEFAULT_CLIENT_ID

REPO = Path(__file__).resolve().parents[1]
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "test"}
ENV = (
    "DAGSTER_PG_USERNAME",
    "DAGSTER_PG_PASSWORD",
    "DAGSTER_PG_HOST",
    "DAGSTER_PG_DB",
    "DAGSTER_PG_PORT",
)

pytestmark = pytest.mark.postgres


def _admin() -> psycopg2.extensions.connection:
    try:
        conn = psycopg2.connect(connect_timeout=3, **PG)
    except psycopg2.OperationalError as exc:
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 is not available: {exc}")
    conn.autocommit = True
    return conn


@pytest.fixture
def fresh_database() -> Iterator[str]:
    """A database created for this test and dropped after it."""
    name = f"dagster_yaml_{uuid.uuid4().hex[:12]}"
    conn = _admin()
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
            )
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.close()


@pytest.fixture
def production_home(tmp_path: Path, fresh_database: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_PG_USERNAME", "postgres")
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "")
    monkeypatch.setenv("DAGSTER_PG_HOST", "127.0.0.1")
    monkeypatch.setenv("DAGSTER_PG_DB", fresh_database)
    monkeypatch.setenv("DAGSTER_PG_PORT", "5432")
    return home


@dg.op
def hello() -> int:
    return 1


@dg.job(tags={"microcks/entity": "api:default/petstore"})
def tiny_job() -> None:
    hello()


def _tables(database: str) -> set[str]:
    with psycopg2.connect(connect_timeout=3, **{**PG, "dbname": database}) as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            return {row[0] for row in cur.fetchall()}


def test_dagster_yaml_stores_runs_and_partitions_in_postgres(
    production_home: Path, fresh_database: str
) -> None:
    with dg.DagsterInstance.from_config(str(production_home)) as instance:
        result = tiny_job.execute_in_process(instance=instance)
        instance.add_dynamic_partitions(entity_partitions.name, ["api:default/petstore"])

        stored = instance.get_run_by_id(result.run_id)
        assert stored is not None and stored.status == dg.DagsterRunStatus.SUCCESS
        assert stored.tags["microcks/entity"] == "api:default/petstore"
        assert instance.get_dynamic_partitions(entity_partitions.name) == ["api:default/petstore"]
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"

    assert {"runs", "event_logs", "dynamic_partitions"} <= _tables(fresh_database)


def test_dagster_yaml_queues_runs_one_per_entity_and_caps_microcks_steps(
    production_home: Path,
) -> None:
    with dg.DagsterInstance.from_config(str(production_home)) as instance:
        coordinator = instance.run_coordinator
        concurrency = instance.get_concurrency_config()
    runs = concurrency.run_queue_config

    assert type(coordinator).__name__ == "QueuedRunCoordinator"
    assert coordinator.dequeue_use_threads and coordinator.dequeue_num_workers >= 2
    assert {
        "key": "microcks/entity",
        "value": {"applyLimitPerUniqueValue": True},
        "limit": 1,
    } in runs.tag_concurrency_limits
    assert runs.max_concurrent_runs >= 1
    assert concurrency.pool_config.default_pool_limit is not None  # caps pool="microcks_api"


def test_dagster_yaml_retries_runs_that_died_but_no_failed_step(production_home: Path) -> None:
    with dg.DagsterInstance.from_config(str(production_home)) as instance:
        assert instance.run_retries_enabled
        assert instance.run_retries_max_retries == 1
        assert instance.run_retries_retry_on_asset_or_op_failure is False


def test_dagster_yaml_monitors_runs_so_a_stuck_start_frees_its_entity(
    production_home: Path,
) -> None:
    with dg.DagsterInstance.from_config(str(production_home)) as instance:
        assert instance.run_monitoring_enabled
        # Short enough that a run stuck STARTING does not hold its entity's slot for long,
        # long enough for a pod to pull the image and start.
        assert 60 <= instance.run_monitoring_start_timeout_seconds <= 600
        assert instance.run_monitoring_settings["cancel_timeout_seconds"] > 0
        # The default launcher cannot resume a run; a positive value would be a lie.
        assert instance.run_monitoring_max_resume_run_attempts == 0
        assert 0 < instance.run_monitoring_poll_interval_seconds <= 120


def test_dagster_yaml_without_its_variables_fails_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")

    with pytest.raises(Exception, match="DAGSTER_PG_"):
        dg.DagsterInstance.from_config(str(home))


# ---- run retries: a died run is retried, a failed step never ----------------------------------


@pytest.fixture
def world_on_production(tmp_path: Path, production_home: Path) -> Iterator[World]:
    """The sample world (local Microcks with faults, SQLite status store) on the production
    dagster.yaml's instance (PostgreSQL)."""
    with (
        make_world(tmp_path, faults=True) as base,
        dg.DagsterInstance.from_config(str(production_home)) as instance,
    ):
        yield replace(base, instance=instance)


def _retried_by_the_daemon(instance: dg.DagsterInstance, run_id: str) -> bool:
    """What Dagster's auto-run-reexecution daemon decides for the run (its own function)."""
    run = instance.get_run_by_id(run_id)
    assert run is not None and run.status == dg.DagsterRunStatus.FAILURE
    return bool(list(filter_runs_to_should_retry([run], instance)))


def _wrong_secret(world: World) -> World:
    return world.using(
        microcks=MicrocksResource(
            base_url=world.server.base_url, client_id=DEFAULT_CLIENT_ID, client_secret="wrong"
        )
    )


def _broken_config(world: World) -> World:
    (world.catalog_dir / "petstore" / "microcks.yaml").write_text("spec: {mocks: []}\n")
    return world


@pytest.mark.parametrize(
    "breaking",
    [
        pytest.param(lambda w: w.using(microcks=MicrocksResource()), id="not-configured"),
        pytest.param(_wrong_secret, id="auth"),
        pytest.param(_broken_config, id="permanent"),
    ],
)
def test_a_run_that_failed_on_a_classified_failure_is_not_retried(
    world_on_production: World, breaking: Callable[[World], World]
) -> None:
    world = world_on_production
    world.tick_catalog()
    request = request_for(world.tick_sync().run_requests, PETSTORE)
    world = breaking(world)
    world.tick_catalog()

    result = world.run(request)

    assert not result.success
    assert world.instance.get_run_by_id(result.run_id).tags["dagster/will_retry"] == "false"
    assert not _retried_by_the_daemon(world.instance, result.run_id)


def test_a_run_killed_mid_sync_is_retried(world_on_production: World) -> None:
    world = world_on_production
    process, run_id, _ = start_a_slow_run(world)

    interrupt(world, process, run_id, dg.DagsterRunStatus.FAILURE)

    assert _retried_by_the_daemon(world.instance, run_id)
