"""Specification of what the zombie check and the release sensors ask of the store, on SQLite
and PostgreSQL: which runs show a sign of life, and the rows a run never took made due again
under a new state (so a new run key)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from store_fixtures import T0, desired_row

from microcks_pipeline.core.model import Event
from microcks_pipeline.store import StatusStore
from microcks_pipeline.sync.run_choice import entity_run_key

REF = "api:default/petstore"
OTHER = "api:team-b/orders"
LEASE = 30


def test_a_run_is_alive_while_it_holds_a_live_lease_or_wrote_an_event_lately(
    store: StatusStore,
) -> None:
    store.upsert_desired([desired_row(REF, "default"), desired_row(OTHER, "default")], now=T0)
    store.claim(REF, "run-leasing", lease_seconds=LEASE, now=T0)
    store.claim(OTHER, "run-expired", lease_seconds=LEASE, now=T0)
    later = T0 + timedelta(seconds=LEASE + 5)
    store.claim(REF, "run-leasing", lease_seconds=LEASE, now=later - timedelta(seconds=1))
    store.append_events(
        [
            Event(
                entity_ref=OTHER,
                event_type="finished",
                level="info",
                message="x",
                run_id="run-writing",
            )
        ],
        now=later - timedelta(seconds=2),
    )

    alive = store.runs_alive(
        ["run-leasing", "run-expired", "run-writing", "run-unknown"],
        since=later - timedelta(seconds=LEASE),
        now=later,
    )

    assert alive == {"run-leasing", "run-writing"}
    assert store.runs_alive([], since=T0, now=later) == set()


def test_rows_a_run_never_took_change_state_and_say_why(store: StatusStore) -> None:
    store.upsert_desired([desired_row(REF, "default"), desired_row(REF, "v2")], now=T0)
    before = entity_run_key(REF, store.rows(REF))
    created = T0 + timedelta(seconds=1)
    ended = T0 + timedelta(seconds=9)

    touched = store.requeue_untouched(
        [REF, OTHER], "run-x", "run run-x never ran", since=created, now=ended
    )

    assert touched == 2
    rows = store.rows(REF)
    assert {(r.status, r.attempts, r.updated_at) for r in rows} == {("pending", 0, ended)}
    assert entity_run_key(REF, rows) != before
    events = store.events(entity_ref=REF)
    assert {(e.event_type, e.run_id, e.message) for e in events} >= {
        ("retry_scheduled", "run-x", "run run-x never ran")
    }


def test_rows_changed_after_the_run_was_created_are_left_alone(store: StatusStore) -> None:
    store.upsert_desired([desired_row(REF, "default")], now=T0 + timedelta(seconds=5))

    touched = store.requeue_untouched(
        [REF], "run-x", "ended", since=T0 + timedelta(seconds=1), now=T0 + timedelta(seconds=9)
    )

    assert touched == 0
    assert [r.updated_at for r in store.rows(REF)] == [T0 + timedelta(seconds=5)]


def test_a_naive_since_is_a_clear_error(store: StatusStore) -> None:
    with pytest.raises(ValueError, match="since must be a timezone-aware datetime"):
        store.requeue_untouched([REF], "run-x", "ended", since=T0.replace(tzinfo=None))


def test_a_heartbeat_renews_only_its_runs_leases_and_keeps_it_alive_between_entities(
    store: StatusStore,
) -> None:
    store.upsert_desired([desired_row(REF, "default"), desired_row(OTHER, "default")], now=T0)
    store.claim(REF, "run-beating", lease_seconds=LEASE, now=T0)
    store.claim(OTHER, "run-other", lease_seconds=LEASE, now=T0)
    beat_at = T0 + timedelta(seconds=LEASE - 1)

    held = store.beat("run-beating", hold_seconds=LEASE, now=beat_at)

    assert held == 1
    (mine,) = store.rows(REF)
    (theirs,) = store.rows(OTHER)
    assert mine.lease_expires_at == beat_at + timedelta(seconds=LEASE)
    assert theirs.lease_expires_at == T0 + timedelta(seconds=LEASE)
    # Past the other run's lease, the beating run is alive, the other is not.
    later = T0 + timedelta(seconds=LEASE + 5)
    assert store.runs_alive(["run-beating", "run-other"], since=later, now=later) == {"run-beating"}
    # Between two entities a run holds no row; its heartbeat alone says it is alive.
    store.complete(mine.id, "run-beating", mine.fingerprint_hash, now=later)
    store.beat("run-beating", hold_seconds=LEASE, now=later)
    after = later + timedelta(seconds=LEASE - 1)
    assert store.runs_alive(["run-beating"], since=after, now=after) == {"run-beating"}
    # One hold of silence, or an ended run, and it is not.
    silent = later + timedelta(seconds=LEASE + 1)
    assert store.runs_alive(["run-beating"], since=silent, now=silent) == set()
    store.end_beats("run-beating")
    assert store.runs_alive(["run-beating"], since=later, now=later) == set()


def test_a_heartbeat_refuses_a_hold_that_is_not_positive(store: StatusStore) -> None:
    store.upsert_desired([desired_row(REF, "default")], now=T0)
    store.claim(REF, "run-1", lease_seconds=LEASE, now=T0)
    with pytest.raises(ValueError, match="hold_seconds must be positive"):
        store.beat("run-1", hold_seconds=0, now=T0)
    assert store.rows(REF)[0].lease_expires_at == T0 + timedelta(seconds=LEASE)
