"""What a sensor tick says, from real sensor evaluations against a real instance: changes
counted, entities in error named with their reason, idle ticks short."""

from __future__ import annotations

import pytest
from dagster_fixtures import World

from microcks_pipeline.defs import settings as s

PETSTORE = "api:default/petstore"
EXAMPLES = "petstore/mocks/default/petstore-examples.yaml"


def test_a_first_tick_counts_the_mocks_to_create_and_says_why_runs_wait(
    unconfigured: World,
) -> None:
    tick = unconfigured.tick_catalog()

    assert tick.skip_message == (
        "7 entities: 12 to create; 7 new partition(s); "
        f"runs wait: Microcks is not configured: set {s.MICROCKS_URL}"
    )


def test_a_tick_out_of_load_time_says_how_many_entities_wait_for_the_next(
    unconfigured: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(s.CATALOG_LOAD_SECONDS, "0.000001")  # spent before the first file

    first, second = unconfigured.tick_catalog(), unconfigured.tick_catalog()

    assert first.skip_message == (
        "7 entities: 1 to create; 7 new partition(s); "
        f"runs wait: Microcks is not configured: set {s.MICROCKS_URL}; "
        "6 entities left for the next tick"
    )
    assert second.skip_message.startswith("7 entities: 1 to create; runs wait: ")
    assert second.skip_message.endswith("; 5 entities left for the next tick")


def test_edits_and_removals_are_counted_as_updates_and_deletes(unconfigured: World) -> None:
    unconfigured.tick_catalog()
    examples = unconfigured.catalog_dir / EXAMPLES
    examples.write_text(examples.read_text().replace("Spike", "Sonic"))
    petstore = unconfigured.catalog_dir / "petstore/microcks.yaml"
    petstore.write_text(petstore.read_text().split("    # Same API")[0])

    tick = unconfigured.tick_catalog()

    assert tick.skip_message.startswith("7 entities: 1 to update, 1 to delete; runs wait: ")


def test_an_unchanged_catalog_tick_is_short(synced: World) -> None:
    assert synced.tick_catalog().skip_message == "unchanged: 7 entities"
    assert synced.tick_sync().skip_message == "nothing due"


def test_an_entity_in_error_is_named_with_its_reason_by_both_sensors(synced: World) -> None:
    (synced.catalog_dir / EXAMPLES).unlink()

    catalog_tick = synced.tick_catalog()
    synced.run_all(catalog_tick.run_requests)
    sync_tick = synced.tick_sync()

    # The catalog tick requested the run, so it says what it found in its log; the load
    # failure is recorded as a status row in error, which the sync sensor names while it lasts.
    assert len(catalog_tick.run_requests) == 1
    assert sync_tick.skip_message.startswith(f"nothing due; 1 in error: {PETSTORE} (default: ")
    assert "petstore-examples.yaml" in sync_tick.skip_message


def test_a_load_failure_is_named_in_the_catalog_tick_when_runs_wait(unconfigured: World) -> None:
    unconfigured.tick_catalog()
    (unconfigured.catalog_dir / EXAMPLES).unlink()

    tick = unconfigured.tick_catalog()

    assert f"1 in error: {PETSTORE} (default: " in tick.skip_message
    assert "petstore-examples.yaml" in tick.skip_message
