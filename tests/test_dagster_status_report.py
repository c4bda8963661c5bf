"""The status report keeps itself current: status_report_sensor reports it after real sensor
ticks and runs, and it is read back from the Dagster instance as the UI shows it."""

from __future__ import annotations

import dagster as dg
import pytest
from dagster_fixtures import MANAGED, World

from microcks_pipeline.definitions import defs
from microcks_pipeline.defs import report as report_module

REPORT = dg.AssetKey("sync_status_report")
PETSTORE = "api:default/petstore"
FIRST_COLUMNS = ["entity", "mock", "status", "last_error", "service_id", "mock_url"]


def report(world: World) -> dict[str, object]:
    """The latest sync_status_report materialization, as the instance stores it."""
    records = world.instance.fetch_materializations(REPORT, limit=1).records
    assert records, "sync_status_report was never materialized"
    return {k: v.value for k, v in records[0].asset_materialization.metadata.items()}


def rows_of(meta: dict[str, object]) -> dict[tuple[str, str], dict[str, str]]:
    table = meta["status"]
    return {(r.data["entity"], r.data["mock"]): r.data for r in table.records}


def test_a_fresh_deployment_has_a_report_after_the_first_tick(world: World) -> None:
    tick = world.tick("status_report_sensor")

    assert "report refreshed" in tick.skip_message
    assert report(world)["rows"] == 0  # not "Never materialized"


def test_the_report_follows_the_sync_without_a_click_with_urls_that_answer(world: World) -> None:
    first = world.tick("status_report_sensor")
    assert all(r.success for r in world.sync())

    tick = world.tick("status_report_sensor", cursor=first.cursor)

    meta = report(world)
    assert "12 completed" in tick.skip_message
    assert meta["count/completed"] == 12 and meta["entities"] == len(MANAGED)
    assert [c.name for c in meta["status"].schema.columns][:6] == FIRST_COLUMNS
    assert not any(
        "hash" in c.name or "fingerprint" in c.name for c in meta["status"].schema.columns
    )
    schemes = {}
    for (entity, mock), row in rows_of(meta).items():
        assert row["status"] == "completed" and row["service_id"]
        schemes[entity] = row["mock_url"].split("://", 1)[0]
        if "/rest/" in row["mock_url"]:  # the others answer a POST, a gRPC or WebSocket client
            assert world.get(row["mock_url"]).status_code == 200, (entity, mock)
    assert schemes["api:default/greeter-grpc"] == "grpc"
    assert schemes["api:default/user-signedup-events"] == "ws"
    assert schemes["api:default/movies-graphql"] == "http"


def test_an_unchanged_table_is_not_reported_again(world: World) -> None:
    world.sync()
    first = world.tick("status_report_sensor")
    reported = len(world.instance.fetch_materializations(REPORT, limit=10).records)

    again = world.tick("status_report_sensor", cursor=first.cursor)

    assert again.skip_message == "status table unchanged"
    assert not again.asset_events
    assert len(world.instance.fetch_materializations(REPORT, limit=10).records) == reported


def test_a_mock_in_error_is_listed_first_with_its_reason_and_no_url(world: World) -> None:
    world.sync()
    first = world.tick("status_report_sensor")
    (world.catalog_dir / "petstore/mocks/default/petstore-examples.yaml").unlink()
    world.sync()

    world.tick("status_report_sensor", cursor=first.cursor)

    meta = report(world)
    top = meta["status"].records[0].data
    assert (top["entity"], top["mock"], top["status"]) == (PETSTORE, "default", "error")
    assert "petstore-examples.yaml" in top["last_error"]
    assert top["mock_url"] == ""  # its service was deleted
    assert world.get(rows_of(meta)[(PETSTORE, "fallback")]["mock_url"]).status_code == 200


def test_a_large_table_is_reported_as_counts_and_the_rows_needing_attention(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report_module, "FULL_TABLE_ROWS", 3)  # the sample's rows are "large"
    world.sync()
    total = len(world.store.rows())
    first = world.tick("status_report_sensor")
    (world.catalog_dir / "petstore/mocks/default/petstore-examples.yaml").unlink()
    world.sync()

    world.tick("status_report_sensor", cursor=first.cursor)

    meta = report(world)
    assert list(rows_of(meta)) == [(PETSTORE, "default")]  # the row in error, not the others
    assert meta["rows"] == total and meta["count/completed"] == total - 1
    assert meta["count/error"] == 1
    assert meta["shown"] == (
        f"1 of {total} rows (those not completed); every row: materialize sync_status_report "
        "(status_report_job)"
    )

    clicked = defs.resolve_job_def("status_report_job").execute_in_process(
        instance=world.instance, resources=world.resources
    )

    assert clicked.success
    assert len(rows_of(report(world))) == total
    assert report(world)["shown"] == f"{total} of {total} rows"
