"""Specification of the status rows: upsert, claim, renew, compare-and-set, retries, due work."""

from __future__ import annotations

from datetime import UTC, timedelta, timezone

import pytest
from store_fixtures import T0, desired_row

from microcks_pipeline.store import Event, StatusRow, StatusStore

REF = "api:default/petstore"
OTHER = "api:team-b/orders"


def _one(s: StatusStore, ref: str = REF, mock_id: str = "default") -> StatusRow:
    (row,) = [r for r in s.rows(ref) if r.mock_id == mock_id]
    return row


def _claimed(s: StatusStore, *mocks: str, owner: str = "run-1", ref: str = REF) -> list[StatusRow]:
    s.upsert_desired([desired_row(ref, m) for m in mocks], now=T0)
    return s.claim(ref, owner, now=T0)


# -- upsert -----------------------------------------------------------------------------------


def test_upsert_inserts_new_rows_as_pending_and_counts_them(store: StatusStore) -> None:
    wanted = [desired_row(REF, "default"), desired_row(REF, "v2"), desired_row(OTHER, "default")]

    written = store.upsert_desired(wanted, now=T0)

    assert written == 3
    rows = store.rows()
    assert {(r.entity_ref, r.mock_id) for r in rows} == {(d.entity_ref, d.mock_id) for d in wanted}
    for r in rows:
        assert r.status == "pending"
        assert r.attempts == 0
        assert r.next_attempt_at is None and r.lease_owner is None
        assert r.applied_fingerprint is None and r.last_error is None
        assert r.created_at == T0 and r.updated_at == T0
    row = _one(store)
    assert row.entity_hash == wanted[0].entity_hash
    assert row.microcks_version_id == wanted[0].microcks_version_id
    assert row.fingerprint_hash == wanted[0].fingerprint_hash


def test_upsert_of_identical_rows_writes_nothing(store: StatusStore) -> None:
    wanted = [desired_row(REF, "default"), desired_row(REF, "v2")]
    store.upsert_desired(wanted, now=T0)

    written = store.upsert_desired(wanted, now=T0 + timedelta(minutes=5))

    assert written == 0
    assert {r.updated_at for r in store.rows()} == {T0}


def test_changed_fingerprint_makes_a_completed_row_pending_again(store: StatusStore) -> None:
    (row,) = _claimed(store, "default")
    store.complete(row.id, "run-1", row.fingerprint_hash, now=T0)
    later = T0 + timedelta(minutes=1)

    written = store.upsert_desired([desired_row(REF, "default", fingerprint="fp-2")], now=later)

    assert written == 1
    after = _one(store)
    assert after.status == "pending"
    assert after.fingerprint_hash == "fp-2"
    assert after.applied_fingerprint == row.fingerprint_hash
    assert after.updated_at == later and after.created_at == T0


def test_changed_action_makes_the_row_pending(store: StatusStore) -> None:
    (row,) = _claimed(store, "default")
    store.complete(row.id, "run-1", row.fingerprint_hash, now=T0)

    written = store.upsert_desired(
        [desired_row(REF, "default", fingerprint=row.fingerprint_hash, action="delete")], now=T0
    )

    assert written == 1
    after = _one(store)
    assert (after.status, after.desired_action) == ("pending", "delete")


def test_changed_row_starts_over_without_backoff(store: StatusStore) -> None:
    (row,) = _claimed(store, "default")
    store.fail_transient(row.id, "run-1", "connect timeout", now=T0)

    store.upsert_desired([desired_row(REF, "default", fingerprint="fp-2")], now=T0)

    after = _one(store)
    assert after.attempts == 0
    assert after.next_attempt_at is None
    assert after.last_error is None
    assert [r.id for r in store.claim(REF, "run-2", now=T0)] == [row.id]


def test_upsert_never_clears_a_lease_and_the_running_cas_then_fails(store: StatusStore) -> None:
    (row,) = _claimed(store, "default")

    written = store.upsert_desired([desired_row(REF, "default", fingerprint="fp-2")], now=T0)

    assert written == 1
    during = _one(store)
    assert during.status == "leased"
    assert during.lease_owner == "run-1"
    assert during.lease_expires_at == row.lease_expires_at
    assert during.fingerprint_hash == "fp-2"
    assert store.complete(row.id, "run-1", row.fingerprint_hash, now=T0) is False
    after = _one(store)
    assert (after.status, after.lease_owner, after.applied_fingerprint) == ("pending", None, None)


