"""The top-level dagster.yaml loads a working production instance on the real PostgreSQL."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psycopg2
import pytest

from microcks_pipeline.defs.partitions import entity_partitions

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


def test_dagster_yaml_retries_failed_runs(production_home: Path) -> None:
    with dg.DagsterInstance.from_config(str(production_home)) as instance:
        assert instance.run_retries_enabled
        assert instance.run_retries_max_retries == 1


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
