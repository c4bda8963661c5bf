"""The processor's index read and the audit's re-queue, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from store_fixtures import T0, desired_row

from microcks_pipeline.store import StatusStore

REF = "api:default/petstore"


def test_desired_index_holds_what_the_processor_compares(store: StatusStore) -> None:
    store.upsert_desired([desired_row(REF, "a"), desired_row(REF, "b")], now=T0)

    index = store.desired_index()

    full = {(r.entity_ref, r.mock_id): r for r in store.rows()}
    assert [(i.entity_ref, i.mock_id) for i in index] == sorted(full)
    for item in index:
        row = full[(item.entity_ref, item.mock_id)]
        assert (item.id, item.fingerprint_hash, item.desired_action) == (
            row.id,
            row.fingerprint_hash,
            row.desired_action,
        )


def test_requeue_makes_settled_rows_pending_and_leaves_leased_rows_alone(
    store: StatusStore,
) -> None:
    store.upsert_desired([desired_row(REF, "done"), desired_row(REF, "busy")], now=T0)
    claimed = {r.mock_id: r for r in store.claim(REF, "run-1", now=T0)}
    store.complete(claimed["done"].id, "run-1", claimed["done"].fingerprint_hash, now=T0)

    later = T0 + timedelta(minutes=1)
    changed = store.requeue([claimed["done"].id, claimed["busy"].id], now=later)

    rows = {r.mock_id: r for r in store.rows(REF)}
    assert changed == 1
    assert rows["done"].status == "pending" and rows["done"].next_attempt_at is None
    assert rows["busy"].status == "leased" and rows["busy"].lease_owner == "run-1"
    assert store.requeue([], now=later) == 0


def test_finished_entities_are_those_whose_every_row_is_a_clean_completed_delete(
    store: StatusStore,
) -> None:
    gone, half, failed = "api:default/gone", "api:default/half", "api:default/failed"
    store.upsert_desired(
        [
            desired_row(gone, "a", "d1", "delete"),
            desired_row(gone, "b", "d2", "delete"),
            desired_row(half, "a", "d3", "delete"),
            desired_row(half, "b", "f4", "reconcile"),
            desired_row(failed, "a", "d5", "delete", error="microcks.yaml:3: bad"),
        ],
        now=T0,
    )
    for ref in (gone, half):
        for row in store.claim(ref, "run-1", now=T0):
            store.complete(row.id, "run-1", row.fingerprint_hash, now=T0)
    # A load failure: its services were deleted, the row shows why (the worker's path).
    (row,) = store.claim(failed, "run-1", now=T0)
    store.fail_permanent(row.id, "run-1", "microcks.yaml:3: bad", now=T0)

    assert store.finished_entities() == [gone]
    assert store.finished_entities({half, failed}) == []
    assert store.finished_entities({gone}) == [gone]
