"""A status row's lifecycle as one pure state machine (DESIGN §5): states, causes, transitions.

A row is `pending` → `leased` (a run claimed it) → `completed` or `error`, or `pending` again
(a retry, a lease given back, a new desired state). Why a row is where it is, is a value of its
own, its `Cause`, stored in the row's `failure_cause` column: never read back from a fingerprint.

`decide(row, desired, outcome)` is the one transition function. The catalog sensor calls it
without an outcome (what does the catalog now want of this row?); a run calls it with the outcome
of its Microcks work for the row (`NO_WORK` when it made no call). Callers only apply the
returned `Transition` through the store. The rules of the global backoff are here too.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Literal

from microcks_pipeline.core.identity import is_valid_mock_id

# The row's vocabulary lives with the row in `model`; re-exported here for the state machine's users.
from microcks_pipeline.core.model import Cause, RowAction, RowStatus, StatusRow

RETRIED = frozenset({Cause.TRANSIENT, Cause.SERVER_ERROR, Cause.THROTTLED})
MICROCKS_WIDE = frozenset({Cause.MICROCKS_UNREACHABLE, Cause.AUTH_REFUSED, Cause.NOT_CONFIGURED})
REMOVALS = frozenset({Cause.REMOVED_FROM_CATALOG, Cause.REMOVED_FROM_CONFIG})
SETTLING = "the catalog says otherwise than when this run was asked for; waiting for the catalog"


class DesiredKind(StrEnum):
    MOCK = "mock"  # serve it: `fingerprint` is the content to apply
    INVALID = "invalid"  # a permanent load failure: `reason`, `fingerprint` of the failure
    UNREADABLE = "unreadable"  # a transient load failure: nothing can be concluded
    GONE = "gone"  # the mock is not wanted any more: `cause` says why


@dataclass(frozen=True)
class Desired:
    """What the catalog says about one (entity, mock) right now."""

    kind: DesiredKind
    fingerprint: str | None = None
    reason: str | None = None
    cause: Cause | None = None
    keep: bool = False  # INVALID: keep the last good mock served (MICROCKS_PIPELINE_ON_INVALID)

    @classmethod
    def mock(cls, fingerprint: str) -> Desired:
        return cls(DesiredKind.MOCK, fingerprint)

    @classmethod
    def invalid(cls, reason: str, fingerprint: str, *, keep: bool = False) -> Desired:
        return cls(DesiredKind.INVALID, fingerprint, reason, Cause.LOAD_FAILED, keep)

    @classmethod
    def unreadable(cls, reason: str) -> Desired:
        return cls(DesiredKind.UNREADABLE, reason=reason, cause=Cause.TRANSIENT)

    @classmethod
    def gone(cls, cause: Cause, fingerprint: str = "", reason: str | None = None) -> Desired:
        return cls(DesiredKind.GONE, fingerprint, reason, cause)


@dataclass(frozen=True)
class Failure:
    """A failure of a run's Microcks work, classified."""

    cause: Cause
    message: str
    retry_after: float | None = None

    @property
    def retried(self) -> bool:
        return self.cause in RETRIED

    @property
    def microcks_wide(self) -> bool:
        return self.cause in MICROCKS_WIDE


@dataclass(frozen=True)
class Outcome:
    """What a run's Microcks work did for one row: an action, or a failure, or nothing."""

    action: str | None = None  # created | updated | deleted | absent
    failure: Failure | None = None


NO_WORK = Outcome()  # the run made no Microcks call for the row


class Step(StrEnum):
    NONE = "none"  # nothing to write
    REQUEST = "request"  # new desired values; pending (a leased row keeps its run's lease)
    COMPLETE = "complete"  # compare-and-set to completed, the fingerprint applied
    RETRY = "retry"  # pending, attempts + 1, due after a backoff
    FAIL = "fail"  # error, attempts + 1
    RELEASE = "release"  # pending, due now, attempts kept: a Microcks-wide failure


@dataclass(frozen=True)
class Transition:
    """What to write for one row, and the event that says so."""

    step: Step
    status: str  # the row's status once written
    cause: Cause | None
    attempts: int
    action: str | None = None  # REQUEST: the desired action
    fingerprint: str | None = None  # REQUEST: desired; COMPLETE / FAIL: compare-and-set guard
    error: str | None = None  # last_error once written
    retry_after: float | None = None
    event: str | None = None
    level: Literal["info", "warn", "error"] = "info"
    message: str = ""


