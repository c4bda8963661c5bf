"""The asset view an operator reads: each entity's microcks_services partition describes the
whole entity as it stands, read back from the Dagster instance after real sensor ticks and runs
against the local Microcks."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.partition_status_cache import get_and_update_asset_status_cache_value
from dagster_fixtures import World, make_world

from microcks_pipeline.core.identity import service_version
from microcks_pipeline.defs import settings as s
from microcks_pipeline.defs.partitions import entity_partitions, partition_key

PETSTORE = "api:default/petstore"
SERVICES = dg.AssetKey("microcks_services")
EXAMPLES = "petstore/mocks/default/petstore-examples.yaml"


def _of_partition(entity_ref: str) -> dg.AssetRecordsFilter:
    return dg.AssetRecordsFilter(asset_key=SERVICES, asset_partitions=[partition_key(entity_ref)])


def latest(world: World, entity_ref: str) -> dict[str, object]:
    """Metadata of the partition's latest materialization, as the instance stores it."""
    (record,) = world.instance.fetch_materializations(_of_partition(entity_ref), limit=1).records
    return {k: v.value for k, v in record.asset_materialization.metadata.items()}


def latest_observation(world: World, entity_ref: str) -> dict[str, object]:
    (record,) = world.instance.fetch_observations(_of_partition(entity_ref), limit=1).records
    return {k: v.value for k, v in record.asset_observation.metadata.items()}


def failed_partitions(world: World) -> set[str]:
    """What the UI's partitions view shows as failed (the same status cache it reads)."""
    with dg.partition_loading_context(dynamic_partitions_store=world.instance):
        value = get_and_update_asset_status_cache_value(world.instance, SERVICES, entity_partitions)
    assert value is not None
    return set(value.deserialize_failed_partition_subsets(entity_partitions).get_partition_keys())


def test_an_edit_of_one_mock_leaves_both_mocks_in_the_entitys_view_with_urls_that_answer(
    synced: World,
) -> None:
    path = synced.catalog_dir / EXAMPLES
    path.write_text(path.read_text().replace("Spike", "Sonic"))

    results = synced.run_all(synced.tick_catalog().run_requests)

    assert [r.success for r in results] == [True]
    meta = latest(synced, PETSTORE)
    assert meta["actions"] == {"default": "updated"}  # the run touched one mock ...
    assert set(meta["service_ids"]) == {"default", "fallback"}  # ... the view shows both
    assert meta["summary"] == "2 of 2 mock(s) served"
    for mock_id in ("default", "fallback"):
        url = meta[f"mock_url/{mock_id}"]
        assert url.startswith(f"{synced.server.base_url}/rest/petstore/")
        assert service_version(PETSTORE, mock_id) in url
        assert synced.get(url).status_code == 200  # the base URL alone would answer 404
        assert f"[{url}]({url})" in meta["mocks"]  # clickable in the mocks table


def test_a_mock_in_error_fails_the_partition_and_its_view_drops_the_deleted_mocks_url(
    synced: World,
) -> None:
    before = latest(synced, PETSTORE)
    (synced.catalog_dir / EXAMPLES).unlink()

    results = synced.run_all(synced.tick_catalog().run_requests)

    assert [r.success for r in results] == [False]
    assert failed_partitions(synced) == {partition_key(PETSTORE)}
    failure = results[0].failure_data_for_node("microcks_services").user_failure_data
    assert "default" in failure.description and "petstore-examples.yaml" in failure.description
    view = latest_observation(synced, PETSTORE)
    assert "mock_url/default" not in view  # its service was deleted: no dead link
    assert synced.get(before["mock_url/default"]).status_code == 404
    assert "petstore-examples.yaml" in view["errors"]["default"]
    assert "| default | error |" in view["mocks"]
    assert synced.get(view["mock_url/fallback"]).status_code == 200  # the other mock stays
    assert latest(synced, PETSTORE) == before  # no materialization claims it is fine


def test_fixing_the_mock_makes_the_partition_materialized_again(synced: World) -> None:
    path = synced.catalog_dir / EXAMPLES
    content = path.read_text()
    path.unlink()
    synced.run_all(synced.tick_catalog().run_requests)
    path.write_text(content.replace("Spike", "Fixed"))

    results = synced.run_all(synced.tick_catalog().run_requests)

    assert [r.success for r in results] == [True]
    assert failed_partitions(synced) == set()
    meta = latest(synced, PETSTORE)
    assert "errors" not in meta
    assert synced.get(meta["mock_url/default"]).status_code == 200


def test_a_batch_run_reports_each_entity_whole_with_urls_that_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(s.BATCH_THRESHOLD, "1")
    with make_world(tmp_path) as world:
        (batch,) = world.tick_catalog().run_requests

        assert world.run(batch).success
        meta = latest(world, PETSTORE)
        assert meta["summary"] == "2 of 2 mock(s) served"
        assert world.get(meta["mock_url/default"]).status_code == 200
        assert world.get(meta["mock_url/fallback"]).status_code == 200
