"""The status row's lifecycle, specified as tables: (row, desired, outcome) → the transition.

No server, database or Dagster: `decide` is pure. Each table row reads as one rule.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from lifecycle_fixtures import status_row

from microcks_pipeline.core.lifecycle import (
    AUTH_BACKOFF,
    CROSS_ENTITY_FAILURES,
    NO_WORK,
    OUTAGE_BACKOFF,
    SETTLING,
    Cause,
    Desired,
    Failure,
    Outcome,
    Step,
    credentials_fingerprint,
    decide,
    global_backoff_for,
    work_for,
)
from microcks_pipeline.core.model import StatusRow

NOW = datetime(2026, 1, 1, tzinfo=UTC)
REF = "api:default/petstore"


def row(
    action: str = "reconcile",
    status: str = "leased",
    cause: Cause | None = None,
    fp: str = "f1",
    attempts: int = 2,
    error: str | None = None,
    mock_id: str = "default",
) -> StatusRow:
    return status_row(
        REF, mock_id, fp, action, status, rid=7, attempts=attempts, error=error, cause=cause
    )


MOCK = Desired.mock("f1")
NEWER = Desired.mock("f2")
INVALID = Desired.invalid("microcks.yaml:3: field 'mockId': bad", "bad1")
INVALID_KEEP = replace(INVALID, keep=True)
UNREADABLE = Desired.unreadable("read timed out")
REMOVED = Desired.gone(Cause.REMOVED_FROM_CONFIG, "del1")
LEFT = Desired.gone(Cause.REMOVED_FROM_CATALOG, "del1")

SERVER_ERROR = Failure(Cause.SERVER_ERROR, "HTTP 503 on upload")
THROTTLED = Failure(Cause.THROTTLED, "HTTP 429", retry_after=30.0)
TIMEOUT = Failure(Cause.TRANSIENT, "timed out")
REJECTED = Failure(Cause.REJECTED_BY_MICROCKS, "HTTP 400: bad artifact")
UNREACHABLE = Failure(Cause.MICROCKS_UNREACHABLE, "connection refused")
REFUSED = Failure(Cause.AUTH_REFUSED, "401")

LOAD_DELETE = row("delete", cause=Cause.LOAD_FAILED, fp="bad1", error="the config error")
LOAD_KEEP = row("reconcile", cause=Cause.LOAD_FAILED, fp="bad1", error="the config error")
PLAIN_DELETE = row("delete", cause=Cause.REMOVED_FROM_CATALOG, fp="del1")

# ---- the catalog sensor: (row or None, desired) → (step, status, action, cause, error, event)

CATALOG = [
    ("a new mock is requested", None, MOCK,
     (Step.REQUEST, "pending", "reconcile", None, None, "reconcile_requested")),
    ("an unchanged mock is left alone", row(status="completed"), MOCK,
     (Step.NONE, "completed", None, None, None, None)),
    ("a changed mock is requested again", row(status="completed"), NEWER,
     (Step.REQUEST, "pending", "reconcile", None, None, "reconcile_requested")),
    ("a change under a run's lease keeps the lease", row(status="leased"), NEWER,
     (Step.REQUEST, "leased", "reconcile", None, None, "reconcile_requested")),
    ("an invalid mock is deleted by default", row(status="completed"), INVALID,
     (Step.REQUEST, "pending", "delete", Cause.LOAD_FAILED, INVALID.reason, "load_failed")),
    ("an invalid mock never synced is recorded", None, INVALID,
     (Step.REQUEST, "pending", "delete", Cause.LOAD_FAILED, INVALID.reason, "load_failed")),
    ("ON_INVALID=keep keeps the mock wanted", row(status="completed"), INVALID_KEEP,
     (Step.REQUEST, "pending", "reconcile", Cause.LOAD_FAILED, INVALID.reason, "load_failed")),
    ("the same invalid state is not requested twice", LOAD_DELETE, INVALID,
     (Step.NONE, "leased", None, Cause.LOAD_FAILED, "the config error", None)),
    ("a read error changes nothing", row(status="completed"), UNREADABLE,
     (Step.NONE, "completed", None, None, None, None)),
    ("a mock removed from microcks.yaml is deleted", row(status="completed"), REMOVED,
     (Step.REQUEST, "pending", "delete", Cause.REMOVED_FROM_CONFIG, None, "delete_requested")),
    ("an entity that left the catalog has its mocks deleted", row(status="completed"), LEFT,
     (Step.REQUEST, "pending", "delete", Cause.REMOVED_FROM_CATALOG, None, "delete_requested")),
    ("a mock never recorded has nothing to delete", None, REMOVED,
     (Step.NONE, "pending", None, None, None, None)),
    ("a removal already wanted is not requested again", PLAIN_DELETE, LEFT,
     (Step.NONE, "leased", None, Cause.REMOVED_FROM_CATALOG, None, None)),
    ("a removal retried after a 503 is still a removal", replace(PLAIN_DELETE, failure_cause=Cause.SERVER_ERROR), REMOVED,
     (Step.NONE, "leased", None, Cause.SERVER_ERROR, None, None)),
    ("a load failure's delete becomes a removal once the mock is gone", LOAD_DELETE, REMOVED,
     (Step.REQUEST, "leased", "delete", Cause.REMOVED_FROM_CONFIG, None, "delete_requested")),
    ("a fixed mock is reconciled again", LOAD_DELETE, MOCK,
     (Step.REQUEST, "leased", "reconcile", None, None, "reconcile_requested")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "current", "desired", "expected"), CATALOG, ids=[c[0] for c in CATALOG]
)
def test_the_catalog_sensor_requests_exactly_what_changed(name, current, desired, expected) -> None:
    t = decide(current, desired)

    assert (t.step, t.status, t.action, t.cause, t.error, t.event) == expected
    if t.step == Step.REQUEST:
        assert t.fingerprint == desired.fingerprint and t.attempts == 0


# ---- a run: (row, desired, outcome) → (step, status, cause, attempts, error, fingerprint, event)

RUN = [
    ("an applied mock completes", row(), MOCK, Outcome("created"),
     (Step.COMPLETE, "completed", None, 0, None, "f1", "reconcile_finished")),
    ("completion is guarded by the fingerprint the run applied", row(), NEWER, Outcome("updated"),
     (Step.COMPLETE, "completed", None, 0, None, "f2", "reconcile_finished")),
    ("a 5xx is retried with backoff", row(), MOCK, Outcome(failure=SERVER_ERROR),
     (Step.RETRY, "pending", Cause.SERVER_ERROR, 3, SERVER_ERROR.message, "f1", "retry_scheduled")),
    ("a 429 is retried", row(), MOCK, Outcome(failure=THROTTLED),
     (Step.RETRY, "pending", Cause.THROTTLED, 3, THROTTLED.message, "f1", "retry_scheduled")),
    ("a timeout is retried", row(), MOCK, Outcome(failure=TIMEOUT),
     (Step.RETRY, "pending", Cause.TRANSIENT, 3, "timed out", "f1", "retry_scheduled")),
    ("a 400 is an error until the input changes", row(), MOCK, Outcome(failure=REJECTED),
     (Step.FAIL, "error", Cause.REJECTED_BY_MICROCKS, 3, REJECTED.message, "f1", "failed")),
    ("no connection gives the row back untouched", row(), MOCK, Outcome(failure=UNREACHABLE),
     (Step.RELEASE, "pending", None, 2, None, None, None)),
    ("refused credentials give the row back untouched", row(), MOCK, Outcome(failure=REFUSED),
     (Step.RELEASE, "pending", None, 2, None, None, None)),
    ("a mock that vanished from the run's read waits for the catalog", row(), REMOVED, NO_WORK,
     (Step.RETRY, "pending", Cause.TRANSIENT, 3, SETTLING, "f1", "retry_scheduled")),
    ("an unreadable mock is retried with the read error", row(), UNREADABLE, NO_WORK,
     (Step.RETRY, "pending", Cause.TRANSIENT, 3, "read timed out", "f1", "retry_scheduled")),
    ("a reconcile without an outcome is retried", row(), MOCK, NO_WORK,
     (Step.RETRY, "pending", Cause.TRANSIENT, 3, "no outcome from reconcile", "f1", "retry_scheduled")),
    ("an invalid mock's services deleted: error load_failed", LOAD_DELETE, INVALID, Outcome("deleted"),
     (Step.FAIL, "error", Cause.LOAD_FAILED, 3, INVALID.reason, "bad1", "failed")),
    ("an invalid mock without services: error load_failed", LOAD_DELETE, INVALID, Outcome("absent"),
     (Step.FAIL, "error", Cause.LOAD_FAILED, 3, INVALID.reason, "bad1", "failed")),
    ("an invalid mock's delete after a 503 keeps the config error", LOAD_DELETE, INVALID, Outcome(failure=SERVER_ERROR),
     (Step.RETRY, "pending", Cause.LOAD_FAILED, 3, "the config error", "bad1", "retry_scheduled")),
    ("an invalid mock's reason outlives a run that read something else", LOAD_DELETE, MOCK, Outcome("deleted"),
     (Step.FAIL, "error", Cause.LOAD_FAILED, 3, "the config error", "bad1", "failed")),
    ("ON_INVALID=keep: error load_failed, no Microcks call", LOAD_KEEP, INVALID, NO_WORK,
     (Step.FAIL, "error", Cause.LOAD_FAILED, 3, INVALID.reason, "bad1", "failed")),
    ("a removal completes and keeps its cause", PLAIN_DELETE, LEFT, Outcome("deleted"),
     (Step.COMPLETE, "completed", Cause.REMOVED_FROM_CATALOG, 0, None, "del1", "delete_finished")),
    ("a removal with nothing left completes", PLAIN_DELETE, LEFT, Outcome("absent"),
     (Step.COMPLETE, "completed", Cause.REMOVED_FROM_CATALOG, 0, None, "del1", "delete_finished")),
    ("a removal retried after a 503 completes", replace(PLAIN_DELETE, failure_cause=Cause.SERVER_ERROR), LEFT, Outcome("deleted"),
     (Step.COMPLETE, "completed", None, 0, None, "del1", "delete_finished")),
    ("a removal that met a 503 is retried", PLAIN_DELETE, LEFT, Outcome(failure=SERVER_ERROR),
     (Step.RETRY, "pending", Cause.SERVER_ERROR, 3, SERVER_ERROR.message, "del1", "retry_scheduled")),
    ("a removal Microcks refuses is an error", PLAIN_DELETE, LEFT, Outcome(failure=REJECTED),
     (Step.FAIL, "error", Cause.REJECTED_BY_MICROCKS, 3, REJECTED.message, "del1", "failed")),
    ("a removal in an outage gives the row back", PLAIN_DELETE, LEFT, Outcome(failure=UNREACHABLE),
     (Step.RELEASE, "pending", Cause.REMOVED_FROM_CATALOG, 2, None, None, None)),
    ("the entity-level failure row completes its removal without a call", row("delete", cause=Cause.REMOVED_FROM_CATALOG, fp="del1", mock_id="_entity"), LEFT, NO_WORK,
     (Step.COMPLETE, "completed", Cause.REMOVED_FROM_CATALOG, 0, None, "del1", "delete_finished")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "current", "desired", "outcome", "expected"), RUN, ids=[c[0] for c in RUN]
)
def test_a_run_moves_each_row_by_its_outcome(name, current, desired, outcome, expected) -> None:
    t = decide(current, desired, outcome)

    assert (t.step, t.status, t.cause, t.attempts, t.error, t.fingerprint, t.event) == expected


def test_a_retry_carries_the_servers_retry_after() -> None:
    assert decide(row(), MOCK, Outcome(failure=THROTTLED)).retry_after == 30.0


def test_a_run_outcome_needs_the_claimed_row() -> None:
    with pytest.raises(ValueError, match="row"):
        decide(None, MOCK, NO_WORK)


WORK = [
    ("a wanted mock is uploaded", row(), MOCK, "upload"),
    ("a removal deletes", PLAIN_DELETE, LEFT, "delete"),
    ("an invalid mock's services are deleted", LOAD_DELETE, INVALID, "delete"),
    ("an invalid mock kept served is not touched", LOAD_KEEP, INVALID, "none"),
    ("a mock the run cannot read is not touched", row(), UNREADABLE, "none"),
    ("the entity-level row owns no service", row("delete", mock_id="_entity"), LEFT, "none"),
]


@pytest.mark.parametrize(("name", "current", "desired", "work"), WORK, ids=[w[0] for w in WORK])
def test_the_work_a_run_does_for_each_row(name, current, desired, work) -> None:
    assert work_for(current, desired) == work


BACKOFF = [
    ("refused credentials pause everything", REFUSED, 0, AUTH_BACKOFF),
    ("no connection pauses everything", UNREACHABLE, 0, OUTAGE_BACKOFF),
    ("one entity's 5xx is its own", SERVER_ERROR, 1, None),
    ("two entities' 5xx are still their own", SERVER_ERROR, CROSS_ENTITY_FAILURES - 1, None),
    ("several entities' 5xx pause everything", SERVER_ERROR, CROSS_ENTITY_FAILURES, OUTAGE_BACKOFF),
    ("several entities' 429 pause for the Retry-After", THROTTLED, 5, timedelta(seconds=30)),
    ("a timeout never counts across entities", TIMEOUT, 9, None),
    ("a 400 never pauses anything", REJECTED, 9, None),
]


@pytest.mark.parametrize(
    ("name", "failure", "entities", "pause"), BACKOFF, ids=[b[0] for b in BACKOFF]
)
def test_the_global_backoff_rule(name, failure, entities, pause) -> None:
    assert global_backoff_for(failure, entities) == pause


def test_the_credentials_fingerprint_changes_with_each_credential_and_hides_the_secret() -> None:
    base = ("https://m.example", "client", "s3cret-value", "")
    changed = [
        ("https://m.example", "other", "s3cret-value", ""),
        ("https://m.example", "client", "new-secret", ""),
        ("https://m.example", "client", "s3cret-value", "https://kc.example/token"),
    ]

    fingerprint = credentials_fingerprint(*base)

    assert len(fingerprint) == 64 and "s3cret" not in fingerprint
    assert fingerprint == credentials_fingerprint(*base)
    assert all(credentials_fingerprint(*c) != fingerprint for c in changed)