def test_upsert_stores_the_load_error_sanitized(store: StatusStore) -> None:
    error = "cannot read https://bob:hunter2@git.example/x?token=abc\nTraceback: frames"

    store.upsert_desired([desired_row(REF, "default", error=error)], now=T0)

    last_error = _one(store).last_error
    assert last_error is not None and "git.example" in last_error
    assert "hunter2" not in last_error and "abc" not in last_error and "\n" not in last_error


def test_upsert_of_many_entities_in_one_batch_counts_exactly(store: StatusStore) -> None:
    refs = [f"api:default/svc-{i:04d}" for i in range(600)]
    wanted = [desired_row(ref, m) for ref in refs for m in ("default", "v2")]
    assert store.upsert_desired(wanted, now=T0) == len(wanted)
    changed = [desired_row(d.entity_ref, d.mock_id, fingerprint="fp-2") for d in wanted[::3]]
    unchanged = [d for i, d in enumerate(wanted) if i % 3]

    written = store.upsert_desired(changed + unchanged, now=T0 + timedelta(seconds=1))

    assert written == len(changed)
    assert sum(r.fingerprint_hash == "fp-2" for r in store.rows()) == len(changed)
    assert store.counts()["pending"] == len(wanted)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (desired_row(REF, "broken", action="upsert"), "desired_action"),
        (desired_row(REF, ""), "mock_id"),
        (desired_row("", "default"), "entity_ref"),
        (desired_row("api:default/" + "x" * 300, "default"), "longer than"),
        (desired_row(REF, "default", fingerprint=""), "fingerprint_hash"),
        (desired_row(REF, "good"), "appears twice"),
    ],
    ids=["action", "empty-mock", "empty-ref", "long-ref", "empty-fingerprint", "duplicate"],
)
def test_upsert_refuses_a_bad_batch_whole(store: StatusStore, bad: object, message: str) -> None:
    store.upsert_desired([desired_row(REF, "kept")], now=T0)

    with pytest.raises(ValueError, match=message):
        store.upsert_desired([desired_row(REF, "good"), bad], now=T0)  # type: ignore[list-item]

    assert [r.mock_id for r in store.rows()] == ["kept"]


def test_upsert_refuses_a_naive_timestamp(store: StatusStore) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        store.upsert_desired([desired_row()], now=T0.replace(tzinfo=None))

    assert store.rows() == []


def test_timestamps_come_back_as_the_same_utc_instant(store: StatusStore) -> None:
    plus_two = T0.astimezone(timezone(timedelta(hours=2)))

    store.upsert_desired([desired_row()], now=plus_two)

    row = _one(store)
    assert row.created_at == T0
    assert row.created_at.utcoffset() == timedelta(0)


# -- claim ------------------------------------------------------------------------------------


def test_claim_leases_only_the_entitys_pending_due_rows(store: StatusStore) -> None:
    store.upsert_desired(
        [desired_row(REF, m) for m in ("done", "failed", "later", "due")] + [desired_row(OTHER)],
        now=T0,
    )
    first = {r.mock_id: r for r in store.claim(REF, "setup", now=T0)}
    store.complete(first["done"].id, "setup", first["done"].fingerprint_hash, now=T0)
    store.fail_permanent(first["failed"].id, "setup", "400 bad artifact", now=T0)
    store.fail_transient(first["later"].id, "setup", "503", now=T0)
    store.release(first["due"].id, "setup", now=T0)

    claimed = store.claim(REF, "run-1", lease_seconds=60, now=T0)

    assert [r.mock_id for r in claimed] == ["due"]
    (row,) = claimed
    assert (row.status, row.lease_owner) == ("leased", "run-1")
    assert row.lease_expires_at == T0 + timedelta(seconds=60)
    assert _one(store, OTHER).status == "pending"


def test_claim_takes_a_row_once_its_backoff_has_passed(store: StatusStore) -> None:
    (row,) = _claimed(store, "default")
    next_at = store.fail_transient(row.id, "run-1", "timeout", now=T0)
    assert next_at is not None

    before = store.claim(REF, "run-2", now=next_at - timedelta(seconds=1))
    at = store.claim(REF, "run-2", now=next_at)

    assert before == []
    assert [r.id for r in at] == [row.id]


