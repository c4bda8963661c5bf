"""End to end through Dagster: sensor ticks and the runs they request, against a real local
Microcks over HTTP, a real SQLite status store and a temporary Dagster instance."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster_fixtures import (
    CLIENT_SECRET,
    MANAGED,
    World,
    break_petstore_fallback,
    make_world,
    materializations,
    metadata_of,
    request_for,
    services,
)

from microcks_pipeline.core.identity import service_version
from microcks_pipeline.definitions import defs
from microcks_pipeline.defs import settings as s
from microcks_pipeline.defs.partitions import partition_key
from microcks_pipeline.defs.resources import CatalogResource, MicrocksResource, StatusStoreResource
from microcks_pipeline.localserver import DEFAULT_CLIENT_ID

PETSTORE = "api:default/petstore"
USERS = "api:default/users-api"


def pet_url(world: World, mock_id: str = "default") -> str:
    return f"{world.server.base_url}/rest/petstore/{service_version(PETSTORE, mock_id)}"


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_a_new_entity_gets_a_partition_and_its_runs_in_the_same_tick(world: World) -> None:
    catalog_tick = world.tick_catalog()

    assert world.partitions() == MANAGED
    assert world.calls("/") == 0  # the catalog sensor never calls Microcks
    requests = catalog_tick.run_requests
    assert {r.tags["microcks/entity"] for r in requests} == MANAGED
    assert {r.job_name for r in requests} == {"sync_entity_job"}
    results = world.run_all(requests)

    assert all(r.success for r in results)
    pet = world.get(pet_url(world) + "/pets/3")
    assert pet.status_code == 200
    assert pet.json()["name"] == "Spike"
    meta = metadata_of(results[[r.tags["microcks/entity"] for r in requests].index(PETSTORE)])
    assert meta["actions"] == {"default": "created", "fallback": "created"}
    assert set(meta["service_ids"]) == {"default", "fallback"}
    assert meta["mock_url/default"].startswith(pet_url(world) + "/")
    assert world.get(meta["mock_url/default"]).status_code == 200
    assert meta["microcks_calls"] > 0


def test_the_sync_run_checks_each_mock_answers_an_example(world: World) -> None:
    world.tick_catalog()
    request = request_for(world.tick_sync().run_requests, PETSTORE)

    result = world.run(request)

    evaluations = result.get_asset_check_evaluations()
    assert [e.check_name for e in evaluations] == ["mocks_answer_examples"]
    assert evaluations[0].passed, evaluations[0].description
    assert evaluations[0].metadata["checked"].value == 2


def test_an_unchanged_tick_requests_nothing_and_writes_nothing(synced: World) -> None:
    rows_before = synced.store.rows()
    events_before = synced.store.events(limit=1000)
    calls_before = synced.calls()

    catalog_tick = synced.tick_catalog()
    sync_tick = synced.tick_sync()

    assert not catalog_tick.run_requests
    assert "unchanged" in catalog_tick.skip_message
    assert not sync_tick.run_requests
    assert synced.partitions() == MANAGED
    assert synced.store.rows() == rows_before
    assert synced.store.events(limit=1000) == events_before
    assert synced.calls() == calls_before  # an unchanged catalog costs no Microcks call


def test_editing_one_mocks_example_resyncs_only_that_entity(synced: World) -> None:
    edit(synced.catalog_dir / "petstore/mocks/default/petstore-examples.yaml", "Spike", "Spiky")

    requests = synced.tick_catalog().run_requests  # served from this one tick
    due = synced.store.due_entities()

    assert {ref: [r.mock_id for r in rows] for ref, rows in due.items()} == {PETSTORE: ["default"]}
    assert [r.tags["microcks/entity"] for r in requests] == [PETSTORE]
    result = synced.run(requests[0])
    assert result.success
    assert metadata_of(result)["actions"] == {"default": "updated"}
    assert synced.get(pet_url(synced) + "/pets/3").json()["name"] == "Spiky"
    assert synced.tick_sync().run_requests == []  # nothing left for the sync sensor


def test_removing_a_mock_deletes_its_service_and_keeps_the_others(synced: World) -> None:
    fallback = f"petstore:{service_version(PETSTORE, 'fallback')}"
    assert fallback in services(synced)
    config = synced.catalog_dir / "petstore/microcks.yaml"
    config.write_text(config.read_text().split("    # Same API")[0])

    results = synced.sync()

    assert [r.success for r in results] == [True]
    assert metadata_of(results[0])["actions"] == {"fallback": "deleted"}
    assert fallback not in services(synced)
    assert synced.get(pet_url(synced) + "/pets/3").json()["name"] == "Spike"


def test_an_invalid_field_in_one_mock_entry_fails_that_mock_and_the_other_keeps_serving(
    synced: World,
) -> None:
    config, line = break_petstore_fallback(synced)
    fallback = f"petstore:{service_version(PETSTORE, 'fallback')}"
    assert fallback in services(synced)

    results = synced.sync()

    assert len(results) == 1  # petstore alone
    rows = {r.mock_id: r for r in synced.store.rows(PETSTORE)}
    assert rows["fallback"].status == "error"
    assert rows["fallback"].last_error.startswith(
        f"{config.relative_to(synced.catalog_dir)}:{line}: "
        "field 'spec.mocks[1].includeInSwagger': must be true or false, found 'yes'"
    )
    assert rows["default"].status == "completed"
    assert synced.get(pet_url(synced) + "/pets/3").json()["name"] == "Spike"
    assert fallback not in services(synced)  # the documented contract: a failed mock's service goes


def test_an_entry_with_an_invalid_mockId_is_an_error_under_its_position_and_the_rest_syncs(
    synced: World,
) -> None:
    config = synced.catalog_dir / "petstore/microcks.yaml"
    edit(config, "- mockId: fallback", "- mockId: 'fall back'")

    [result] = synced.sync()

    assert not result.success  # the partition shows the failure, naming the entry
    rows = {r.mock_id: r for r in synced.store.rows(PETSTORE)}
    assert rows["spec.mocks[1]"].status == "error"
    assert "field 'spec.mocks[1].mockId'" in rows["spec.mocks[1]"].last_error
    assert rows["default"].status == "completed"
    assert synced.get(pet_url(synced) + "/pets/3").json()["name"] == "Spike"
    # The entry no longer names `fallback`: that mock was removed, so its service went.
    assert f"petstore:{service_version(PETSTORE, 'fallback')}" not in services(synced)


def test_removing_an_entity_deletes_its_services_and_then_its_partition(synced: World) -> None:
    ours = [n for n in services(synced) if n.startswith("users-api:")]
    assert ours
    edit(synced.catalog_dir / "catalog-info.yaml", "    - ./users/catalog-info.yaml\n", "")
    shutil.rmtree(synced.catalog_dir / "users")

    synced.tick_catalog()
    requests = synced.tick_sync().run_requests
    assert [(r.job_name, r.tags["microcks/entity"]) for r in requests] == [
        ("delete_entity_mocks", USERS)
    ]
    assert synced.run(requests[0]).success
    assert not [n for n in services(synced) if n.startswith("users-api:")]
    assert USERS in synced.partitions()  # the partition goes only after the delete finished

    cleanup = synced.tick_sync()
    assert "removed 1 partition(s) of deleted entities" in cleanup.skip_message
    assert synced.partitions() == MANAGED - {USERS}
    synced.tick_sync()
    assert synced.store.rows(USERS) == []  # forgotten once the partition is gone
    assert synced.partitions() == MANAGED - {USERS}


def test_without_microcks_configuration_work_accumulates_and_no_run_starts(tmp_path: Path) -> None:
    with make_world(tmp_path, configured=False) as world:
        world.tick_catalog()
        first = world.tick_sync()
        world.tick_catalog()
        second = world.tick_sync()

        assert not first.run_requests and not second.run_requests
        assert s.MICROCKS_URL in second.skip_message
        assert f"{len(MANAGED)} entities waiting" in second.skip_message
        assert world.store.counts()["pending"] == len(world.store.rows()) > 0
        assert world.partitions() == MANAGED
        assert world.calls("/") == 0


def test_a_global_backoff_holds_every_run_until_it_is_over(world: World) -> None:
    world.tick_catalog()
    world.store.set_global_backoff(datetime.now(UTC) + timedelta(minutes=5), "token refused")

    held = world.tick_sync()
    world.store.clear_global_backoff()
    released = world.tick_sync()

    assert not held.run_requests
    assert "token refused" in held.skip_message
    assert {r.tags["microcks/entity"] for r in released.run_requests} == MANAGED


def test_microcks_down_fails_the_run_clearly_and_sets_the_global_backoff(world: World) -> None:
    world.tick_catalog()
    request = request_for(world.tick_sync().run_requests, PETSTORE)
    # Nothing listens on port 9 of the loopback address: the connection is refused at once.
    down = world.using(
        microcks=MicrocksResource(
            base_url="http://127.0.0.1:9", client_id=DEFAULT_CLIENT_ID, client_secret=CLIENT_SECRET
        )
    )

    result = down.run(request)

    assert not result.success
    failure = result.failure_data_for_node("microcks_services")
    assert "Microcks is unavailable" in failure.user_failure_data.description
    assert CLIENT_SECRET not in failure.user_failure_data.description
    assert world.store.global_backoff() is not None
    assert "backoff" in world.tick_sync().skip_message
    assert world.store.counts()["leased"] == 0  # rows given back for a later run
    world.store.clear_global_backoff()  # the backoff is over
    retry = request_for(world.tick_sync().run_requests, PETSTORE)
    assert retry.run_key != request.run_key  # else Dagster would skip it as already launched
    assert world.run(retry).success


def test_the_same_change_run_twice_does_nothing_harmful(world: World) -> None:
    world.tick_catalog()
    first_tick = world.tick_sync().run_requests
    again_tick = world.tick_sync().run_requests
    assert [r.run_key for r in first_tick] == [r.run_key for r in again_tick]  # Dagster dedups
    request = request_for(first_tick, PETSTORE)
    assert world.run(request).success
    calls = world.calls()

    duplicate = world.run(request)

    assert duplicate.success
    meta = metadata_of(duplicate)
    assert meta["rows_claimed"] == 0 and meta["microcks_calls"] == 0
    assert world.calls() - calls <= 6  # reads only: the metadata's and the asset check's
    assert world.get(pet_url(world) + "/pets/3").json()["name"] == "Spike"


def test_backfilling_a_partition_resyncs_it_even_when_nothing_changed(synced: World) -> None:
    request = dg.RunRequest(
        job_name="sync_entity_job",
        partition_key=partition_key(PETSTORE),
        tags={"dagster/backfill": "manual-backfill"},
    )
    synced.server.app.state.calls.clear()

    result = synced.run(request)

    assert result.success
    meta = metadata_of(result)
    assert meta["rows_claimed"] == 2
    assert meta["microcks_calls"] > 0
    assert synced.calls("/api/artifact/upload") > 0
    assert synced.get(pet_url(synced) + "/pets/3").json()["name"] == "Spike"


def test_a_mass_change_goes_to_one_batch_run_from_the_catalog_tick(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(s.BATCH_THRESHOLD, "1")

    tick = world.tick_catalog()

    requests = tick.run_requests
    assert [r.job_name for r in requests] == ["sync_batch_job"]
    assert world.calls("/") == 0  # handing work to a run is not calling Microcks
    assert world.partitions() == MANAGED
    result = world.run(requests[0])
    assert result.success
    assert {r.partition_key for r in materializations(world)} == {partition_key(r) for r in MANAGED}
    assert world.get(pet_url(world) + "/pets/3").json()["name"] == "Spike"
    assert world.store.due_entities() == {}
    assert world.tick_sync().run_requests == []


def test_a_catalog_tick_out_of_load_time_hands_over_what_it_read_and_the_next_ticks_the_rest(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A load time spent before the first file is read: each tick reads one entity (at least
    # one, so every tick makes progress), as a tick of a huge catalog reads its first part.
    monkeypatch.setenv(s.CATALOG_LOAD_SECONDS, "0.000001")

    first = world.tick_catalog()

    assert world.partitions() == MANAGED  # every listed entity has its partition at once
    assert [r.tags["microcks/entity"] for r in first.run_requests] == [
        r.entity_ref for r in world.store.rows()
    ][:1]
    requested = [r.tags["microcks/entity"] for r in first.run_requests]
    assert all(r.success for r in world.run_all(first.run_requests))
    for _ in range(len(MANAGED) - 1):
        tick = world.tick_catalog()
        requested += [r.tags["microcks/entity"] for r in tick.run_requests]
        assert all(r.success for r in world.run_all(tick.run_requests))

    assert sorted(requested) == sorted(MANAGED)  # each entity handed over once
    assert world.get(pet_url(world) + "/pets/3").json()["name"] == "Spike"
    assert world.store.due_entities() == {}
    unchanged = world.tick_catalog()
    assert unchanged.run_requests == [] and "unchanged" in unchanged.skip_message


def started(world: World, request: dg.RunRequest) -> None:
    """The requested run as the daemon would have it: in the instance, running."""
    world.instance.create_run_for_job(
        job_def=defs.resolve_job_def(request.job_name),
        run_config=request.run_config,
        tags={
            **request.tags,
            **({"dagster/partition": request.partition_key} if request.partition_key else {}),
        },
        status=dg.DagsterRunStatus.STARTED,  # (queued runs need a code location origin)
    )


def test_the_sync_sensor_leaves_entities_to_the_runs_the_catalog_sensor_requested(
    world: World,
) -> None:
    tick = world.tick_catalog()  # the sample catalog is below the default batch threshold
    for request in tick.run_requests:
        started(world, request)

    again = world.tick_sync()

    assert {r.job_name for r in tick.run_requests} == {"sync_entity_job"}
    assert not again.run_requests
    assert f"{len(MANAGED)} due entities wait for their queued or running runs" in (
        again.skip_message
    )


@pytest.mark.parametrize("hold", ["unconfigured", "backoff"])
def test_a_mass_change_waits_while_microcks_is_held_back_then_goes_to_batches(
    world: World, monkeypatch: pytest.MonkeyPatch, hold: str
) -> None:
    monkeypatch.setenv(s.BATCH_THRESHOLD, "1")
    if hold == "backoff":
        world.store.migrate()
        world.store.set_global_backoff(datetime.now(UTC) + timedelta(minutes=5), "token refused")
        held = world
    else:
        held = world.using(microcks=MicrocksResource())

    tick = held.tick_catalog()
    waiting = held.tick_sync()

    assert not tick.run_requests and not waiting.run_requests
    assert world.store.counts()["pending"] == len(world.store.rows()) > 0
    world.store.clear_global_backoff()
    (batch,) = world.tick_sync().run_requests  # the sync sensor takes it once Microcks is back
    assert batch.job_name == "sync_batch_job"
    assert world.run(batch).success
    assert world.store.due_entities() == {}


def test_a_duplicate_batch_run_reports_nothing_and_changes_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(s.BATCH_THRESHOLD, "1")
    (batch,) = world.tick_catalog().run_requests
    assert world.run(batch).success
    rows, reported, calls = world.store.rows(), len(materializations(world)), world.calls()

    again = world.run(batch)

    assert again.success
    assert len(materializations(world)) == reported  # it synced nothing, so it reports nothing
    assert world.store.rows() == rows
    assert world.calls() == calls


def test_a_permanent_failure_fails_the_run_with_the_reason(synced: World) -> None:
    (synced.catalog_dir / "petstore/mocks/default/petstore-examples.yaml").unlink()

    results = synced.sync()

    assert [r.success for r in results] == [False]
    failure = results[0].failure_data_for_node("microcks_services").user_failure_data
    assert "default" in failure.description
    assert "petstore-examples.yaml" in failure.description
    assert f"petstore:{service_version(PETSTORE, 'default')}" not in services(synced)
    assert synced.tick_sync().run_requests == []  # permanent: no retry until the input changes


def test_a_failed_catalog_listing_skips_the_tick_and_changes_nothing(synced: World) -> None:
    rows = synced.store.rows()
    # Backstage refusing the connection (nothing listens on port 9): the listing fails.
    broken = synced.using(catalog=CatalogResource(backstage_url="http://127.0.0.1:9", timeout=2))

    tick = broken.tick_catalog()

    assert "catalog listing failed, nothing changed" in tick.skip_message
    assert synced.store.rows() == rows
    assert synced.partitions() == MANAGED


def test_an_incomplete_listing_deletes_nothing(synced: World) -> None:
    rows = synced.store.rows()
    shutil.rmtree(synced.catalog_dir)  # every entity vanished, but so did the catalog itself

    tick = synced.tick_catalog()
    sync_tick = synced.tick_sync()

    assert "deletions held back" in tick.skip_message
    assert synced.store.rows() == rows
    assert not sync_tick.run_requests
    assert synced.partitions() == MANAGED


def test_entities_of_a_running_batch_are_not_handed_to_a_second_batch(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(s.BATCH_THRESHOLD, "1")
    (batch,) = world.tick_catalog().run_requests
    started(world, batch)

    again = world.tick_sync()

    assert batch.job_name == "sync_batch_job"
    assert not again.run_requests
    assert "wait for their queued or running runs" in again.skip_message


def test_the_last_few_entities_of_a_running_batch_get_no_run_of_their_own(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(s.BATCH_THRESHOLD, "1")
    (batch,) = world.tick_catalog().run_requests
    started(world, batch)
    monkeypatch.delenv(s.BATCH_THRESHOLD)  # few left: the sync sensor's one-run-per-entity path

    again = world.tick_sync()

    assert len(world.store.due_entities()) <= s.Settings().batch_threshold
    assert not again.run_requests
    assert "wait for their queued or running runs" in again.skip_message


def test_a_status_database_outage_skips_both_sensors_saying_why(world: World) -> None:
    # Nothing listens on port 9 of the loopback address: the connection is refused at once.
    down = world.using(
        status_store=StatusStoreResource(db_url="postgresql://pipeline:pw-hidden@127.0.0.1:9/x")
    )

    catalog_tick = down.tick_catalog()
    sync_tick = down.tick_sync()

    assert "catalog sensor could not run" in catalog_tick.skip_message
    assert "sync sensor could not run" in sync_tick.skip_message
    assert "unavailable" in sync_tick.skip_message
    assert "pw-hidden" not in catalog_tick.skip_message + sync_tick.skip_message
    assert not sync_tick.run_requests and world.partitions() == set()
