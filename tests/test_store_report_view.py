"""Specification: what the status report reads of a large table without reading every row (a
summary per status that moves on every write, the rows needing attention), on SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from store_fixtures import T0, desired_row

from microcks_pipeline.store import StatusStore

ENTITIES = [f"api:default/e{i}" for i in range(4)]


def _table(store: StatusStore) -> None:
    """Eight rows of four entities: two completed, one in error, one leased, four pending."""
    store.upsert_desired(
        [desired_row(ref, mock, f"fp-{ref}-{mock}") for ref in ENTITIES for mock in ("a", "b")],
        now=T0,
    )
    for ref in ENTITIES[:2]:
        for row in store.claim(ref, f"run-{ref}", force=True, now=T0):
            if ref == ENTITIES[0]:
                assert store.complete(row.id, f"run-{ref}", row.fingerprint_hash, now=T0)
            elif row.mock_id == "a":
                assert store.fail_permanent(row.id, f"run-{ref}", "rejected: bad file", now=T0)


def test_the_summary_counts_rows_per_status_and_entities(store: StatusStore) -> None:
    _table(store)

    by_status, entities = store.status_summary()

    assert {s: n for s, (n, _) in by_status.items()} == {
        "completed": 2,
        "error": 1,
        "leased": 1,
        "pending": 4,
    }
    assert entities == len(ENTITIES)
    assert store.counts() == {s: n for s, (n, _) in by_status.items()} | {
        s: 0 for s in store.counts() if s not in by_status
    }


def test_the_summary_changes_on_every_write_the_report_shows(store: StatusStore) -> None:
    _table(store)
    before = store.status_summary()

    # An error that changes its reason only: same status, same counts.
    (row,) = [r for r in store.rows(ENTITIES[1]) if r.status == "error"]
    store.upsert_desired([desired_row(ENTITIES[1], "a", "fp-new")], now=T0 + timedelta(seconds=1))
    (again,) = store.claim(ENTITIES[1], "run-x", force=True, now=T0 + timedelta(seconds=2))
    assert store.fail_permanent(again.id, "run-x", "rejected: other", now=T0 + timedelta(seconds=3))
    after = store.status_summary()

    assert row.id == again.id
    assert {s: n for s, (n, _) in after[0].items()} == {s: n for s, (n, _) in before[0].items()}
    assert after != before  # the newest update moved
    assert store.status_summary() == after  # and nothing moves it without a write


def test_attention_rows_are_errors_then_pending_then_leased_at_most_the_limit(
    store: StatusStore,
) -> None:
    _table(store)

    every = store.attention_rows(100)
    two = store.attention_rows(2)

    assert [(r.status, r.entity_ref, r.mock_id) for r in every] == [
        ("error", ENTITIES[1], "a"),
        ("pending", ENTITIES[2], "a"),
        ("pending", ENTITIES[2], "b"),
        ("pending", ENTITIES[3], "a"),
        ("pending", ENTITIES[3], "b"),
        ("leased", ENTITIES[1], "b"),
    ]
    assert every[0].last_error == "rejected: bad file"
    assert two == every[:2]
    assert not any(r.status == "completed" for r in every)