def test_claim_respects_a_live_lease_and_reclaims_an_expired_one(store: StatusStore) -> None:
    (row,) = _claimed(store, "default")  # lease of 300 s from T0

    while_live = store.claim(REF, "run-2", now=T0 + timedelta(seconds=299))
    after_expiry = store.claim(REF, "run-2", now=T0 + timedelta(seconds=300))

    assert while_live == []
    assert [(r.id, r.lease_owner) for r in after_expiry] == [(row.id, "run-2")]
    assert store.complete(row.id, "run-1", row.fingerprint_hash, now=T0) is False
    assert _one(store).lease_owner == "run-2"


def test_forced_claim_also_takes_completed_error_and_waiting_rows(store: StatusStore) -> None:
    rows = {r.mock_id: r for r in _claimed(store, "done", "failed", "later", "busy")}
    store.complete(rows["done"].id, "run-1", rows["done"].fingerprint_hash, now=T0)
    store.fail_permanent(rows["failed"].id, "run-1", "400", now=T0)
    store.fail_transient(rows["later"].id, "run-1", "503", now=T0)

    normal = store.claim(REF, "run-2", now=T0)
    forced = store.claim(REF, "run-2", force=True, now=T0)

    assert normal == []
    assert sorted(r.mock_id for r in forced) == ["done", "failed", "later"]
    assert _one(store, mock_id="busy").lease_owner == "run-1"


def test_the_same_run_can_claim_its_own_rows_again(store: StatusStore) -> None:
    first = _claimed(store, "default", "v2")

    again = store.claim(REF, "run-1", now=T0 + timedelta(seconds=10))

    assert [r.id for r in again] == [r.id for r in first]
    assert {r.lease_expires_at for r in again} == {T0 + timedelta(seconds=310)}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"owner": ""}, "owner"),
        ({"owner": "r" * 200}, "owner"),
        ({"lease_seconds": 0}, "lease_seconds"),
        ({"lease_seconds": -5}, "lease_seconds"),
        ({"lease_seconds": float("nan")}, "lease_seconds"),
        ({"now": T0.replace(tzinfo=None)}, "timezone-aware"),
    ],
    ids=["empty-owner", "long-owner", "zero-lease", "negative-lease", "nan-lease", "naive-now"],
)
def test_claim_refuses_bad_arguments_and_leases_nothing(
    store: StatusStore, kwargs: dict, message: str
) -> None:
    store.upsert_desired([desired_row()], now=T0)
    args = {"owner": "run-1", "now": T0} | kwargs

    with pytest.raises(ValueError, match=message):
        store.claim(REF, **args)

    assert _one(store).status == "pending"


# -- renew ------------------------------------------------------------------------------------


def test_renew_extends_only_the_owners_leases(store: StatusStore) -> None:
    _claimed(store, "default", "v2")
    _claimed(store, "default", owner="run-9", ref=OTHER)
    later = T0 + timedelta(seconds=200)

    renewed = store.renew(REF, "run-1", lease_seconds=300, now=later)
    stranger = store.renew(REF, "run-2", lease_seconds=300, now=later)

    assert renewed == 2
    assert stranger == 0
    assert {r.lease_expires_at for r in store.rows(REF)} == {later + timedelta(seconds=300)}
    assert _one(store, OTHER).lease_expires_at == T0 + timedelta(seconds=300)


def test_renew_after_losing_the_lease_renews_nothing(store: StatusStore) -> None:
    _claimed(store, "default")
    store.claim(REF, "run-2", now=T0 + timedelta(seconds=301))

    assert store.renew(REF, "run-1", now=T0 + timedelta(seconds=302)) == 0
    assert _one(store).lease_owner == "run-2"


# -- complete / release -----------------------------------------------------------------------


def test_complete_records_the_applied_fingerprint_and_clears_the_lease(store: StatusStore) -> None:
    (row,) = _claimed(store, "default")
    done_at = T0 + timedelta(seconds=30)

    ok = store.complete(row.id, "run-1", row.fingerprint_hash, service_id="svc-42", now=done_at)

    assert ok is True
    after = _one(store)
    assert after.status == "completed"
    assert after.applied_fingerprint == row.fingerprint_hash
    assert (after.lease_owner, after.lease_expires_at) == (None, None)
    assert (after.attempts, after.last_error, after.next_attempt_at) == (0, None, None)
    assert after.microcks_service_id == "svc-42"
    assert after.updated_at == done_at


