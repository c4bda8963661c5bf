"""Shared infrastructure fails as one: the token endpoint (Keycloak) answering 5xx is
Microcks-wide like Microcks down — a global backoff named in the sync sensor's skip message,
every run waiting without a call, work resumed within 30 s of the endpoint coming back — and an
idle sync tick names the entities waiting for a retry. The local Microcks over HTTP with fault
injection, real sensor ticks and real Dagster runs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster_fixtures import World, make_world

from microcks_pipeline.core.identity import service_version

PETSTORE = "api:default/petstore"
TOKEN_PATH = "/auth/"  # the local server's Keycloak realm
RECOVERY = 30.0  # seconds from the endpoint answering again to the edit served


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with make_world(tmp_path, faults=True) as w:
        assert all(r.success for r in w.sync())
        yield w


def pet_name(world: World) -> str:
    url = f"{world.server.base_url}/rest/petstore/{service_version(PETSTORE, 'default')}"
    return world.get(url + "/pets/3").json()["name"]


def rename_spike(world: World, name: str) -> None:
    examples = world.catalog_dir / "petstore/mocks/default/petstore-examples.yaml"
    assert "Spike" in examples.read_text()
    examples.write_text(examples.read_text().replace("Spike", name))


def failure_of(result) -> str:  # type: ignore[no-untyped-def]
    assert not result.success
    (event,) = [e for e in result.all_events if e.is_step_failure]
    return event.step_failure_data.user_failure_data.description


def test_a_token_endpoint_503_pauses_every_run_and_work_resumes_within_30_s(
    world: World,
) -> None:
    faults = world.server.app.state.faults
    faults.fail_next(10_000, 503, path_prefix=TOKEN_PATH)
    rename_spike(world, "Spock")

    (first,) = world.tick_catalog().run_requests
    refused = world.run(first)

    assert "syncing paused by a global backoff" in failure_of(refused)
    backoff = world.store.global_backoff()
    assert backoff is not None and "token endpoint" in backoff.reason and "503" in backoff.reason
    (edited,) = [r for r in world.store.rows(PETSTORE) if r.mock_id == "default"]
    assert (edited.status, edited.attempts) == ("pending", 0)  # given back, not its own failure
    skip = world.tick_sync().skip_message
    assert "Microcks global backoff until" in skip and "HTTP 503" in skip, skip
    assert "(1 entities waiting)" in skip

    token_calls = world.calls(TOKEN_PATH)
    waiting = world.run(first)  # a run that starts during the backoff waits, calls nothing
    assert "waiting until" in failure_of(waiting)
    assert world.calls(TOKEN_PATH) == token_calls

    faults.clear()  # Keycloak is back
    back = time.monotonic()
    while pet_name(world) != "Spock":
        assert time.monotonic() - back < RECOVERY, world.tick_sync().skip_message
        world.run_all(world.tick_sync().run_requests or [])
        time.sleep(1.0)  # the daemon's loop ticks every few seconds
    assert {r.status for r in world.store.rows(PETSTORE)} == {"completed"}


def test_an_idle_sync_tick_names_the_entities_waiting_for_a_retry(world: World) -> None:
    rename_spike(world, "Spock")
    world.server.app.state.faults.fail_next(1, 500, path_prefix="/api/artifact/upload")

    (run,) = world.tick_catalog().run_requests
    assert not world.run(run).success

    skip = world.tick_sync().skip_message
    assert skip.startswith("nothing due; 1 waiting for a retry: api:default/petstore (default: ")
    assert "HTTP 500" in skip and "next try " in skip and " UTC)" in skip, skip
