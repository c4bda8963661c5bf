"""Entity refs map to Dagster partition keys that Dagster accepts, and back, exactly."""

from __future__ import annotations

import dagster as dg
import pytest
from dagster._core.definitions.partitions.utils.base import (
    INVALID_PARTITION_SUBSTRINGS,
    raise_error_on_invalid_partition_key_substring,
)

from microcks_pipeline.defs.partitions import entity_partitions, entity_ref_of, partition_key

ODD_REFS = [
    "api:default/petstore",
    "api:team-a/orders.v2",
    "api:default/a...b",
    "api:default/a..b",
    "api:default/....",
    "api:default/trailing.",
    "api:default/with space",
    "api:default/comma,name",
    "api:default/pipe|and[brackets]",
    "api:default/percent%2e",
    "api:default/tab\there",
    "api:default/new\nline",
    "api:default/nul\0bell\a",
    "api:default/ünïcödé-名前",
    "api:default/%",
]


@pytest.mark.parametrize("ref", ODD_REFS)
def test_every_ref_round_trips_through_its_partition_key(ref: str) -> None:
    key = partition_key(ref)

    assert entity_ref_of(key) == ref


@pytest.mark.parametrize("ref", ODD_REFS)
def test_partition_keys_contain_nothing_dagster_refuses(ref: str) -> None:
    key = partition_key(ref)

    raise_error_on_invalid_partition_key_substring([key])  # raises if Dagster would refuse it
    assert not any(bad in key for bad in INVALID_PARTITION_SUBSTRINGS)
    assert "," not in key  # the CLI splits --partitions on commas


def test_ordinary_refs_stay_readable() -> None:
    assert partition_key("api:default/petstore") == "api:default/petstore"
    assert partition_key("api:team-a/orders.v2") == "api:team-a/orders.v2"


def test_distinct_refs_get_distinct_keys() -> None:
    keys = {partition_key(ref) for ref in ODD_REFS}

    assert len(keys) == len(ODD_REFS)


def test_odd_keys_are_stored_and_listed_by_a_real_instance() -> None:
    keys = [partition_key(ref) for ref in ODD_REFS]

    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(entity_partitions.name, keys)
        stored = instance.get_dynamic_partitions(entity_partitions.name)

    assert [entity_ref_of(k) for k in stored] == ODD_REFS


def test_a_malformed_key_is_refused_rather_than_guessed() -> None:
    with pytest.raises(UnicodeDecodeError):
        entity_ref_of("api:default/%FF")