def test_complete_after_a_retry_resets_attempts_and_error(store: StatusStore) -> None:
    (row,) = _claimed(store, "default")
    next_at = store.fail_transient(row.id, "run-1", "503", now=T0)
    assert next_at is not None
    store.claim(REF, "run-2", now=next_at)

    assert store.complete(row.id, "run-2", row.fingerprint_hash, now=next_at) is True

    after = _one(store)
    assert (after.status, after.attempts, after.last_error) == ("completed", 0, None)


def test_complete_with_a_moved_fingerprint_returns_false_and_requeues(store: StatusStore) -> None:
    (row,) = _claimed(store, "default")
    store.upsert_desired([desired_row(REF, "default", fingerprint="fp-2")], now=T0)

    ok = store.complete(row.id, "run-1", row.fingerprint_hash, now=T0)

    assert ok is False
    after = _one(store)
    assert (after.status, after.lease_owner, after.applied_fingerprint) == ("pending", None, None)
    assert after.fingerprint_hash == "fp-2"
    assert [r.id for r in store.claim(REF, "run-2", now=T0)] == [row.id]


def test_complete_by_another_owner_returns_false_and_changes_nothing(store: StatusStore) -> None:
    (row,) = _claimed(store, "default")

    ok = store.complete(row.id, "run-2", row.fingerprint_hash, now=T0)

    assert ok is False
    assert _one(store) == row


def test_completed_delete_keeps_no_service_id(store: StatusStore) -> None:
    (row,) = _claimed(store, "default")
    store.complete(row.id, "run-1", row.fingerprint_hash, service_id="svc-1", now=T0)
    store.upsert_desired([desired_row(REF, "default", action="delete")], now=T0)
    (again,) = store.claim(REF, "run-2", now=T0)

    assert store.complete(again.id, "run-2", again.fingerprint_hash, now=T0) is True

    after = _one(store)
    assert (after.status, after.desired_action, after.microcks_service_id) == (
        "completed",
        "delete",
        None,
    )


def test_release_returns_the_row_to_pending_only_for_its_owner(store: StatusStore) -> None:
    (row,) = _claimed(store, "default")

    by_stranger = store.release(row.id, "run-2", now=T0)
    by_owner = store.release(row.id, "run-1", now=T0)

    assert (by_stranger, by_owner) == (False, True)
    after = _one(store)
    assert (after.status, after.lease_owner, after.next_attempt_at) == ("pending", None, None)


# -- failures ---------------------------------------------------------------------------------


def test_transient_failures_back_off_longer_each_time(store: StatusStore) -> None:
    (row,) = _claimed(store, "default")

    first = store.fail_transient(row.id, "run-1", "HTTP 503", now=T0)
    assert first is not None
    store.claim(REF, "run-2", now=first)
    second = store.fail_transient(row.id, "run-2", "HTTP 503", now=first)
    assert second is not None

    assert timedelta(seconds=8) <= first - T0 <= timedelta(seconds=12)
    assert timedelta(seconds=16) <= second - first <= timedelta(seconds=24)
    after = _one(store)
    assert (after.status, after.attempts, after.lease_owner) == ("pending", 2, None)
    assert after.next_attempt_at == second
    assert after.last_error == "HTTP 503"


def test_a_longer_retry_after_wins_over_the_backoff(store: StatusStore) -> None:
    (row,) = _claimed(store, "default")

    next_at = store.fail_transient(row.id, "run-1", "HTTP 429", retry_after=120, now=T0)

    assert next_at == T0 + timedelta(seconds=120)


def test_a_shorter_retry_after_does_not_shorten_the_backoff(store: StatusStore) -> None:
    (row,) = _claimed(store, "default")

    next_at = store.fail_transient(row.id, "run-1", "HTTP 429", retry_after=1, now=T0)

    assert next_at is not None and next_at - T0 >= timedelta(seconds=8)


def test_transient_failure_by_a_stranger_is_ignored(store: StatusStore) -> None:
    (row,) = _claimed(store, "default")

    assert store.fail_transient(row.id, "run-2", "boom", now=T0) is None
    assert _one(store) == row


