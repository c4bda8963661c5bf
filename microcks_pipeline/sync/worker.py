"""The worker: sync one entity's claimed rows against Microcks; decide, then apply.

A run claims the entity's due rows, reads what the catalog wants of each (`lifecycle.Desired`),
does the Microcks work `lifecycle.work_for` names, and applies the transition
`lifecycle.decide` returns for each row through the store, writing each event as it happens.

Every step may be repeated after a crash without harm: rows are claimed with a lease, Microcks
updates services in place, deletes answer 200 when nothing is there, and completion is a
compare-and-set on the desired fingerprint, so a run that applied stale content never marks
newer desired state as done.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from microcks_pipeline.core.converge import AppliedRecord
from microcks_pipeline.core.desired import ENTITY_MOCK_ID, EntityDesired
from microcks_pipeline.core.errors import AuthError, PermanentError, PipelineError, TransientError
from microcks_pipeline.core.lifecycle import (
    CROSS_ENTITY_WINDOW,
    NO_WORK,
    Cause,
    Desired,
    Failure,
    Outcome,
    Step,
    Transition,
    counts_across_entities,
    decide,
    global_backoff_for,
    work_for,
)
from microcks_pipeline.core.model import Event, StatusRow
from microcks_pipeline.microcks import MicrocksClient
from microcks_pipeline.microcks.errors import MicrocksBusy, MicrocksUnreachable
from microcks_pipeline.sources.artifacts import ArtifactReader
from microcks_pipeline.sources.catalog.entity import CatalogSource
from microcks_pipeline.store import StatusStore, sanitize_error
from microcks_pipeline.sync.loader import load_entity_desired
from microcks_pipeline.sync.reconcile import MockOutcome, reconcile_entity

LEASE_SECONDS = 300.0
ENTITY_MISSING = "entity not in the catalog any more; waiting for the catalog sensor to confirm"


@dataclass(frozen=True)
class EntitySyncResult:
    entity_ref: str
    claimed: int
    actions: Mapping[str, str] = field(default_factory=dict)
    service_ids: Mapping[str, str] = field(default_factory=dict)
    mock_urls: Mapping[str, str] = field(default_factory=dict)
    calls: int = 0
    errors: Mapping[str, str] = field(default_factory=dict)
    permanent_failures: tuple[str, ...] = ()
    transient_failures: tuple[str, ...] = ()
    entity_removed: bool = False
    causes: Mapping[str, str] = field(default_factory=dict)  # mock id → lifecycle.Cause
    paused_everything: bool = False  # this entity's failure set the global backoff

    @property
    def ok(self) -> bool:
        return not self.permanent_failures and not self.transient_failures


def entity_name_from_ref(ref: str) -> str:
    """The service name to search for when the entity itself is gone (Microcks' name search is
    case-insensitive, so the lower-cased ref is enough)."""
    return ref.split("/", 1)[1]


def classify(error: PipelineError) -> Failure:
    """A Microcks error as a lifecycle failure: its cause, sanitized message and Retry-After."""
    message = sanitize_error(str(error))
    retry_after = error.retry_after if isinstance(error, TransientError) else None
    if isinstance(error, AuthError):
        return Failure(Cause.AUTH_REFUSED, message)
    if isinstance(error, MicrocksUnreachable):
        return Failure(Cause.MICROCKS_UNREACHABLE, message, retry_after)
    if isinstance(error, MicrocksBusy):
        cause = Cause.THROTTLED if error.status == 429 else Cause.SERVER_ERROR
        return Failure(cause, message, retry_after)
    if isinstance(error, PermanentError):
        return Failure(Cause.REJECTED_BY_MICROCKS, message)
    return Failure(Cause.TRANSIENT, message, retry_after)


class _Recorder:
    """Applies each row's transition through the store and writes each event as it happens
    (a run killed half-way leaves the events of what it did)."""

    def __init__(self, store: StatusStore, ref: str, owner: str, now: datetime | None) -> None:
        self.store, self.ref, self.owner, self.now = store, ref, owner, now
        self.actions: dict[str, str] = {}
        self.service_ids: dict[str, str] = {}
        self.mock_urls: dict[str, str] = {}
        self.errors: dict[str, str] = {}
        self.causes: dict[str, str] = {}
        self.permanent: list[str] = []
        self.transient: list[str] = []

    def event(self, row: StatusRow | None, kind: str, level: str, message: str, **details) -> None:
        event = Event(
            entity_ref=self.ref,
            mock_id=row.mock_id if row else None,
            sync_status_id=row.id if row else None,
            event_type=kind,
            level=level,  # type: ignore[arg-type]
            message=message,
            run_id=self.owner,
            details=details,
        )
        self.store.append_events([event], now=self.now)

    def apply(self, row: StatusRow, t: Transition, outcome: MockOutcome | None = None) -> None:
        if outcome is not None and outcome.service_id:
            self.service_ids[row.mock_id] = outcome.service_id
        if outcome is not None and outcome.mock_url:
            self.mock_urls[row.mock_id] = outcome.mock_url
        if t.step == Step.RELEASE:
            self.store.release(row.id, self.owner, now=self.now)
        elif t.step == Step.COMPLETE:
            self._complete(row, t, outcome)
        elif t.step == Step.RETRY:
            self._retry(row, t)
        elif t.step == Step.FAIL:
            self._fail(row, t)

    def _superseded(self, row: StatusRow) -> None:
        self.actions[row.mock_id] = "superseded"
        self.event(row, "retry_scheduled", "info", "desired state changed during the run")

    def _complete(self, row: StatusRow, t: Transition, outcome: MockOutcome | None) -> None:
        service_id = outcome.service_id if outcome else None
        applied = outcome.applied.to_json() if outcome and outcome.applied else None
        assert t.fingerprint is not None
        done = self.store.complete(
            row.id,
            self.owner,
            t.fingerprint,
            service_id=service_id,
            applied=applied,
            cause=t.cause,
            now=self.now,
        )
        if not done:
            return self._superseded(row)
        self.actions[row.mock_id] = t.message
        self.event(row, t.event or "finished", "info", t.message, service_id=service_id)

    def _failed(self, row: StatusRow, t: Transition) -> None:
        self.actions[row.mock_id] = "failed"
        self.errors[row.mock_id] = t.message
        self.causes[row.mock_id] = str(t.cause)

    def _retry(self, row: StatusRow, t: Transition) -> None:
        when = self.store.fail_transient(
            row.id,
            self.owner,
            t.error or t.message,
            retry_after=t.retry_after,
            cause=t.cause or Cause.TRANSIENT,
            fingerprint=t.fingerprint,
            now=self.now,
        )
        if when is None:
            return self._superseded(row)
        self._failed(row, t)
        self.transient.append(row.mock_id)
        details = {"next_attempt_at": str(when), "cause": str(t.cause)}
        self.event(row, "retry_scheduled", "warn", t.message, **details)

    def _fail(self, row: StatusRow, t: Transition) -> None:
        cause = t.cause or Cause.REJECTED_BY_MICROCKS
        failed = self.store.fail_permanent(
            row.id,
            self.owner,
            t.error or t.message,
            fingerprint=t.fingerprint,
            cause=cause,
            now=self.now,
        )
        if not failed:
            return self._superseded(row)
        self._failed(row, t)
        self.permanent.append(row.mock_id)
        self.event(row, "failed", "error", t.message, cause=str(cause))

    def result(
        self, claimed: int, calls: int, removed: bool = False, paused: bool = False
    ) -> EntitySyncResult:
        return EntitySyncResult(
            entity_ref=self.ref,
            claimed=claimed,
            actions=self.actions,
            service_ids=self.service_ids,
            mock_urls=self.mock_urls,
            calls=calls,
            errors=self.errors,
            permanent_failures=tuple(self.permanent),
            transient_failures=tuple(self.transient),
            entity_removed=removed,
            causes=self.causes,
            paused_everything=paused,
        )


def _load(source: CatalogSource, reader: ArtifactReader, ref: str) -> EntityDesired | None:
    entity = source.get_entity(ref)  # type: ignore[attr-defined]
    return None if entity is None else load_entity_desired(entity, reader)


def desired_of(mock_id: str, desired: EntityDesired | None) -> Desired:
    """What the run read of one mock: the same values the catalog sensor decided on."""
    if desired is None:
        return Desired.gone(Cause.REMOVED_FROM_CATALOG, reason=ENTITY_MISSING)
    for mock in desired.mocks:
        if mock.mock_id == mock_id:
            return Desired.mock(mock.fingerprint)
    failures = {f.mock_id: f for f in desired.failures}
    failure = failures.get(mock_id) or failures.get(ENTITY_MOCK_ID)
    if failure is None:
        return Desired.gone(Cause.REMOVED_FROM_CONFIG)
    if failure.permanent:
        return Desired.invalid(failure.reason, failure.fingerprint)
    return Desired.unreadable(failure.reason)


@dataclass(frozen=True)
class _Done:
    """The Microcks work of one run: each mock's outcome, and the calls it cost."""

    outcomes: Mapping[str, MockOutcome] = field(default_factory=dict)
    failure: Failure | None = None  # the entity's service search failed: every work row failed
    calls: int = 0


