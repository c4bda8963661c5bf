"""How the sync sensor turns due rows into runs: run keys, per-entity runs, batches (pure)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from microcks_pipeline.core.identity import entity_hash, service_version
from microcks_pipeline.defs.partitions import partition_key
from microcks_pipeline.defs.run_requests import (
    BATCH_JOB,
    BATCH_OP,
    DELETE_JOB,
    DELETE_OP,
    SYNC_JOB,
    plan_runs,
)
from microcks_pipeline.defs.tags import ENTITY_TAG, is_forced
from microcks_pipeline.store.rows import StatusRow
from microcks_pipeline.sync.run_choice import RELAUNCH_AFTER, batch_chunks, entity_run_key

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def row(ref: str, mock_id: str = "default", **changes: object) -> StatusRow:
    base = StatusRow(
        id=1,
        entity_ref=ref,
        mock_id=mock_id,
        entity_hash=entity_hash(ref),
        microcks_version_id=service_version(ref, mock_id),
        desired_action="reconcile",
        fingerprint_hash="f" * 64,
        applied_fingerprint=None,
        status="pending",
        attempts=0,
        next_attempt_at=None,
        lease_owner=None,
        lease_expires_at=None,
        last_error=None,
        microcks_service_id=None,
        created_at=NOW,
        updated_at=NOW,
    )
    return replace(base, **changes)


REF = "api:default/petstore"


def test_the_same_due_state_gives_the_same_run_key() -> None:
    assert entity_run_key(REF, [row(REF)]) == entity_run_key(REF, [row(REF)])


def test_a_new_fingerprint_a_retry_a_release_or_an_expired_lease_gives_a_new_run_key() -> None:
    first = entity_run_key(REF, [row(REF)])

    changed = entity_run_key(REF, [row(REF, fingerprint_hash="e" * 64)])
    retried = entity_run_key(REF, [row(REF, attempts=1)])
    orphaned_lease = entity_run_key(REF, [row(REF, status="leased", lease_owner="run-1")])
    given_back = entity_run_key(REF, [row(REF, updated_at=NOW + timedelta(seconds=1))])

    assert len({first, changed, retried, orphaned_lease, given_back}) == 5


def test_rows_left_untouched_by_their_run_get_a_new_key_after_the_relaunch_window() -> None:
    # A run cancelled while queued (or that never launched) claims nothing: the rows keep their
    # state, and the same key would be skipped by Dagster forever.
    rows = [row(REF)]
    soon = entity_run_key(REF, rows, NOW + timedelta(seconds=30))
    same_window = entity_run_key(REF, rows, NOW + RELAUNCH_AFTER - timedelta(seconds=1))
    later = entity_run_key(REF, rows, NOW + RELAUNCH_AFTER + timedelta(seconds=1))

    assert soon == same_window != later


def test_run_keys_of_different_entities_differ_even_for_equal_rows() -> None:
    other = "api:default/orders"

    assert entity_run_key(REF, [row(REF)]) != entity_run_key(other, [row(other)])


def test_few_due_entities_get_one_partitioned_run_each_tagged_with_the_entity() -> None:
    refs = ["api:default/a", "api:default/b"]
    due = {ref: [row(ref)] for ref in refs}

    plan = plan_runs(
        due, {partition_key(r) for r in refs}, left_catalog=set(), batch=False, batch_size=200
    )

    assert [r.job_name for r in plan.run_requests] == [SYNC_JOB, SYNC_JOB]
    assert [r.partition_key for r in plan.run_requests] == [partition_key(r) for r in refs]
    assert [r.tags[ENTITY_TAG] for r in plan.run_requests] == refs
    assert not any(is_forced(r.tags) for r in plan.run_requests)
    assert plan.partitions_to_add == ()


def test_a_due_entity_without_a_partition_gets_one_in_the_same_result() -> None:
    due = {REF: [row(REF)]}

    plan = plan_runs(due, set(), left_catalog=set(), batch=False, batch_size=200)

    assert plan.partitions_to_add == (partition_key(REF),)
    assert plan.run_requests[0].partition_key == partition_key(REF)


def test_an_entity_that_left_the_catalog_gets_the_delete_job_and_no_partition() -> None:
    due = {REF: [row(REF, desired_action="delete")]}

    plan = plan_runs(due, set(), left_catalog={REF}, batch=False, batch_size=200)

    (request,) = plan.run_requests
    assert request.job_name == DELETE_JOB
    assert request.partition_key is None
    assert request.run_config == {"ops": {DELETE_OP: {"config": {"entity_ref": REF}}}}
    assert request.tags[ENTITY_TAG] == REF
    assert plan.partitions_to_add == ()


def test_many_due_entities_are_chunked_into_equal_batch_runs() -> None:
    refs = [f"api:default/e{i:04d}" for i in range(1000)]
    due = {ref: [row(ref)] for ref in refs}

    plan = plan_runs(due, set(), left_catalog=set(), batch=True, batch_size=300)

    assert [r.job_name for r in plan.run_requests] == [BATCH_JOB] * 4
    chunks = [r.run_config["ops"][BATCH_OP]["config"]["entity_refs"] for r in plan.run_requests]
    assert [len(c) for c in chunks] == [250, 250, 250, 250]
    assert [ref for chunk in chunks for ref in chunk] == refs  # order kept, nothing lost
    assert len({r.run_key for r in plan.run_requests}) == 4
    assert plan.partitions_to_add == tuple(partition_key(r) for r in refs)


@pytest.mark.parametrize(
    ("count", "size", "runs", "sizes"),
    [
        (1000, 500, 3, [334, 334, 332]),  # one wave over 3 run slots, not 2 runs + idle slot
        (1000, 200, 3, [167, 167, 167, 167, 167, 165]),  # two full waves, not 3 + 2
        (120, 500, 3, [60, 60]),  # two slots worth a run of their own
        (20, 500, 3, [20]),  # too little work to pay for more run processes
        (9, 500, 1, [9]),
    ],
)
def test_batches_fill_every_run_slot_with_equal_work(
    count: int, size: int, runs: int, sizes: list[int]
) -> None:
    refs = [f"api:default/e{i:04d}" for i in range(count)]

    chunks = batch_chunks(refs, size, runs)

    assert [len(c) for c in chunks] == sizes
    assert [ref for chunk in chunks for ref in chunk] == refs


def test_a_batch_needs_no_partition_for_an_entity_that_only_deletes() -> None:
    gone = "api:default/gone"
    due = {REF: [row(REF)], gone: [row(gone, desired_action="delete")]}

    plan = plan_runs(due, set(), left_catalog=set(), batch=True, batch_size=200)

    assert plan.partitions_to_add == (partition_key(REF),)
    (request,) = plan.run_requests
    assert request.run_config["ops"][BATCH_OP]["config"]["entity_refs"] == [REF, gone]


def test_batch_run_keys_repeat_for_the_same_state() -> None:
    due = {f"api:default/e{i}": [row(f"api:default/e{i}")] for i in range(20)}

    first = plan_runs(due, set(), left_catalog=set(), batch=True, batch_size=200)
    again = plan_runs(due, set(), left_catalog=set(), batch=True, batch_size=200)

    assert [r.run_key for r in first.run_requests] == [r.run_key for r in again.run_requests]


def test_only_runs_launched_by_the_sync_sensor_are_not_forced() -> None:
    assert is_forced({})  # a manual launch
    assert is_forced({"dagster/backfill": "abc"})
    assert not is_forced({"microcks/trigger": "sync_sensor"})