@pytest.mark.parametrize("retry_after", [-1, float("nan"), float("inf"), "10"])
def test_transient_failure_refuses_a_bad_retry_after(store: StatusStore, retry_after) -> None:
    (row,) = _claimed(store, "default")

    with pytest.raises(ValueError, match="retry_after"):
        store.fail_transient(row.id, "run-1", "429", retry_after=retry_after, now=T0)

    assert _one(store) == row


def test_transient_error_text_is_sanitized(store: StatusStore) -> None:
    (row,) = _claimed(store, "default")

    store.fail_transient(
        row.id, "run-1", "401 for Authorization: Bearer s3cr3t-t0ken\n  at x", now=T0
    )

    last_error = _one(store).last_error
    assert last_error is not None and "401" in last_error
    assert "s3cr3t" not in last_error and "\n" not in last_error


def test_permanent_failure_parks_the_row_until_forced_or_changed(store: StatusStore) -> None:
    (row,) = _claimed(store, "default")

    ok = store.fail_permanent(row.id, "run-1", "400: artifact rejected, password=hunter2", now=T0)

    assert ok is True
    after = _one(store)
    assert (after.status, after.lease_owner, after.next_attempt_at) == ("error", None, None)
    assert after.last_error is not None and "artifact rejected" in after.last_error
    assert "hunter2" not in after.last_error
    assert store.claim(REF, "run-2", now=T0 + timedelta(days=1)) == []
    store.upsert_desired([desired_row(REF, "default", fingerprint="fp-2")], now=T0)
    assert [r.id for r in store.claim(REF, "run-2", now=T0)] == [row.id]


def test_permanent_failure_with_a_moved_fingerprint_requeues(store: StatusStore) -> None:
    (row,) = _claimed(store, "default")
    store.upsert_desired([desired_row(REF, "default", fingerprint="fp-2")], now=T0)

    ok = store.fail_permanent(row.id, "run-1", "400", fingerprint=row.fingerprint_hash, now=T0)

    assert ok is False
    after = _one(store)
    assert (after.status, after.last_error) == ("pending", None)


def test_permanent_failure_by_a_stranger_is_ignored(store: StatusStore) -> None:
    (row,) = _claimed(store, "default")

    assert store.fail_permanent(row.id, "run-2", "400", now=T0) is False
    assert _one(store) == row


# -- due work, entities, counts ---------------------------------------------------------------


def test_due_entities_lists_pending_due_and_expired_rows_per_entity(store: StatusStore) -> None:
    a, b, c = "api:default/a", "api:default/b", "api:default/c"
    store.upsert_desired([desired_row(a, "m1"), desired_row(a, "m2")], now=T0)
    store.upsert_desired([desired_row(b, "m1")], now=T0 + timedelta(seconds=1))
    store.upsert_desired(
        [desired_row(c, "m1"), desired_row(c, "m2")], now=T0 + timedelta(seconds=2)
    )
    store.claim(b, "run-b", lease_seconds=10, now=T0 + timedelta(seconds=1))
    (c1, c2) = store.claim(c, "run-c", lease_seconds=3600, now=T0 + timedelta(seconds=2))
    store.complete(c1.id, "run-c", c1.fingerprint_hash, now=T0 + timedelta(seconds=2))

    due = store.due_entities(now=T0 + timedelta(seconds=60))

    assert list(due) == [a, b]
    assert [r.mock_id for r in due[a]] == ["m1", "m2"]
    assert [(r.mock_id, r.status) for r in due[b]] == [("m1", "leased")]


def test_due_entities_leaves_out_rows_still_backing_off(store: StatusStore) -> None:
    (row,) = _claimed(store, "default")
    next_at = store.fail_transient(row.id, "run-1", "503", now=T0)
    assert next_at is not None

    assert store.due_entities(now=next_at - timedelta(seconds=1)) == {}
    assert list(store.due_entities(now=next_at)) == [REF]


def test_due_entities_limit_takes_the_oldest_entities(store: StatusStore) -> None:
    refs = [f"api:default/e{i}" for i in range(5)]
    for i, ref in enumerate(reversed(refs)):
        store.upsert_desired([desired_row(ref, "m")], now=T0 + timedelta(seconds=i))

    due = store.due_entities(now=T0 + timedelta(minutes=1), limit=2)

    assert list(due) == [refs[-1], refs[-2]]
    assert store.due_entities(now=T0, limit=0) == {}
    with pytest.raises(ValueError, match="limit"):
        store.due_entities(limit=-1)


