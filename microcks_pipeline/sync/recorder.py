"""Record one run's row transitions through the status store, writing each event as it happens."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from microcks_pipeline.core.desired import DesiredMock
from microcks_pipeline.core.lifecycle import (
    Cause,
    Step,
    Transition,
)
from microcks_pipeline.core.model import Event, StatusRow
from microcks_pipeline.store import StatusStore
from microcks_pipeline.sync.reconcile import MockOutcome
from microcks_pipeline.sync.served import served_mock


@dataclass(frozen=True)
class EntitySyncResult:
    entity_ref: str
    claimed: int
    actions: Mapping[str, str] = field(default_factory=dict)
    service_ids: Mapping[str, str] = field(default_factory=dict)
    mock_urls: Mapping[str, str] = field(default_factory=dict)
    example_urls: Mapping[str, str] = field(default_factory=dict)  # clickable, as read back
    calls: int = 0
    errors: Mapping[str, str] = field(default_factory=dict)
    permanent_failures: tuple[str, ...] = ()
    transient_failures: tuple[str, ...] = ()
    entity_removed: bool = False
    causes: Mapping[str, str] = field(default_factory=dict)  # mock id → lifecycle.Cause
    paused_everything: bool = False  # this entity's failure set the global backoff
    catalog_refreshed: bool = False  # the catalog (Backstage) was asked to show the change now
    # The entity's rows as the run's last transition left them (read with it), if it read them.
    entity_rows: tuple[StatusRow, ...] | None = None

    @property
    def ok(self) -> bool:
        return not self.permanent_failures and not self.transient_failures


def run_event(
    ref: str, owner: str, row: StatusRow | None, kind: str, level: str, message: str, **details
) -> Event:
    """An event a run writes about the entity `ref` (about one of its rows when `row`)."""
    return Event(
        entity_ref=ref,
        mock_id=row.mock_id if row else None,
        sync_status_id=row.id if row else None,
        event_type=kind,
        level=level,  # type: ignore[arg-type]
        message=message,
        run_id=owner,
        details=details,
    )


class Recorder:
    """Applies each row's transition through the store and writes each event as it happens
    (a run killed half-way leaves the events of what it did)."""

    def __init__(self, store: StatusStore, ref: str, owner: str, now: datetime | None) -> None:
        self.store, self.ref, self.owner, self.now = store, ref, owner, now
        self.actions: dict[str, str] = {}
        self.service_ids: dict[str, str] = {}
        self.mock_urls: dict[str, str] = {}
        self.example_urls: dict[str, str] = {}
        self.errors: dict[str, str] = {}
        self.causes: dict[str, str] = {}
        self.permanent: list[str] = []
        self.transient: list[str] = []
        self.mocks: dict[str, DesiredMock] = {}  # what the run read, for the served record
        self.entity_rows: list[StatusRow] | None = None  # read with the last transition

    def event(self, row: StatusRow | None, kind: str, level: str, message: str, **details) -> None:
        self.store.append_events(
            [self.new_event(row, kind, level, message, **details)], now=self.now
        )

    def new_event(
        self, row: StatusRow | None, kind: str, level: str, message: str, **details
    ) -> Event:
        return run_event(self.ref, self.owner, row, kind, level, message, **details)

    def apply(
        self,
        row: StatusRow,
        t: Transition,
        outcome: MockOutcome | None = None,
        *,
        last: bool = False,
    ) -> None:
        """Apply one row's transition; `last` (the entity's last one): when it is a
        completion, read the entity's rows with it, for the run's report."""
        self.entity_rows = [] if last and t.step == Step.COMPLETE else None
        if outcome is not None and outcome.service_id:
            self.service_ids[row.mock_id] = outcome.service_id
        if outcome is not None and outcome.mock_url:
            self.mock_urls[row.mock_id] = outcome.mock_url
        if outcome is not None and outcome.example_url:
            self.example_urls[row.mock_id] = outcome.example_url
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
        mock = self.mocks.get(row.mock_id)
        served = served_mock(mock, outcome.mock_url) if outcome and mock else None
        assert t.fingerprint is not None
        finished = self.new_event(
            row, t.event or "finished", "info", t.message, service_id=service_id
        )
        done = self.store.complete(
            row.id,
            self.owner,
            t.fingerprint,
            service_id=service_id,
            applied=applied,
            cause=t.cause,
            served=served,
            now=self.now,
            events=[finished],  # the row and the event saying so commit together
            entity_rows=self.entity_rows,
        )
        if not done:
            return self._superseded(row)
        self.actions[row.mock_id] = t.message

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
            example_urls=self.example_urls,
            calls=calls,
            errors=self.errors,
            permanent_failures=tuple(self.permanent),
            transient_failures=tuple(self.transient),
            entity_removed=removed,
            causes=self.causes,
            paused_everything=paused,
            entity_rows=tuple(self.entity_rows) if self.entity_rows is not None else None,
        )
