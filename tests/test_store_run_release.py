"""Specification of StatusStore.release_run (a run that died gives its leases back) and of the
remembered token endpoint, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from store_fixtures import T0, desired_row

from microcks_pipeline.core.lifecycle import Cause
from microcks_pipeline.store import StatusStore

REF = "api:default/petstore"
OTHER = "api:team-b/orders"
LATER = T0 + timedelta(seconds=5)


def _lease(s: StatusStore, ref: str, owner: str, *mocks: str) -> None:
    s.upsert_desired([desired_row(ref, m) for m in mocks], now=T0)
    assert len(s.claim(ref, owner, now=T0)) == len(mocks)


def test_a_dead_runs_leases_become_pending_due_at_once_with_the_attempt_counted(
    store: StatusStore,
) -> None:
    _lease(store, REF, "run-dead", "default", "v2")
    _lease(store, OTHER, "run-alive", "default")

    released = store.release_run("run-dead", "run run-dead ended (failure)", now=LATER)

    assert released == 2
    mine = store.rows(REF)
    assert {r.status for r in mine} == {"pending"}
    assert all(r.lease_owner is None and r.lease_expires_at is None for r in mine)
    assert {r.attempts for r in mine} == {1}
    assert {r.failure_cause for r in mine} == {Cause.TRANSIENT}
    assert {r.next_attempt_at for r in mine} == {LATER}
    assert {r.last_error for r in mine} == {"run run-dead ended (failure)"}
    assert [r.status for r in store.rows(OTHER)] == ["leased"]  # another run's lease is kept
    assert set(store.due_entities(now=LATER)) == {REF}


def test_each_released_row_gets_a_retry_scheduled_event_of_the_dead_run(
    store: StatusStore,
) -> None:
    _lease(store, REF, "run-dead", "default", "v2")

    store.release_run("run-dead", "run run-dead ended (canceled)", now=LATER)

    events = store.events(entity_ref=REF)
    assert sorted((e.event_type, e.mock_id, e.run_id, e.level) for e in events) == [
        ("retry_scheduled", "default", "run-dead", "warn"),
        ("retry_scheduled", "v2", "run-dead", "warn"),
    ]
    assert {e.details["next_attempt_at"] for e in events} == {LATER.isoformat()}


def test_a_row_that_keeps_ending_runs_backs_off(store: StatusStore) -> None:
    _lease(store, REF, "run-1", "default")
    store.release_run("run-1", "ended", now=LATER)
    assert store.claim(REF, "run-2", now=LATER)

    store.release_run("run-2", "ended again", now=LATER)

    (row,) = store.rows(REF)
    assert row.attempts == 2
    assert LATER + timedelta(seconds=7) <= row.next_attempt_at <= LATER + timedelta(seconds=13)
    assert store.due_entities(now=LATER) == {}


def test_a_run_without_leases_releases_nothing_and_writes_nothing(store: StatusStore) -> None:
    _lease(store, REF, "run-1", "default")
    (row,) = store.rows(REF)
    store.complete(row.id, "run-1", row.fingerprint_hash, now=T0)

    assert store.release_run("run-1", "ended", now=LATER) == 0
    assert store.release_run("never-ran", "ended", now=LATER) == 0
    assert [r.status for r in store.rows(REF)] == ["completed"]
    assert store.events(entity_ref=REF) == []


def test_the_token_endpoint_is_remembered_per_microcks_url(store: StatusStore) -> None:
    assert store.known_token_endpoint("https://microcks.example") is None

    store.remember_token_endpoint("https://microcks.example", "https://kc.example/a/token")
    store.remember_token_endpoint("https://microcks.example/", "https://kc.example/b/token")

    assert store.known_token_endpoint("https://microcks.example") == "https://kc.example/b/token"
    assert store.known_token_endpoint("https://microcks.example:8443") is None
    assert store.global_backoff() is None  # the state table's other key is untouched