Work = Literal["upload", "delete", "none"]


def work_for(row: StatusRow, desired: Desired) -> Work:
    """The Microcks work a run does for a claimed row."""
    if row.desired_action == RowAction.DELETE:
        # A key that is no mockId (the entity-level failure row) owns no service.
        return "delete" if is_valid_mock_id(row.mock_id) else "none"
    if row.failure_cause == Cause.LOAD_FAILED or desired.kind != DesiredKind.MOCK:
        return "none"
    return "upload"


def is_removal(row: StatusRow) -> bool:
    """A delete because the mock is not wanted any more (not a load failure's delete)."""
    return row.desired_action == RowAction.DELETE and row.failure_cause != Cause.LOAD_FAILED


def decide(row: StatusRow | None, desired: Desired, outcome: Outcome | None = None) -> Transition:
    """The transition of `row` given what the catalog wants and, in a run, what Microcks did.

    `outcome` None: the catalog sensor's view (`row` None: the mock has no row yet).
    """
    if outcome is None:
        return _after_catalog(row, desired)
    if row is None:
        raise ValueError("a run's outcome needs the row it claimed")
    failure = outcome.failure
    if failure is not None and failure.microcks_wide:
        return _release(row)
    if row.desired_action == RowAction.DELETE:
        return _after_delete(row, desired, outcome)
    if row.failure_cause == Cause.LOAD_FAILED:  # an invalid mock kept served: no Microcks call
        return _fail(row, Cause.LOAD_FAILED, _load_reason(row, desired), row.fingerprint_hash)
    if desired.kind != DesiredKind.MOCK:
        return _retry(row, Failure(Cause.TRANSIENT, desired.reason or SETTLING))
    if failure is not None:
        if failure.retried:
            return _retry(row, failure)
        return _fail(row, failure.cause, failure.message, desired.fingerprint)
    if outcome.action is None:
        return _retry(row, Failure(Cause.TRANSIENT, "no outcome from reconcile"))
    return _complete(row, desired.fingerprint, None, "reconcile_finished", outcome.action)


def _after_catalog(row: StatusRow | None, desired: Desired) -> Transition:
    kind = desired.kind
    if kind == DesiredKind.UNREADABLE:
        return _none(row)  # a read error hides the real state: change nothing
    if kind == DesiredKind.GONE:
        if row is None or is_removal(row):
            return _none(row)  # nothing was ever recorded, or its delete is already wanted
        left = desired.cause == Cause.REMOVED_FROM_CATALOG
        why = "entity left the catalog" if left else "mock no longer desired"
        return _request(
            row, desired, RowAction.DELETE, "delete_requested", f"delete requested: {why}"
        )
    if kind == DesiredKind.INVALID:
        action = RowAction.RECONCILE if desired.keep else RowAction.DELETE
        return _request(row, desired, action, "load_failed", desired.reason or "load failed")
    why = "new mock" if row is None else "desired state changed"
    return _request(
        row, desired, RowAction.RECONCILE, "reconcile_requested", f"reconcile requested: {why}"
    )


def _after_delete(row: StatusRow, desired: Desired, outcome: Outcome) -> Transition:
    load_failed = row.failure_cause == Cause.LOAD_FAILED
    failure = outcome.failure
    if failure is not None and not failure.retried:
        return _fail(row, failure.cause, failure.message, row.fingerprint_hash)
    if failure is not None:
        # A load failure's delete that met a 503 still shows the config error to fix.
        return _retry(row, failure, keep_cause=load_failed)
    if load_failed:  # its services are gone now; the row shows why
        return _fail(row, Cause.LOAD_FAILED, _load_reason(row, desired), row.fingerprint_hash)
    cause = row.failure_cause if row.failure_cause in REMOVALS else None
    return _complete(
        row, row.fingerprint_hash, cause, "delete_finished", outcome.action or "absent"
    )


def _load_reason(row: StatusRow, desired: Desired) -> str:
    if desired.kind == DesiredKind.INVALID and desired.reason:
        return desired.reason
    return row.last_error or "mock config failed"


