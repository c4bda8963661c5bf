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

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
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
from microcks_pipeline.store import Claim, StatusStore, sanitize_error
from microcks_pipeline.sync.loader import load_entity_desired
from microcks_pipeline.sync.reconcile import MockOutcome, reconcile_entity
from microcks_pipeline.sync.recorder import EntitySyncResult, Recorder, run_event
from microcks_pipeline.sync.refresh import refresh_entity, serves_differently

LEASE_SECONDS = 300.0
# How long a check that found no global backoff holds in this process (a batch run's entities
# would otherwise pay a query each; a backoff set meanwhile is seen this much later at most).
BACKOFF_CHECK_SECONDS = 2.0
_clear_seen = [float("-inf")]  # monotonic time of the last check that found none
ENTITY_MISSING = "entity not in the catalog any more; waiting for the catalog sensor to confirm"


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
    ref: str,
    rows: Sequence[StatusRow],
    entity_rows: Sequence[StatusRow],
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
    # The entity's rows as the claim read them: the mocks it still wants served.
    keep = set(mocks) | {r.mock_id for r in entity_rows if r.desired_action == "reconcile"}
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
    lease_seconds: float = LEASE_SECONDS,
    claim: Claim | None = None,
) -> EntitySyncResult:
    """Claim the entity's due rows (all of them when `force`), apply them, record the outcome.

    `claim`: the entity's claim when the run already took it (`claim_ahead`, a batch run);
    the global backoff is then checked before anything is done with it, as before a claim.

    A duplicate run finds nothing to claim and returns `claimed=0`. Microcks-wide failures
    (auth, no connection) set the global backoff, put the rows back and are raised;
    `credentials` (their sha256 fingerprint) is kept with an auth backoff. When the run changed
    what the entity serves, a catalog that can (Backstage) is asked to refresh it.
    """
    result = _sync(
        entity_ref,
        source,
        reader,
        store,
        client,
        owner,
        force,
        now,
        credentials,
        lease_seconds,
        claim,
    )
    if serves_differently(result.actions, result.entity_removed):
        asked = refresh_entity(source, entity_ref, store=store, run_id=owner, now=now)
        result = replace(result, catalog_refreshed=asked)
    return result


def _sync(
    entity_ref: str,
    source: CatalogSource,
    reader: ArtifactReader,
    store: StatusStore,
    client: MicrocksClient,
    owner: str,
    force: bool,
    now: datetime | None,
    credentials: str | None,
    lease_seconds: float,
    claim: Claim | None,
) -> EntitySyncResult:
    _wait_for_global_backoff(store, now, credentials)
    rec = Recorder(store, entity_ref, owner, now)
    if claim is None:
        claims = _claim(store, [entity_ref], owner, force, now, lease_seconds)
        claim = claims.get(entity_ref, Claim([], []))
    rows, entity_rows = claim
    if not rows:
        return EntitySyncResult(entity_ref=entity_ref, claimed=0)
    try:
        desired = _load(source, reader, entity_ref)
    except TransientError as exc:
        unreadable = Desired.unreadable(sanitize_error(str(exc)))
        failed = Outcome(failure=Failure(Cause.TRANSIENT, unreadable.reason or ""))
        for row in rows:
            rec.apply(row, decide(row, unreadable, failed))
        return rec.result(len(rows), 0)

    wanted = {row.mock_id: desired_of(row.mock_id, desired) for row in rows}
    rec.mocks = {m.mock_id: m for m in desired.mocks} if desired else {}
    try:
        done = _act(client, entity_ref, rows, entity_rows, wanted, desired)
    except (AuthError, MicrocksUnreachable) as exc:
        _microcks_wide(store, rec, rows, wanted, classify(exc), now, credentials)
        raise
    for i, row in enumerate(rows, 1):
        outcome = _outcome(row, done, work_for(row, wanted[row.mock_id]))
        transition = decide(row, wanted[row.mock_id], outcome)
        rec.apply(row, transition, done.outcomes.get(row.mock_id), last=i == len(rows))
    paused = _count_server_errors(store, entity_ref, done, now)
    removed = desired is None and bool(removable_entities(store, refs={entity_ref}))
    return rec.result(len(rows), done.calls, removed, paused)


def _claim(
    store: StatusStore,
    refs: Sequence[str],
    owner: str,
    force: bool,
    now: datetime | None,
    lease_seconds: float,
) -> dict[str, Claim]:
    """The due rows of `refs` leased to `owner` in one transaction, each entity's
    `reconcile_started` event with them."""

    def started(ref: str, claimed: Sequence[StatusRow]) -> Event:
        message = f"{len(claimed)} mock(s) claimed"
        return run_event(ref, owner, None, "reconcile_started", "info", message, force=force)

    return store.claim_entities(
        refs, owner, lease_seconds=lease_seconds, force=force, now=now, announce=started
    )


def claim_ahead(
    refs: Sequence[str],
    *,
    store: StatusStore,
    owner: str,
    force: bool = False,
    now: datetime | None = None,
    credentials: str | None = None,
    lease_seconds: float = LEASE_SECONDS,
) -> dict[str, Claim]:
    """Claim the due rows of the next entities of a batch in one transaction (`sync_entity`
    then takes each one's claim); an entity with nothing due has none. Raises TransientError
    while a global backoff holds, before claiming anything."""
    _wait_for_global_backoff(store, now, credentials)
    return _claim(store, refs, owner, force, now, lease_seconds)


def _wait_for_global_backoff(
    store: StatusStore, now: datetime | None, credentials: str | None
) -> None:
    """Raise while a global backoff is in force: every run waits, none touches Microcks or the
    rows (a queued run started after the backoff began included). An auth backoff does not
    hold back credentials other than the refused ones."""
    if now is None and time.monotonic() - _clear_seen[0] < BACKOFF_CHECK_SECONDS:
        return  # a batch checks every few seconds, not before each of its entities
    backoff = store.global_backoff(now=now)
    if backoff is None:
        if now is None:
            _clear_seen[0] = time.monotonic()
        return
    if backoff.kind == "auth" and credentials is not None and backoff.credentials != credentials:
        return
    until = backoff.until if backoff.until.tzinfo else backoff.until.replace(tzinfo=UTC)
    raise TransientError(f"waiting until {until:%H:%M:%S} UTC: {backoff.reason}")


def _microcks_wide(
    store: StatusStore,
    rec: Recorder,
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
    _clear_seen[0] = float("-inf")  # this process's next entity must see it
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
