"""The worker: sync one entity's claimed rows against Microcks, then record every outcome.

Every step may be repeated after a crash without harm: rows are claimed with a lease, Microcks
updates services in place, deletes answer 200 when nothing is there, and completion is a
compare-and-set on the desired fingerprint, so a run that applied stale content never marks
newer desired state as done.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from microcks_pipeline.artifacts import ArtifactReader
from microcks_pipeline.catalog.entity import CatalogSource
from microcks_pipeline.desired import (
    ENTITY_MOCK_ID,
    DesiredMock,
    EntityDesired,
    load_entity_desired,
)
from microcks_pipeline.errors import AuthError, PermanentError, PipelineError, TransientError
from microcks_pipeline.microcks import MicrocksClient
from microcks_pipeline.plan import delete_fingerprint
from microcks_pipeline.reconcile import MockOutcome, reconcile_entity
from microcks_pipeline.store import StatusStore, sanitize_error
from microcks_pipeline.store.rows import Event, StatusRow

LEASE_SECONDS = 300.0
AUTH_BACKOFF = timedelta(minutes=2)
OUTAGE_BACKOFF = timedelta(seconds=30)
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

    @property
    def ok(self) -> bool:
        return not self.permanent_failures and not self.transient_failures


def entity_name_from_ref(ref: str) -> str:
    """The service name to search for when the entity itself is gone (Microcks' name search is
    case-insensitive, so the lower-cased ref is enough)."""
    return ref.split("/", 1)[1]


class _Recorder:
    """Collects the per-mock outcome of one run and writes it to the store as it goes."""

    def __init__(self, store: StatusStore, ref: str, owner: str, now: datetime | None) -> None:
        self.store, self.ref, self.owner, self.now = store, ref, owner, now
        self.actions: dict[str, str] = {}
        self.service_ids: dict[str, str] = {}
        self.mock_urls: dict[str, str] = {}
        self.errors: dict[str, str] = {}
        self.permanent: list[str] = []
        self.transient: list[str] = []
        self.events: list[Event] = []

    def event(self, row: StatusRow | None, kind: str, level: str, message: str, **details) -> None:
        self.events.append(
            Event(
                entity_ref=self.ref,
                mock_id=row.mock_id if row else None,
                sync_status_id=row.id if row else None,
                event_type=kind,
                level=level,  # type: ignore[arg-type]
                message=message,
                run_id=self.owner,
                details=details,
            )
        )

    def done(
        self, row: StatusRow, fingerprint: str, action: str, outcome: MockOutcome | None
    ) -> None:
        service_id = outcome.service_id if outcome else None
        if self.store.complete(
            row.id, self.owner, fingerprint, service_id=service_id, now=self.now
        ):
            self.actions[row.mock_id] = action
            kind = "delete_finished" if row.desired_action == "delete" else "reconcile_finished"
            self.event(row, kind, "info", f"{action}", service_id=service_id)
        else:
            self.actions[row.mock_id] = "superseded"
            self.event(row, "retry_scheduled", "info", "desired state changed during the run")
        if outcome and outcome.service_id:
            self.service_ids[row.mock_id] = outcome.service_id
        if outcome and outcome.mock_url:
            self.mock_urls[row.mock_id] = outcome.mock_url

    def failed(self, row: StatusRow, error: PipelineError | str, fingerprint: str | None) -> None:
        message = sanitize_error(str(error))
        self.errors[row.mock_id] = message
        self.actions[row.mock_id] = "failed"
        if isinstance(error, TransientError) or (
            isinstance(error, PipelineError) and not isinstance(error, PermanentError)
        ):
            retry_after = error.retry_after if isinstance(error, TransientError) else None
            when = self.store.fail_transient(
                row.id, self.owner, message, retry_after=retry_after, now=self.now
            )
            self.transient.append(row.mock_id)
            self.event(row, "retry_scheduled", "warn", message, next_attempt_at=str(when))
        else:
            self.store.fail_permanent(
                row.id, self.owner, message, fingerprint=fingerprint, now=self.now
            )
            self.permanent.append(row.mock_id)
            self.event(row, "failed", "error", message)

    def result(self, claimed: int, calls: int, removed: bool = False) -> EntitySyncResult:
        self.store.append_events(self.events, now=self.now)
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
        )


def _load(source: CatalogSource, reader: ArtifactReader, ref: str) -> EntityDesired | None:
    entity = source.get_entity(ref)
    return None if entity is None else load_entity_desired(entity, reader)


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
) -> EntitySyncResult:
    """Claim the entity's due rows (all of them when `force`), apply them, record the outcome.

    A duplicate run finds nothing to claim and returns `claimed=0`. Microcks-wide failures
    (auth, outage) set the global backoff, put the rows back and are raised.
    """
    rows = store.claim(entity_ref, owner, lease_seconds=LEASE_SECONDS, force=force, now=now)
    if not rows:
        return EntitySyncResult(entity_ref=entity_ref, claimed=0)
    rec = _Recorder(store, entity_ref, owner, now)
    rec.event(None, "reconcile_started", "info", f"{len(rows)} mock(s) claimed", force=force)

    try:
        desired = _load(source, reader, entity_ref)
    except TransientError as exc:
        for row in rows:
            rec.failed(row, exc, None)
        return rec.result(len(rows), 0)

    upsert: dict[str, tuple[StatusRow, DesiredMock]] = {}
    deletes: list[StatusRow] = []
    by_mock = {m.mock_id: m for m in desired.mocks} if desired else {}
    failures = {f.mock_id: f for f in desired.failures} if desired else {}
    entity_failure = failures.get(ENTITY_MOCK_ID)
    for row in rows:
        if row.desired_action == "delete":
            deletes.append(row)
        elif row.mock_id in by_mock:
            upsert[row.mock_id] = (row, by_mock[row.mock_id])
        else:
            # The processor wanted this mock but the run reads something else: let the
            # catalog sensor decide again rather than act on a half-seen change.
            failure = failures.get(row.mock_id) or entity_failure
            reason = failure.reason if failure else ENTITY_MISSING
            rec.failed(row, TransientError(reason), None)

    live_deletes = [r.mock_id for r in deletes if r.mock_id != ENTITY_MOCK_ID]
    keep = set(by_mock) | {
        r.mock_id for r in store.rows(entity_ref) if r.desired_action == "reconcile"
    }
    clean_load = desired is not None and not desired.failures
    calls = 0
    if upsert or live_deletes:
        try:
            result = reconcile_entity(
                client,
                entity_ref,
                desired.entity_name if desired else entity_name_from_ref(entity_ref),
                upsert=[m for _, m in upsert.values()],
                delete=live_deletes,
                keep=keep - set(live_deletes),
                prune=clean_load,
            )
        except (AuthError, TransientError) as exc:
            _back_off(store, exc, now)
            for row in rows:
                store.release(row.id, owner, now=now)
            rec.event(None, "failed", "error", sanitize_error(str(exc)), microcks_wide=True)
            store.append_events(rec.events, now=now)
            raise
        calls = result.calls
        outcomes = {o.mock_id: o for o in result.outcomes}
    else:
        outcomes = {}

    for row, mock in upsert.values():
        outcome = outcomes.get(row.mock_id)
        if outcome is None or outcome.error is not None:
            error = outcome.error if outcome else TransientError("no outcome from reconcile")
            rec.failed(row, error, mock.fingerprint)
        else:
            rec.done(row, mock.fingerprint, outcome.action, outcome)
    for row in deletes:
        outcome = outcomes.get(row.mock_id)
        if outcome is not None and outcome.error is not None:
            rec.failed(row, outcome.error, None)
        elif row.fingerprint_hash != delete_fingerprint(row.entity_ref, row.mock_id):
            # A permanent load failure: its services are gone now; the row shows why. Told apart
            # by its fingerprint, not last_error: a plain delete's retry carries the transient
            # error of its last attempt, and a load failure's may hold that instead of its reason.
            failure = failures.get(row.mock_id) or entity_failure
            reason = failure.reason if failure and failure.permanent else row.last_error
            rec.failed(row, PermanentError(reason or "mock config failed"), row.fingerprint_hash)
        else:
            rec.done(row, row.fingerprint_hash, outcome.action if outcome else "deleted", outcome)

    removed = desired is None and bool(removable_entities(store, refs={entity_ref}))
    return rec.result(len(rows), calls, removed)


def _back_off(store: StatusStore, exc: PipelineError, now: datetime | None) -> None:
    start = now or datetime.now(UTC)
    if isinstance(exc, AuthError):
        until = start + AUTH_BACKOFF
    else:
        retry_after = exc.retry_after if isinstance(exc, TransientError) else None
        until = start + max(OUTAGE_BACKOFF, timedelta(seconds=retry_after or 0))
    store.set_global_backoff(until, sanitize_error(str(exc)))


def removable_entities(
    store: StatusStore, catalog_refs: set[str] | None = None, *, refs: set[str] | None = None
) -> list[str]:
    """Entities whose every row is a completed delete (and not listed in `catalog_refs`): their
    services are gone, so their partition and rows can go too."""
    finished = store.finished_entities(refs)
    return [r for r in finished if catalog_refs is None or r not in catalog_refs]
