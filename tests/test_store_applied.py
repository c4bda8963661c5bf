"""Specification: the store records, per mock, the artifacts last applied (migration 0003)."""

# ruff: noqa: F811  (fixtures imported from store_fixtures are parameters of the tests)

from __future__ import annotations

from store_fixtures import T0, desired_row, store  # noqa: F401  (pytest fixture)

from microcks_pipeline.store import StatusRow, StatusStore

REF = "api:default/petstore"
RECORD = {
    "artifacts": [["openapi-1a2b3c4d.yaml", "ab" * 32, "main"]],
    "allowed_sources": ["openapi-1a2b3c4d.yaml"],
    "required_sources": [],
    "dispatchers": {"GET /pets/{id}": ["URI_PARTS", "id"]},
    "labels": {"domain": "store"},
    "annotations": {},
}


def _claimed(s: StatusStore, owner: str = "run-1", action: str = "reconcile") -> StatusRow:
    s.upsert_desired([desired_row(REF, "default", action=action)], now=T0)
    (row,) = s.claim(REF, owner, now=T0)
    return row


def _applied_then_reclaimed(s: StatusStore, **desired: str) -> StatusRow:
    """The row completed with RECORD, then (with `desired` changed, if given) claimed again."""
    row = _claimed(s)
    s.complete(row.id, "run-1", row.fingerprint_hash, applied=RECORD, now=T0)
    if desired:
        s.upsert_desired([desired_row(REF, "default", **desired)], now=T0)
    else:
        s.requeue([row.id], now=T0)
    (again,) = s.claim(REF, "run-2", now=T0)
    return again


def _row(s: StatusStore) -> StatusRow:
    (row,) = s.rows(REF)
    return row


def test_a_new_row_has_no_applied_artifacts(store: StatusStore) -> None:
    store.upsert_desired([desired_row(REF, "default")], now=T0)

    assert _row(store).applied_artifacts is None


def test_complete_records_the_applied_artifacts_as_given(store: StatusStore) -> None:
    row = _claimed(store)

    assert store.complete(row.id, "run-1", row.fingerprint_hash, applied=RECORD, now=T0)

    assert _row(store).applied_artifacts == RECORD


def test_complete_without_a_record_keeps_the_last_one(store: StatusStore) -> None:
    again = _applied_then_reclaimed(store)

    store.complete(again.id, "run-2", again.fingerprint_hash, now=T0)

    assert _row(store).applied_artifacts == RECORD


def test_a_failed_or_superseded_apply_keeps_the_last_record(store: StatusStore) -> None:
    again = _applied_then_reclaimed(store, fingerprint="fp-2")

    moved = store.complete(again.id, "run-2", "fp-1", applied={"artifacts": []}, now=T0)

    assert moved is False
    assert _row(store).applied_artifacts == RECORD


def test_a_completed_delete_forgets_the_applied_artifacts(store: StatusStore) -> None:
    again = _applied_then_reclaimed(store, action="delete")

    store.complete(again.id, "run-2", again.fingerprint_hash, now=T0)

    assert _row(store).applied_artifacts is None