def test_due_entity_refs_name_the_due_entities_oldest_first_without_their_rows(
    store: StatusStore,
) -> None:
    refs = [f"api:default/e{i}" for i in range(5)]
    for i, ref in enumerate(reversed(refs)):
        store.upsert_desired(
            [desired_row(ref, "m"), desired_row(ref, "n")], now=T0 + timedelta(seconds=i)
        )
    store.claim(refs[0], "run-0", lease_seconds=3600, now=T0 + timedelta(seconds=5))  # not due
    later = T0 + timedelta(minutes=1)

    names = store.due_entity_refs(now=later)
    some = store.due_entities(now=later, refs=[refs[1], refs[0], refs[3], refs[1]])

    assert names == list(store.due_entities(now=later)) == refs[:0:-1]
    assert list(some) == [refs[3], refs[1]]  # oldest first, each once, the leased one left out
    assert [r.mock_id for r in some[refs[3]]] == ["m", "n"]
    assert store.due_entities(now=later, refs=[]) == {}


def test_entity_refs_lists_every_entity_once(store: StatusStore) -> None:
    store.upsert_desired([desired_row(REF, "a"), desired_row(REF, "b"), desired_row(OTHER)], now=T0)

    assert store.entity_refs() == {REF, OTHER}


def test_forget_entity_deletes_only_finished_deletes(store: StatusStore) -> None:
    store.upsert_desired([desired_row(REF, m, action="delete") for m in ("a", "b", "c")], now=T0)
    store.upsert_desired([desired_row(OTHER, "a", action="delete")], now=T0)
    rows = {r.mock_id: r for r in store.claim(REF, "run-1", now=T0)}
    store.complete(rows["a"].id, "run-1", rows["a"].fingerprint_hash, now=T0)
    store.complete(rows["b"].id, "run-1", rows["b"].fingerprint_hash, now=T0)
    store.fail_permanent(rows["c"].id, "run-1", "400", now=T0)

    forgotten = store.forget_entity(REF)

    assert forgotten == 2
    assert [r.mock_id for r in store.rows(REF)] == ["c"]
    assert [r.mock_id for r in store.rows(OTHER)] == ["a"]


def test_counts_reports_every_status(store: StatusStore) -> None:
    assert store.counts() == {"pending": 0, "leased": 0, "completed": 0, "error": 0}
    rows = _claimed(store, "a", "b", "c")
    store.upsert_desired([desired_row(REF, "d")], now=T0)
    store.complete(rows[0].id, "run-1", rows[0].fingerprint_hash, now=T0)
    store.fail_permanent(rows[1].id, "run-1", "400", now=T0)

    assert store.counts() == {"pending": 1, "leased": 1, "completed": 1, "error": 1}


def test_rows_can_be_read_per_entity(store: StatusStore) -> None:
    store.upsert_desired([desired_row(REF, "b"), desired_row(REF, "a"), desired_row(OTHER)], now=T0)

    assert [(r.entity_ref, r.mock_id) for r in store.rows(REF)] == [(REF, "a"), (REF, "b")]
    assert len(store.rows()) == 3
    assert store.rows("api:default/unknown") == []


def test_utc_is_used_when_no_clock_is_given(store: StatusStore) -> None:
    store.upsert_desired([desired_row()])

    assert _one(store).created_at.tzinfo == UTC


def test_a_claim_also_reads_the_entity_s_other_rows_as_they_stand(store: StatusStore) -> None:
    rows = [desired_row(REF, "default"), desired_row(REF, "v2"), desired_row("api:x/other")]
    store.upsert_desired(rows, now=T0)
    default, v2 = sorted(store.claim(REF, "run-0", now=T0), key=lambda r: r.mock_id)
    assert store.complete(v2.id, "run-0", v2.fingerprint_hash, now=T0)
    assert store.release(default.id, "run-0", now=T0)

    claimed, entity_rows = store.claim_entity(REF, "run-1", now=T0)
    nothing = store.claim_entity(REF, "run-2", now=T0)

    assert [r.mock_id for r in claimed] == ["default"]  # the completed row is not due
    assert [(r.mock_id, r.status, r.lease_owner) for r in entity_rows] == [
        ("default", "leased", "run-1"),
        ("v2", "completed", None),
    ]  # the entity's rows only, after the claim
    assert (nothing.claimed, nothing.entity_rows) == ([], [])