def _none(row: StatusRow | None) -> Transition:
    if row is None:
        return Transition(Step.NONE, RowStatus.PENDING, None, 0)
    return Transition(Step.NONE, row.status, row.failure_cause, row.attempts, error=row.last_error)


def _request(
    row: StatusRow | None, desired: Desired, action: RowAction, event: str, message: str
) -> Transition:
    if row is not None and (row.fingerprint_hash, row.desired_action) == (
        desired.fingerprint,
        action,
    ):
        return _none(row)
    leased = row is not None and row.status == RowStatus.LEASED
    invalid = desired.kind == DesiredKind.INVALID
    return Transition(
        Step.REQUEST,
        RowStatus.LEASED if leased else RowStatus.PENDING,
        desired.cause,
        0,
        action=action,
        fingerprint=desired.fingerprint,
        error=desired.reason if invalid else None,
        event=event,
        level="error" if invalid else "info",
        message=message,
    )


def _complete(
    row: StatusRow, fingerprint: str | None, cause: Cause | None, event: str, action: str
) -> Transition:
    return Transition(
        Step.COMPLETE,
        RowStatus.COMPLETED,
        cause,
        0,
        fingerprint=fingerprint,
        event=event,
        message=action,
    )


def _retry(row: StatusRow, failure: Failure, *, keep_cause: bool = False) -> Transition:
    return Transition(
        Step.RETRY,
        RowStatus.PENDING,
        row.failure_cause if keep_cause else failure.cause,
        row.attempts + 1,
        fingerprint=row.fingerprint_hash,  # the state claimed: a newer one is not overwritten
        error=row.last_error if keep_cause else failure.message,
        retry_after=failure.retry_after,
        event="retry_scheduled",
        level="warn",
        message=failure.message,
    )


def _fail(row: StatusRow, cause: Cause, reason: str, fingerprint: str | None) -> Transition:
    fingerprint = fingerprint or row.fingerprint_hash
    return Transition(
        Step.FAIL,
        RowStatus.ERROR,
        cause,
        row.attempts + 1,
        fingerprint=fingerprint,
        error=reason,
        event="failed",
        level="error",
        message=reason,
    )


def _release(row: StatusRow) -> Transition:
    return Transition(
        Step.RELEASE, RowStatus.PENDING, row.failure_cause, row.attempts, error=row.last_error
    )


# ---- the global backoff ---------------------------------------------------------------------

AUTH_BACKOFF = timedelta(minutes=2)
# An outage (Microcks or its token endpoint) is tried again every 15 s, so work resumes within
# 30 s of it ending: what is left of the backoff, a sync tick, a run's start.
OUTAGE_BACKOFF = timedelta(seconds=15)
# One entity's 5xx or 429 is that entity's trouble; this many distinct entities meeting one
# within the window is Microcks' trouble, and pauses every run.
CROSS_ENTITY_FAILURES = 3
CROSS_ENTITY_WINDOW = timedelta(seconds=60)


def counts_across_entities(failure: Failure) -> bool:
    """Whether the failure counts towards the cross-entity rule (Microcks answered, badly)."""
    return failure.cause in (Cause.SERVER_ERROR, Cause.THROTTLED)


def global_backoff_for(failure: Failure, failing_entities: int = 0) -> timedelta | None:
    """How long every run must wait after `failure`, or None when only its entity waits.

    `failing_entities`: distinct entities (this one included) whose calls met a 5xx or 429
    within CROSS_ENTITY_WINDOW.
    """
    server = timedelta(seconds=failure.retry_after or 0)
    if failure.cause == Cause.AUTH_REFUSED:
        return AUTH_BACKOFF
    if failure.cause == Cause.MICROCKS_UNREACHABLE:
        return max(OUTAGE_BACKOFF, server)
    if counts_across_entities(failure) and failing_entities >= CROSS_ENTITY_FAILURES:
        return max(OUTAGE_BACKOFF, server)
    return None


def credentials_fingerprint(base_url: str, client_id: str, secret: str, token_url: str) -> str:
    """A sha256 of the Microcks credentials, stored with an auth backoff so that a changed
    credential ends it at once; the secret itself is never stored."""
    text = json.dumps(
        ["microcks-credentials/v1", base_url.rstrip("/"), client_id, secret, token_url],
        separators=(",", ":"),
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
