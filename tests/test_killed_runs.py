"""A run that is killed or cancelled mid-reconcile gives its leases back within seconds, and the
next sync run re-syncs the mock: a real run in its own process, a real on-disk Dagster instance,
the local Microcks over HTTP slowed by fault injection, the release sensors evaluated against
that instance the way the daemon evaluates them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster_fixtures import World, request_for
from run_process_fixtures import (
    FAILED,
    PETSTORE,
    interrupt,
    leased,
    start_a_slow_run,
    world_on_disk,
)

from microcks_pipeline.core.identity import service_version

CANCELED = "release_leases_of_canceled_runs"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with world_on_disk(tmp_path) as world:
        yield world


def release_and_resync(world: World, sensor: str, cursor: str | None, run_id: str) -> None:
    result = world.tick(sensor, cursor)
    assert not leased(world), result.skip_message
    rows = world.store.rows(PETSTORE)
    assert {r.status for r in rows} == {"pending"}
    assert all(r.lease_owner is None and "ended" in (r.last_error or "") for r in rows)
    events = [e for e in world.store.events(entity_ref=PETSTORE) if e.run_id == run_id]
    released = [e for e in events if e.event_type == "retry_scheduled"]
    assert sorted(e.mock_id for e in released) == sorted(r.mock_id for r in rows)
    assert "reconcile_started" in {e.event_type for e in events}  # written as it happened

    (run,) = world.run_all([request_for(world.tick_sync().run_requests, PETSTORE)])

    assert run.success
    mock = f"{world.server.base_url}/rest/petstore/{service_version(PETSTORE, 'default')}"
    assert world.get(mock + "/pets/3").json()["name"] == "Spike"
    assert {r.status for r in world.store.rows(PETSTORE)} == {"completed"}


def test_a_run_killed_mid_reconcile_is_resynced_well_within_30_seconds(world: World) -> None:
    process, run_id, cursor = start_a_slow_run(world)

    killed_at = time.monotonic()
    interrupt(world, process, run_id, dg.DagsterRunStatus.FAILURE)
    release_and_resync(world, FAILED, cursor, run_id)

    assert time.monotonic() - killed_at < 30


def test_a_cancelled_run_gives_its_rows_back_and_is_resynced(world: World) -> None:
    process, run_id, _ = start_a_slow_run(world)
    cursor = world.tick(CANCELED).cursor  # (a second sensor, started the same way)

    # What Dagster's terminate does: mark the run canceling, then interrupt its worker.
    world.instance.report_run_canceling(world.instance.get_run_by_id(run_id))
    interrupt(world, process, run_id, dg.DagsterRunStatus.CANCELED)
    release_and_resync(world, CANCELED, cursor, run_id)