def _act(
    client: MicrocksClient,
    store: StatusStore,
    ref: str,
    rows: Sequence[StatusRow],
    wanted: Mapping[str, Desired],
    desired: EntityDesired | None,
) -> _Done:
    """Upload and delete what the rows need; raises AuthError/MicrocksUnreachable (Microcks-wide)."""
    work = {row.mock_id: work_for(row, wanted[row.mock_id]) for row in rows}
    mocks = {m.mock_id: m for m in desired.mocks} if desired else {}
    upsert = [mocks[m] for m, w in work.items() if w == "upload"]
    deletes = [m for m, w in work.items() if w == "delete"]
    if not upsert and not deletes:
        return _Done()
    keep = set(mocks) | {r.mock_id for r in store.rows(ref) if r.desired_action == "reconcile"}
    calls_before = client.calls
    try:
        result = reconcile_entity(
            client,
            ref,
            desired.entity_name if desired else entity_name_from_ref(ref),
            upsert=upsert,
            delete=deletes,
            keep=keep - set(deletes),
            prune=desired is not None and not desired.failures,
            applied={r.mock_id: AppliedRecord.from_json(r.applied_artifacts) for r in rows},
            service_ids={r.mock_id: r.microcks_service_id for r in rows if r.microcks_service_id},
        )
    except (AuthError, MicrocksUnreachable):
        raise
    except TransientError as exc:  # this entity's search met a 5xx, 429 or timeout
        return _Done(failure=classify(exc), calls=client.calls - calls_before)
    return _Done({o.mock_id: o for o in result.outcomes}, None, result.calls)


