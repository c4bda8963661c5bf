"""Specification: the append-only events log with retention, and the global backoff in the database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from store_fixtures import T0, desired_row

from microcks_pipeline.store import Event, GlobalBackoff, StatusStore

REF = "api:default/petstore"
OTHER = "api:team-b/orders"


def _event(ref: str = REF, event_type: str = "reconcile_started", **kw: object) -> Event:
    fields = {"level": "info", "message": f"{event_type} for {ref}"} | kw
    return Event(entity_ref=ref, event_type=event_type, **fields)  # type: ignore[arg-type]


# -- events -----------------------------------------------------------------------------------


def test_events_are_listed_newest_first_with_id_and_time(store: StatusStore) -> None:
    store.upsert_desired([desired_row(REF)], now=T0)
    (row,) = store.rows()
    first = _event(event_type="reconcile_started", run_id="run-1")
    second = _event(
        event_type="artifact_upload_finished",
        mock_id="default",
        sync_status_id=row.id,
        run_id="run-1",
        details={"service_id": "svc-1", "artifacts": ["openapi.yaml"], "calls": 2},
    )
    store.append_events([first], now=T0)

    appended = store.append_events([second], now=T0 + timedelta(seconds=1))

    assert appended == 1
    newest, oldest = store.events()
    assert newest.id > oldest.id
    assert (newest.event_type, newest.created_at) == (
        "artifact_upload_finished",
        T0 + timedelta(seconds=1),
    )
    assert (newest.mock_id, newest.sync_status_id, newest.run_id) == ("default", row.id, "run-1")
    assert newest.details == second.details
    assert (oldest.event_type, oldest.created_at, oldest.details) == ("reconcile_started", T0, {})


def test_events_can_be_read_per_entity_and_limited(store: StatusStore) -> None:
    store.append_events([_event(REF, f"step_{i}") for i in range(5)] + [_event(OTHER)], now=T0)

    mine = store.events(entity_ref=REF, limit=3)

    assert [e.event_type for e in mine] == ["step_4", "step_3", "step_2"]
    assert [e.entity_ref for e in store.events(entity_ref=OTHER)] == [OTHER]
    with pytest.raises(ValueError, match="limit"):
        store.events(limit=0)


def test_event_messages_and_details_are_sanitized(store: StatusStore) -> None:
    event = _event(
        level="error",
        event_type="failed",
        message="upload failed: Authorization: Bearer abc.def.ghi\nTraceback (most recent call last):",
        details={
            "url": "https://user:pw123@microcks.local/api?token=t0k",
            "nested": ["Bearer zz9"],
        },
    )

    store.append_events([event], now=T0)

    (stored,) = store.events()
    assert stored.message.startswith("upload failed")
    assert "abc.def" not in stored.message and "Traceback" not in stored.message
    assert "microcks.local/api" in stored.details["url"]
    assert "pw123" not in stored.details["url"] and "t0k" not in stored.details["url"]
    assert "zz9" not in stored.details["nested"][0]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (_event(level="debug"), "level"),
        (_event(ref=""), "entity_ref"),
        (_event(event_type=""), "event_type"),
        (_event(details={"when": T0}), "JSON"),
        (_event(details={"x": float("nan")}), "JSON"),
        (_event(details={"blob": list(range(5000))}), "exceed"),
        (_event(details="not a dict"), "dict"),
        (_event(sync_status_id="7"), "sync_status_id"),
    ],
    ids=["level", "empty-ref", "empty-type", "datetime", "nan", "too-big", "not-dict", "id-type"],
)
def test_a_bad_event_rejects_the_whole_batch(store: StatusStore, bad: Event, message: str) -> None:
    store.append_events([_event(event_type="kept")], now=T0)

    with pytest.raises(ValueError, match=message):
        store.append_events([_event(event_type="good"), bad], now=T0)

    assert [e.event_type for e in store.events()] == ["kept"]


def test_events_outlive_the_status_rows_they_mention(store: StatusStore) -> None:
    store.upsert_desired([desired_row(REF, action="delete")], now=T0)
    (row,) = store.claim(REF, "run-1", now=T0)
    store.complete(row.id, "run-1", row.fingerprint_hash, now=T0)
    store.forget_entity(REF)

    store.append_events([_event(event_type="delete_finished", sync_status_id=row.id)], now=T0)

    assert [e.sync_status_id for e in store.events()] == [row.id]


def test_prune_deletes_only_events_older_than_the_cutoff(store: StatusStore) -> None:
    for day in range(4):
        store.append_events([_event(event_type=f"day_{day}")], now=T0 + timedelta(days=day))

    pruned = store.prune_events(older_than=T0 + timedelta(days=2))

    assert pruned == 2
    assert [e.event_type for e in store.events()] == ["day_3", "day_2"]
    assert store.prune_events(older_than=T0) == 0


def test_prune_refuses_a_naive_cutoff(store: StatusStore) -> None:
    store.append_events([_event()], now=T0)

    with pytest.raises(ValueError, match="timezone-aware"):
        store.prune_events(older_than=T0.replace(tzinfo=None))

    assert len(store.events()) == 1


# -- global backoff ---------------------------------------------------------------------------


def test_global_backoff_is_absent_until_set(store: StatusStore) -> None:
    assert store.global_backoff(now=T0) is None


def test_global_backoff_is_read_back_until_it_expires(store: StatusStore) -> None:
    until = T0 + timedelta(minutes=5)

    store.set_global_backoff(until, "Microcks token endpoint answered 401")

    assert store.global_backoff(now=T0) == GlobalBackoff(
        until=until, reason="Microcks token endpoint answered 401"
    )
    assert store.global_backoff(now=until - timedelta(seconds=1)) is not None
    assert store.global_backoff(now=until) is None


def test_global_backoff_lives_in_the_database_not_in_memory(store_url: str) -> None:
    writer = StatusStore(store_url)
    writer.migrate()
    writer.set_global_backoff(T0 + timedelta(minutes=5), "Microcks 503")
    writer.dispose()  # drop every pooled connection of this process

    reader = StatusStore(store_url)

    assert reader.global_backoff(now=T0) == GlobalBackoff(T0 + timedelta(minutes=5), "Microcks 503")


def test_setting_global_backoff_again_replaces_it(store: StatusStore) -> None:
    store.set_global_backoff(T0 + timedelta(minutes=5), "first")

    store.set_global_backoff(T0 + timedelta(minutes=1), "second")

    assert store.global_backoff(now=T0) == GlobalBackoff(T0 + timedelta(minutes=1), "second")


def test_clearing_global_backoff_removes_it(store: StatusStore) -> None:
    store.set_global_backoff(T0 + timedelta(minutes=5), "Microcks 503")

    store.clear_global_backoff()
    store.clear_global_backoff()

    assert store.global_backoff(now=T0) is None


def test_global_backoff_reason_is_sanitized(store: StatusStore) -> None:
    store.set_global_backoff(
        T0 + timedelta(minutes=5), "token request failed: client_secret=s3cr3t\n  File x.py"
    )

    backoff = store.global_backoff(now=T0)

    assert backoff is not None
    assert "s3cr3t" not in backoff.reason and "File" not in backoff.reason


def test_global_backoff_refuses_a_naive_time(store: StatusStore) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        store.set_global_backoff(T0.replace(tzinfo=None), "x")

    assert store.global_backoff(now=T0) is None


# -- events written with the transition they report -------------------------------------------


def test_a_claim_writes_its_started_event_in_the_same_transaction(store: StatusStore) -> None:
    store.upsert_desired([desired_row(REF)], now=T0)

    def started(rows: object) -> Event:
        return _event(run_id="run-1", message=f"{len(rows)} mock(s) claimed")  # type: ignore[arg-type]

    (row,) = store.claim(REF, "run-1", now=T0, announce=started)
    nothing = store.claim(REF, "run-2", now=T0, announce=started)

    assert nothing == []  # a claim that took nothing says nothing
    (event,) = store.events()
    assert (event.event_type, event.message, event.run_id) == (
        "reconcile_started",
        "1 mock(s) claimed",
        "run-1",
    )


def test_a_bad_started_event_takes_the_claim_back(store: StatusStore) -> None:
    store.upsert_desired([desired_row(REF)], now=T0)

    with pytest.raises(ValueError, match="level must be one of"):
        store.claim(REF, "run-1", now=T0, announce=lambda rows: _event(level="loud"))

    (row,) = store.rows()
    assert (row.status, row.lease_owner, store.events()) == ("pending", None, [])


def test_a_completion_writes_its_events_only_when_the_row_completed(store: StatusStore) -> None:
    store.upsert_desired([desired_row(REF)], now=T0)
    (row,) = store.claim(REF, "run-1", now=T0)
    finished = _event(event_type="reconcile_finished", run_id="run-1", sync_status_id=row.id)

    stale = store.complete(row.id, "run-1", "not-the-desired", now=T0, events=[finished])
    (again,) = store.claim(REF, "run-1", now=T0)
    done = store.complete(again.id, "run-1", again.fingerprint_hash, now=T0, events=[finished])

    assert (stale, done) == (False, True)
    (event,) = store.events()  # only the completion that happened is reported
    assert (event.event_type, event.sync_status_id) == ("reconcile_finished", row.id)
    assert store.rows()[0].status == "completed"


def test_a_completion_with_an_invalid_event_completes_nothing(store: StatusStore) -> None:
    store.upsert_desired([desired_row(REF)], now=T0)
    (row,) = store.claim(REF, "run-1", now=T0)

    with pytest.raises(ValueError, match="level must be one of"):
        store.complete(row.id, "run-1", row.fingerprint_hash, now=T0, events=[_event(level="loud")])

    (after,) = store.rows()
    assert (after.status, after.lease_owner, store.events()) == ("leased", "run-1", [])


def test_a_completion_can_read_the_entity_s_rows_in_its_transaction(store: StatusStore) -> None:
    store.upsert_desired([desired_row(REF, "a"), desired_row(REF, "b"), desired_row(OTHER)], now=T0)
    a, b = store.claim(REF, "run-1", now=T0)
    store.claim(OTHER, "run-1", now=T0)
    after: list = []

    done = store.complete(a.id, "run-1", a.fingerprint_hash, now=T0, entity_rows=after)
    stale: list = []
    moved = store.complete(b.id, "run-1", "not-the-desired", now=T0, entity_rows=stale)

    assert done and not moved
    assert [(r.mock_id, r.status) for r in after] == [("a", "completed"), ("b", "leased")]
    assert [(r.mock_id, r.status) for r in stale] == [("a", "completed"), ("b", "pending")]
    assert stale == store.rows(REF)  # the entity's rows only, as they stand
