"""No run is a zombie: a sync run whose worker died unseen (SIGKILL, a lost node) stops beating,
and a third of the lease time later it stops covering its entities, is marked failed with a reason an
operator can read, and its mocks are synced again; a run that failed before taking its rows
(a launch failure) makes them due again under a new run key; one release tick copes with a
failed run that held leases beside one that held none. Real run processes, a real on-disk
Dagster instance, the local Microcks over HTTP, sensors evaluated as the daemon does."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster_fixtures import World, request_for
from run_process_fixtures import (
    FAILED,
    PETSTORE,
    leased,
    start_a_slow_run,
    wait_for,
    world_on_disk,
)

from microcks_pipeline.core.identity import service_version
from microcks_pipeline.definitions import defs
from microcks_pipeline.defs import settings as s

ORDERS = "api:default/orders-api"
LEASE = 3  # seconds: the run and the sensors use the same, short lease time (hold 1 s)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setenv(s.LEASE_SECONDS, str(LEASE))
    with world_on_disk(tmp_path) as world:
        yield world


def failure_message(world: World, run_id: str) -> str:
    records = world.instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.RUN_FAILURE
    ).records
    return records[-1].event_log_entry.dagster_event.message or ""


def requested(world: World) -> set[str]:
    """The entities the sync sensor's tick asks runs for."""
    return {r.tags.get("microcks/entity") for r in world.tick_sync().run_requests or []}


def served_name(world: World) -> str:
    mock = f"{world.server.base_url}/rest/petstore/{service_version(PETSTORE, 'default')}"
    return world.get(mock + "/pets/3").json()["name"]


def test_a_run_killed_unseen_is_marked_failed_within_the_lease_time_and_resynced(
    world: World,
) -> None:
    process, run_id, _ = start_a_slow_run(world, env={s.LEASE_SECONDS: str(LEASE)})
    assert PETSTORE not in requested(world)  # its run covers it
    assert world.instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED

    process.send_signal(signal.SIGKILL)  # no handler runs: nobody tells Dagster
    process.wait(timeout=30)
    killed_at = time.monotonic()
    world.server.app.state.faults.clear()
    time.sleep(LEASE / 3 + 0.5)  # one hold of silence
    assert world.instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED

    requests = world.tick_sync().run_requests
    run = world.instance.get_run_by_id(run_id)
    assert run.status == dg.DagsterRunStatus.FAILURE
    reason = failure_message(world, run_id)
    assert "sent no heartbeat, held no lease and written no event for 1 s" in reason
    assert "its entities are due again" in reason
    assert not leased(world)
    (result,) = world.run_all([request_for(requests, PETSTORE)])
    assert result.success
    assert served_name(world) == "Spike"
    assert time.monotonic() - killed_at < LEASE * 3  # a run in-process starts in a few seconds
    assert {r.status for r in world.store.rows(PETSTORE)} == {"completed"}


def test_a_slow_run_keeps_its_lease_beyond_the_lease_time_by_its_heartbeat(world: World) -> None:
    process, run_id, _ = start_a_slow_run(world, env={s.LEASE_SECONDS: str(LEASE)})
    try:
        claimed = leased(world)[0].lease_expires_at
        time.sleep(LEASE + 1)  # its one upload takes longer than the lease time
        assert PETSTORE not in requested(world)
        assert world.instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED
        rows = leased(world)
        assert rows and {r.lease_owner for r in rows} == {run_id}
        assert all(r.lease_expires_at > claimed for r in rows)  # renewed by its heartbeat
    finally:
        process.kill()
        process.wait(timeout=30)


def launch_failed(world: World, request: dg.RunRequest) -> dg.DagsterRun:
    """What the daemon does with a dequeued run it cannot launch (the code server restarting):
    the run, created from the request, is marked failed before it ran anything."""
    job = defs.resolve_job_def(request.job_name)
    tags = {**request.tags, "dagster/partition": request.partition_key}
    run = world.instance.create_run_for_job(job_def=job, tags=tags, run_config={})
    world.instance.report_run_failed(run, message="could not reach the code server")
    return world.instance.get_run_by_id(run.run_id)


def test_one_tick_releases_a_killed_run_and_requeues_a_run_that_failed_to_launch(
    world: World,
) -> None:
    first = {r.tags["microcks/entity"]: r for r in world.tick_catalog().run_requests}
    cursor = world.tick(FAILED).cursor
    world.server.app.state.faults.clear()
    process, killed_id, _ = start_a_slow_run(world)  # petstore's run, inside its first upload
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    world.server.app.state.faults.clear()
    wait_for(
        "the killed run to be marked failed",
        lambda: world.instance.get_run_by_id(killed_id).status == dg.DagsterRunStatus.FAILURE,
    )
    never_ran = launch_failed(world, request_for(world.tick_sync().run_requests, ORDERS))

    result = world.tick(FAILED, cursor)  # both failures in one tick

    assert result.skip_message is None, result.skip_message
    assert not leased(world)
    orders = world.store.rows(ORDERS)
    assert {r.status for r in orders} == {"pending"}
    events = [e for e in world.store.events(entity_ref=ORDERS) if e.run_id == never_ran.run_id]
    assert {e.event_type for e in events} == {"retry_scheduled"}
    assert "before it took these rows" in events[0].message
    again = request_for(world.tick_sync().run_requests, ORDERS)
    assert again.run_key != first[ORDERS].run_key  # Dagster would not skip it as seen
    assert all(r.success for r in world.run_all([again]))
    assert {r.status for r in world.store.rows(ORDERS)} == {"completed"}