def _outcome(row: StatusRow, done: _Done, work: str) -> Outcome:
    if done.failure is not None and work != "none":
        return Outcome(failure=done.failure)
    found = done.outcomes.get(row.mock_id)
    if found is None:
        return NO_WORK
    if found.error is not None:
        return Outcome(failure=classify(found.error))
    return Outcome(action=found.action)


def sync_entity(
    entity_ref: str,
    *,
    source: CatalogSource,
    reader: ArtifactReader,
    store: StatusStore,
    client: MicrocksClient,
    owner: str,
    force: bool = False,
    now: datetime | None = None,
    credentials: str | None = None,
) -> EntitySyncResult:
    """Claim the entity's due rows (all of them when `force`), apply them, record the outcome.

    A duplicate run finds nothing to claim and returns `claimed=0`. Microcks-wide failures
    (auth, no connection) set the global backoff, put the rows back and are raised;
    `credentials` (their sha256 fingerprint) is kept with an auth backoff.
    """
    rows = store.claim(entity_ref, owner, lease_seconds=LEASE_SECONDS, force=force, now=now)
    if not rows:
        return EntitySyncResult(entity_ref=entity_ref, claimed=0)
    rec = _Recorder(store, entity_ref, owner, now)
    rec.event(None, "reconcile_started", "info", f"{len(rows)} mock(s) claimed", force=force)
    try:
        desired = _load(source, reader, entity_ref)
    except TransientError as exc:
        unreadable = Desired.unreadable(sanitize_error(str(exc)))
        failed = Outcome(failure=Failure(Cause.TRANSIENT, unreadable.reason or ""))
        for row in rows:
            rec.apply(row, decide(row, unreadable, failed))
        return rec.result(len(rows), 0)

    wanted = {row.mock_id: desired_of(row.mock_id, desired) for row in rows}
    try:
        done = _act(client, store, entity_ref, rows, wanted, desired)
    except (AuthError, MicrocksUnreachable) as exc:
        _microcks_wide(store, rec, rows, wanted, classify(exc), now, credentials)
        raise
    for row in rows:
        outcome = _outcome(row, done, work_for(row, wanted[row.mock_id]))
        rec.apply(row, decide(row, wanted[row.mock_id], outcome), done.outcomes.get(row.mock_id))
    paused = _count_server_errors(store, entity_ref, done, now)
    removed = desired is None and bool(removable_entities(store, refs={entity_ref}))
    return rec.result(len(rows), done.calls, removed, paused)


