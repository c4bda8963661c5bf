"""Failure behaviour end to end: faults on the real local Microcks over HTTP, real sensor ticks
and real Dagster runs, and what the operator sees (row status and cause, events, the run's
failure, the tick's message) and what Microcks serves afterwards."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from dagster_fixtures import CLIENT_SECRET, World, make_world, request_for

from microcks_pipeline.core.identity import service_version
from microcks_pipeline.core.lifecycle import Cause
from microcks_pipeline.defs import settings as s
from microcks_pipeline.defs.resources import MicrocksResource
from microcks_pipeline.localserver import DEFAULT_CLIENT_ID
from microcks_pipeline.store.schema import STATE_TABLE

PETSTORE = "api:default/petstore"
USERS = "api:default/users-api"
WRONG_SECRET = "wrong-secret-do-not-store"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with make_world(tmp_path, faults=True) as w:
        yield w


@pytest.fixture
def synced(world: World) -> World:
    assert all(r.success for r in world.sync())
    return world


def pet_url(world: World, mock_id: str) -> str:
    return f"{world.server.base_url}/rest/petstore/{service_version(PETSTORE, mock_id)}"


def rows(world: World, ref: str = PETSTORE) -> dict[str, object]:
    return {r.mock_id: r for r in world.store.rows(ref)}


def break_default_and_edit_fallback(world: World) -> None:
    """One mock of petstore becomes invalid (its examples file is gone) while the author also
    edits the other mock, which must still be synced."""
    (world.catalog_dir / "petstore/mocks/default/petstore-examples.yaml").unlink()
    fallback = world.catalog_dir / "petstore/mocks/fallback/petstore-examples.yaml"
    fallback.write_text(fallback.read_text().replace("Pet not found", "No such pet"))


def failed_step(result) -> str:
    assert not result.success
    return result.failure_data_for_node("microcks_services").user_failure_data.description


def faults(world: World):
    return world.server.app.state.faults


# ---- invalid configuration ---------------------------------------------------------------------


def test_an_invalid_mock_by_default_loses_its_services_and_fails_its_partition(
    synced: World,
) -> None:
    break_default_and_edit_fallback(synced)

    (request,) = synced.tick_catalog().run_requests  # the catalog tick hands it over itself
    result = synced.run(request)

    named = synced.tick_sync().skip_message  # the sync sensor names the mock in error
    assert PETSTORE in named and "petstore-examples.yaml" in named
    assert request.job_name == "sync_entity_job" and request.partition_key
    description = failed_step(result)
    assert "default" in description and "petstore-examples.yaml" in description
    default = rows(synced)["default"]
    assert (default.status, default.failure_cause) == ("error", Cause.LOAD_FAILED)
    assert "petstore-examples.yaml" in default.last_error
    assert synced.get(pet_url(synced, "default") + "/pets/3").status_code == 404
    # The rest of the entity was synced in the same run.
    assert synced.get(pet_url(synced, "fallback") + "/pets/999").json()["message"] == "No such pet"
    assert rows(synced)["fallback"].status == "completed"


def test_with_on_invalid_keep_the_last_good_mock_stays_served_while_its_partition_fails(
    synced: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(s.ON_INVALID, "keep")
    break_default_and_edit_fallback(synced)

    (request,) = synced.tick_catalog().run_requests  # the catalog tick hands it over itself
    result = synced.run(request)

    named = synced.tick_sync().skip_message  # the sync sensor names the mock in error
    assert PETSTORE in named and "petstore-examples.yaml" in named
    assert "petstore-examples.yaml" in failed_step(result)
    default = rows(synced)["default"]
    assert (default.status, default.failure_cause) == ("error", Cause.LOAD_FAILED)
    assert default.desired_action == "reconcile"
    pet = synced.get(pet_url(synced, "default") + "/pets/3")
    assert pet.status_code == 200 and pet.json()["name"] == "Spike"  # the last good mock
    assert synced.get(pet_url(synced, "fallback") + "/pets/999").json()["message"] == "No such pet"
    assert synced.tick_sync().run_requests == []  # the error waits for a fix, not a retry
    kinds = [e.event_type for e in synced.store.events(entity_ref=PETSTORE, limit=20)]
    assert "failed" in kinds and "load_failed" in kinds


def test_an_invalid_entity_that_never_synced_fails_its_partition_not_a_delete_run(
    world: World,
) -> None:
    (world.catalog_dir / "users/microcks.yaml").write_text("spec:\n  mocks: []\n")

    world.tick_catalog()
    requests = world.tick_sync().run_requests
    results = {r.tags["microcks/entity"]: (r, world.run(r)) for r in requests}

    request, result = results.pop(USERS)
    assert request.job_name == "sync_entity_job"
    assert "microcks.yaml" in failed_step(result)
    assert all(r.success for _, r in results.values())
    # It leaves the catalog: nothing to delete, and the delete run succeeds.
    root = world.catalog_dir / "catalog-info.yaml"
    root.write_text(root.read_text().replace("    - ./users/catalog-info.yaml\n", ""))
    shutil.rmtree(world.catalog_dir / "users")
    world.tick_catalog()
    (delete,) = world.tick_sync().run_requests
    assert (delete.job_name, delete.tags["microcks/entity"]) == ("delete_entity_mocks", USERS)
    assert world.run(delete).success
    assert "removed 1 partition(s)" in world.tick_sync().skip_message
    assert USERS not in world.partitions()


# ---- events as they happen ---------------------------------------------------------------------


def test_reconcile_started_is_in_the_events_table_before_the_first_upload(world: World) -> None:
    world.tick_catalog()
    request = request_for(world.tick_sync().run_requests, PETSTORE)
    upload = "/api/artifact/upload"
    faults(world).add_latency(2.0, method="POST", path_prefix=upload, count=1)
    seen_before_upload: list[str] = []

    def watch() -> None:  # what an operator reading the table sees while the upload hangs
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not world.calls(upload):
            kinds = [e.event_type for e in world.store.events(entity_ref=PETSTORE)]
            if "reconcile_started" in kinds and not world.calls(upload):
                seen_before_upload.append("reconcile_started")
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    result = world.run(request)
    watcher.join()

    assert result.success
    assert seen_before_upload == ["reconcile_started"]


# ---- Microcks errors: one entity's, or everyone's ---------------------------------------------


def test_a_5xx_on_one_entitys_service_search_retries_that_entity_only(world: World) -> None:
    world.tick_catalog()
    requests = world.tick_sync().run_requests
    faults(world).fail_next(1, 500, method="GET", path_prefix="/api/services/search")

    pet = world.run(request_for(requests, PETSTORE))
    others = [world.run(r) for r in requests if r.tags["microcks/entity"] != PETSTORE]

    assert "will retry" in failed_step(pet)
    assert all(r.success for r in others)
    for row in world.store.rows(PETSTORE):
        assert (row.status, row.attempts, row.failure_cause) == ("pending", 1, Cause.SERVER_ERROR)
        assert row.next_attempt_at is not None
    assert world.store.global_backoff() is None
    assert "backoff" not in (world.tick_sync().skip_message or "")


def test_5xx_on_several_entities_within_a_minute_pause_everything(world: World) -> None:
    world.tick_catalog()
    requests = world.tick_sync().run_requests
    faults(world).fail_next(3, 503, method="GET", path_prefix="/api/services/search")

    results = [world.run(r) for r in requests[:3]]

    assert not any(r.success for r in results)
    backoff = world.store.global_backoff()
    assert backoff is not None and "3 entities" in backoff.reason
    assert "global backoff" in world.tick_sync().skip_message


def test_a_batch_run_stops_once_several_entities_met_microcks_errors(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(s.BATCH_THRESHOLD, "1")
    faults(world).fail_next(3, 503, method="GET", path_prefix="/api/services/search")

    (batch,) = world.tick_catalog().run_requests
    result = world.run(batch)

    assert not result.success
    description = result.failure_data_for_node("sync_entities").user_failure_data.description
    assert "global backoff" in description and "4 entities left" in description
    untouched = [ref for ref, rows in world.store.due_entities().items() if rows[0].attempts == 0]
    assert len(untouched) == 4  # the entities after the third were not sent into the outage
    assert world.store.counts()["leased"] == 0  # what it claimed ahead of them went back
    assert world.store.global_backoff() is not None


def test_a_batch_run_refused_by_microcks_gives_back_every_entity_it_claimed_ahead(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(s.BATCH_THRESHOLD, "1")
    wrong = world.using(
        microcks=MicrocksResource(
            base_url=world.server.base_url, client_id=DEFAULT_CLIENT_ID, client_secret=WRONG_SECRET
        )
    )
    (batch,) = wrong.tick_catalog().run_requests
    refs = batch.run_config["ops"]["sync_entities"]["config"]["entity_refs"]

    result = wrong.run(batch)

    description = result.failure_data_for_node("sync_entities").user_failure_data.description
    assert "credentials" in description and f"{len(refs)} entities left" in description
    rows = world.store.rows()
    assert {(r.status, r.lease_owner) for r in rows} == {("pending", None)}
    assert {r.attempts for r in rows} == {0}  # no attempt counted
    now = datetime.now(UTC)
    assert all(r.next_attempt_at is None or r.next_attempt_at <= now for r in rows)  # due now
    events = [e for e in world.store.events(limit=1000) if e.run_id == result.run_id]
    given_back = {e.entity_ref for e in events if "the batch run stopped" in e.message}
    assert given_back == set(refs[1:])  # only the first was tried; each other one says why
    assert world.calls("/api/artifact/upload") == 0


def test_a_batch_run_started_during_a_global_backoff_claims_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(s.BATCH_THRESHOLD, "1")
    (batch,) = world.tick_catalog().run_requests  # requested before the backoff began
    refs = batch.run_config["ops"]["sync_entities"]["config"]["entity_refs"]
    world.store.set_global_backoff(datetime.now(UTC) + timedelta(minutes=5), "Microcks is down")

    result = world.run(batch)

    description = result.failure_data_for_node("sync_entities").user_failure_data.description
    assert "Microcks is down" in description and f"{len(refs)} entities left" in description
    assert {(r.status, r.lease_owner, r.attempts) for r in world.store.rows()} == {
        ("pending", None, 0)
    }
    assert not [e for e in world.store.events(limit=1000) if e.event_type == "reconcile_started"]
    assert world.calls("/api/") == 0


def test_a_changed_credential_ends_the_auth_backoff_at_once(world: World) -> None:
    wrong = world.using(
        microcks=MicrocksResource(
            base_url=world.server.base_url, client_id=DEFAULT_CLIENT_ID, client_secret=WRONG_SECRET
        )
    )
    wrong.tick_catalog()
    refused = wrong.run(request_for(wrong.tick_sync().run_requests, PETSTORE))

    assert "credentials" in failed_step(refused)
    assert "global backoff" in wrong.tick_sync().skip_message  # the same credentials still wait
    engine = sa.create_engine(world.db_url)
    with engine.connect() as conn:
        state = [tuple(r) for r in conn.execute(sa.text(f"SELECT * FROM {STATE_TABLE}"))]
    engine.dispose()
    assert state and WRONG_SECRET not in repr(state) and CLIENT_SECRET not in repr(state)

    fixed = world.tick_sync()  # the secret was corrected: the next tick goes ahead

    assert PETSTORE in {r.tags["microcks/entity"] for r in fixed.run_requests}
    assert world.run(request_for(fixed.run_requests, PETSTORE)).success
    assert world.store.global_backoff() is None


def test_an_unknown_on_invalid_value_is_a_clear_error_naming_the_variable() -> None:
    with pytest.raises(ValueError, match=f"{s.ON_INVALID} must be one of delete, keep"):
        s.Settings.from_env({s.ON_INVALID: "maybe"})

    assert s.Settings.from_env({s.ON_INVALID: " KEEP "}).on_invalid == "keep"
    assert s.Settings.from_env({}).on_invalid == "delete"
