"""The processor's diff: catalog snapshot + desired state + status rows → status changes (pure).

Like a controller's reconcile, it only compares values: for every (entity, mock) it says what
the catalog wants (`lifecycle.Desired`) and asks `lifecycle.decide` whether the row must change.
A row is written only when it must, so an unchanged catalog costs no write and no event.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from microcks_pipeline.core.desired import ENTITY_MOCK_ID, EntityDesired
from microcks_pipeline.core.identity import entity_hash, service_version
from microcks_pipeline.core.lifecycle import Cause, Desired, Step, decide, is_removal
from microcks_pipeline.core.model import CatalogSnapshot, DesiredRow, Event, StatusRow

OnInvalid = Literal["delete", "keep"]
ON_INVALID_CHOICES: tuple[OnInvalid, ...] = ("delete", "keep")


@dataclass(frozen=True)
class Plan:
    rows: tuple[DesiredRow, ...]
    events: tuple[Event, ...]

    @property
    def entity_refs(self) -> set[str]:
        return {r.entity_ref for r in self.rows}

    @property
    def load_failures(self) -> tuple[str, ...]:
        """`<entity ref> <mock id>: <reason>` of each newly recorded load failure."""
        return tuple(
            f"{e.entity_ref} {e.mock_id}: {e.message}"
            for e in self.events
            if e.event_type == "load_failed"
        )


EMPTY_PLAN = Plan(rows=(), events=())


def delete_fingerprint(entity_ref: str, mock_id: str) -> str:
    """The desired fingerprint of "this mock must not exist": stable, so repeating it is a no-op."""
    return "delete:" + hashlib.sha256(f"{entity_ref}\n{mock_id}".encode()).hexdigest()


def desired_row(
    ref: str,
    mock_id: str,
    action: str,
    fingerprint: str,
    error: str | None = None,
    cause: Cause | None = None,
) -> DesiredRow:
    """A status row's desired values, with the identity (hash, version) of (ref, mock_id)."""
    return DesiredRow(
        entity_ref=ref,
        mock_id=mock_id,
        entity_hash=entity_hash(ref),
        microcks_version_id=service_version(ref, mock_id),
        desired_action=action,  # type: ignore[arg-type]
        fingerprint_hash=fingerprint,
        error=error,
        cause=cause,
    )


def wanted_for_entity(
    desired: EntityDesired, existing: Mapping[str, StatusRow], *, keep: bool = False
) -> dict[str, Desired] | None:
    """What the catalog wants of each of the entity's mocks, or None when a transient failure
    hides the entity's real state. `keep`: invalid mocks stay served as last applied."""
    ref = desired.entity_ref
    entity_failure = next((f for f in desired.failures if f.mock_id == ENTITY_MOCK_ID), None)
    if entity_failure is not None:
        if not entity_failure.permanent:
            return None
        # The whole config is unusable: fail every mock that was live, or record the failure
        # on the entity itself (the ENTITY_MOCK_ID row) when it never had a mock.
        targets = [m for m, r in existing.items() if not is_removal(r)] or [ENTITY_MOCK_ID]
        fingerprint = entity_failure.fingerprint + ":"
        return {
            m: Desired.invalid(entity_failure.reason, fingerprint + m, keep=keep) for m in targets
        }
    wanted = {m.mock_id: Desired.mock(m.fingerprint) for m in desired.mocks}
    for failure in desired.failures:
        wanted[failure.mock_id] = (
            Desired.invalid(failure.reason, failure.fingerprint, keep=keep)
            if failure.permanent
            else Desired.unreadable(failure.reason)
        )
    for mock_id in existing:
        if mock_id not in wanted:
            gone = Desired.gone(Cause.REMOVED_FROM_CONFIG, delete_fingerprint(ref, mock_id))
            wanted[mock_id] = gone
    return wanted


def _removed(ref: str, rows: Mapping[str, StatusRow]) -> dict[str, Desired]:
    return {m: Desired.gone(Cause.REMOVED_FROM_CATALOG, delete_fingerprint(ref, m)) for m in rows}


def _changes(
    ref: str, wanted: Mapping[str, Desired], rows: Mapping[str, StatusRow]
) -> tuple[list[DesiredRow], list[Event]]:
    changed: list[DesiredRow] = []
    events: list[Event] = []
    for mock_id, want in wanted.items():
        row = rows.get(mock_id)
        step = decide(row, want)
        if step.step != Step.REQUEST:
            continue
        assert step.action is not None and step.fingerprint is not None
        changed.append(
            desired_row(ref, mock_id, step.action, step.fingerprint, step.error, step.cause)
        )
        events.append(
            Event(
                entity_ref=ref,
                mock_id=mock_id,
                sync_status_id=row.id if row else None,
                event_type=step.event or "requested",
                level=step.level,
                message=step.message,
            )
        )
    return changed, events


def plan_changes(
    snapshot: CatalogSnapshot | None,
    desired: Mapping[str, EntityDesired],
    rows: Sequence[StatusRow],
    *,
    on_invalid: OnInvalid = "delete",
) -> Plan:
    """Status rows to write so the table says what the catalog wants.

    `snapshot` None means the listing failed: nothing is planned. An entity absent from a
    complete snapshot has all its mocks deleted; from an incomplete one, nothing is inferred.
    `on_invalid`: what an invalid mock's live services become ("delete", the default; "keep":
    the last good mock stays served while the row shows the error).
    """
    if snapshot is None:
        return EMPTY_PLAN
    if on_invalid not in ON_INVALID_CHOICES:
        raise ValueError(f"on_invalid must be one of {ON_INVALID_CHOICES}, got {on_invalid!r}")
    by_entity: dict[str, dict[str, StatusRow]] = defaultdict(dict)
    for row in rows:
        by_entity[row.entity_ref][row.mock_id] = row

    changed: list[DesiredRow] = []
    events: list[Event] = []
    listed = set()
    for entity in snapshot.entities:
        listed.add(entity.ref)
        state = desired.get(entity.ref)
        existing = by_entity.get(entity.ref, {})
        wanted = (
            None if state is None else wanted_for_entity(state, existing, keep=on_invalid == "keep")
        )
        if wanted is not None:
            new_rows, new_events = _changes(entity.ref, wanted, existing)
            changed += new_rows
            events += new_events
    if snapshot.complete:
        for ref in sorted(set(by_entity) - listed):
            new_rows, new_events = _changes(ref, _removed(ref, by_entity[ref]), by_entity[ref])
            changed += new_rows
            events += new_events
    return Plan(rows=tuple(changed), events=tuple(events))