def _microcks_wide(
    store: StatusStore,
    rec: _Recorder,
    rows: Sequence[StatusRow],
    wanted: Mapping[str, Desired],
    failure: Failure,
    now: datetime | None,
    credentials: str | None,
) -> None:
    """Microcks as a whole is unusable: back off globally and give every row back."""
    _back_off(store, failure, now, credentials=credentials)
    for row in rows:
        rec.apply(row, decide(row, wanted[row.mock_id], Outcome(failure=failure)))
    rec.event(None, "failed", "error", failure.message, microcks_wide=True, cause=failure.cause)


def _back_off(
    store: StatusStore,
    failure: Failure,
    now: datetime | None,
    *,
    failing_entities: int = 0,
    credentials: str | None = None,
) -> bool:
    pause = global_backoff_for(failure, failing_entities)
    if pause is None:
        return False
    until = (now or datetime.now(UTC)) + pause
    auth = failure.cause == Cause.AUTH_REFUSED
    reason = failure.message
    if failing_entities:
        reason = f"{failing_entities} entities met Microcks errors within a minute: {reason}"
    kw: dict[str, Any] = {"kind": "auth", "credentials": credentials} if auth else {}
    store.set_global_backoff(until, reason, **kw)
    return True


def _count_server_errors(store: StatusStore, ref: str, done: _Done, now: datetime | None) -> None:
    """One entity's 5xx/429 is its own; several entities' within a minute pause everything."""
    failures = [classify(o.error) for o in done.outcomes.values() if o.error is not None]
    if done.failure is not None:
        failures.append(done.failure)
    counted = [f for f in failures if counts_across_entities(f)]
    if not counted:
        return False
    failing = store.note_server_error(ref, counted[0].message, window=CROSS_ENTITY_WINDOW, now=now)
    return _back_off(store, counted[0], now, failing_entities=failing)


def removable_entities(
    store: StatusStore, catalog_refs: set[str] | None = None, *, refs: set[str] | None = None
) -> list[str]:
    """Entities whose every row is a completed delete (and not listed in `catalog_refs`): their
    services are gone, so their partition and rows can go too."""
    finished = store.finished_entities(refs)
    return [r for r in finished if catalog_refs is None or r not in catalog_refs]