# -- claims ahead (a batch run) ----------------------------------------------------------------


def _started(ref: str, level: str = "info") -> Event:
    return Event(
        entity_ref=ref,
        mock_id=None,
        sync_status_id=None,
        event_type="reconcile_started",
        level=level,  # type: ignore[arg-type]
        message="claimed",
        run_id="run-1",
    )


def test_claim_entities_leases_the_due_rows_of_many_entities_in_one_call(
    store: StatusStore,
) -> None:
    third = "api:team-c/stock"
    store.upsert_desired(
        [desired_row(REF, m) for m in ("default", "v2")]
        + [desired_row(OTHER, "default"), desired_row(third, "default")],
        now=T0,
    )
    (busy,) = store.claim(third, "run-0", now=T0)  # another run holds this entity's row
    announced: list[tuple[str, int]] = []

    def started(ref: str, rows: object) -> Event:
        announced.append((ref, len(rows)))  # type: ignore[arg-type]
        return _started(ref)

    claims = store.claim_entities(
        [OTHER, REF, third, "api:x/unknown"], "run-1", lease_seconds=60, now=T0, announce=started
    )

    assert sorted(claims) == sorted([REF, OTHER])  # nothing due of the others: no claim
    assert [r.mock_id for r in claims[REF].claimed] == ["default", "v2"]
    assert [(r.mock_id, r.lease_owner) for r in claims[REF].entity_rows] == [
        ("default", "run-1"),
        ("v2", "run-1"),
    ]
    assert [r.entity_ref for r in claims[OTHER].entity_rows] == [OTHER]
    for row in store.rows():
        owner = "run-0" if row.id == busy.id else "run-1"
        assert (row.status, row.lease_owner) == ("leased", owner)
    assert {r.lease_expires_at for r in store.rows() if r.lease_owner == "run-1"} == {
        T0 + timedelta(seconds=60)
    }
    assert sorted(announced) == sorted([(REF, 2), (OTHER, 1)])
    assert sorted(e.entity_ref for e in store.events()) == sorted([REF, OTHER])


def test_claim_entities_with_a_bad_event_claims_nothing_of_any_entity(store: StatusStore) -> None:
    store.upsert_desired([desired_row(REF), desired_row(OTHER)], now=T0)

    def bad(ref: str, rows: object) -> Event:
        return _started(ref, level="loud")

    with pytest.raises(ValueError, match="level must be one of"):
        store.claim_entities([REF, OTHER], "run-1", now=T0, announce=bad)

    assert {(r.status, r.lease_owner) for r in store.rows()} == {("pending", None)}
    assert store.events() == []


def test_release_unstarted_gives_back_only_the_owners_rows_untouched(store: StatusStore) -> None:
    store.upsert_desired([desired_row(REF, m) for m in ("a", "b", "c")], now=T0)
    a, b, c = store.claim(REF, "run-1", now=T0)
    store.fail_transient(b.id, "run-1", "503", now=T0)  # b ended: it is not the run's any more
    store.upsert_desired([desired_row(OTHER)], now=T0)
    (other,) = store.claim(OTHER, "run-2", now=T0)

    released = store.release_unstarted([a.id, b.id, other.id], "run-1", "batch stopped", now=T0)

    assert released == 1
    after = {r.mock_id: r for r in store.rows(REF)}
    assert (after["a"].status, after["a"].lease_owner, after["a"].attempts) == ("pending", None, 0)
    assert after["a"].next_attempt_at == T0 and after["a"].last_error is None  # due now, no error
    assert after["b"].attempts == 1 and after["b"].next_attempt_at > T0  # its retry kept
    assert (after["c"].status, after["c"].lease_owner) == ("leased", "run-1")  # not named
    assert _one(store, OTHER).lease_owner == "run-2"  # another run's row is never released
    (event,) = store.events(limit=1)
    assert (event.mock_id, event.event_type, event.message) == (
        "a",
        "retry_scheduled",
        "batch stopped",
    )
    assert store.release_unstarted([], "run-1", "x", now=T0) == 0
    with pytest.raises(ValueError, match="owner"):
        store.release_unstarted([c.id], "", "x", now=T0)
    assert _one(store, mock_id="c").lease_owner == "run-1"
