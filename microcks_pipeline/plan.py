"""The processor's diff: catalog snapshot + desired state + status rows → status changes (pure).

Like a controller's reconcile, it only compares values: a row is written when what the catalog
wants differs from what the status table already records, and never otherwise, so an unchanged
catalog costs no write and no event.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from microcks_pipeline.catalog.entity import CatalogSnapshot
from microcks_pipeline.desired import ENTITY_MOCK_ID, EntityDesired
from microcks_pipeline.identity import entity_hash, service_version
from microcks_pipeline.store.rows import DesiredRow, Event, StatusRow


@dataclass(frozen=True)
class Plan:
    rows: tuple[DesiredRow, ...]
    events: tuple[Event, ...]

    @property
    def entity_refs(self) -> set[str]:
        return {r.entity_ref for r in self.rows}


EMPTY_PLAN = Plan(rows=(), events=())


def delete_fingerprint(entity_ref: str, mock_id: str) -> str:
    """The desired fingerprint of "this mock must not exist": stable, so repeating it is a no-op."""
    return "delete:" + hashlib.sha256(f"{entity_ref}\n{mock_id}".encode()).hexdigest()


def desired_row(
    ref: str, mock_id: str, action: str, fingerprint: str, error: str | None = None
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
    )


def _is_plain_delete(row: StatusRow) -> bool:
    return row.desired_action == "delete" and row.fingerprint_hash == delete_fingerprint(
        row.entity_ref, row.mock_id
    )


def _wanted_for_entity(
    desired: EntityDesired, existing: Mapping[str, StatusRow]
) -> list[DesiredRow] | None:
    """Rows this entity should have, or None when a transient failure hides its real state."""
    ref = desired.entity_ref
    entity_failure = next((f for f in desired.failures if f.mock_id == ENTITY_MOCK_ID), None)
    if entity_failure is not None:
        if not entity_failure.permanent:
            return None
        # The whole config is unusable: fail every mock that was live (their services go), or
        # record the failure on the entity itself when it never had a mock.
        targets = [m for m, r in existing.items() if not _is_plain_delete(r)] or [ENTITY_MOCK_ID]
        return [
            desired_row(
                ref, m, "delete", entity_failure.fingerprint + ":" + m, entity_failure.reason
            )
            for m in targets
        ]

    wanted = [desired_row(ref, m.mock_id, "reconcile", m.fingerprint, None) for m in desired.mocks]
    seen = {m.mock_id for m in desired.mocks}
    for failure in desired.failures:
        seen.add(failure.mock_id)
        if failure.permanent:
            wanted.append(
                desired_row(ref, failure.mock_id, "delete", failure.fingerprint, failure.reason)
            )
    wanted.extend(_deletes(ref, (r for m, r in existing.items() if m not in seen)))
    return wanted


def _deletes(ref: str, rows: Iterable[StatusRow]) -> list[DesiredRow]:
    return [
        desired_row(ref, r.mock_id, "delete", delete_fingerprint(ref, r.mock_id), None)
        for r in rows
        if not _is_plain_delete(r)
    ]


def _differs(want: DesiredRow, row: StatusRow | None) -> bool:
    if row is None:
        # Nothing to delete for a mock we never recorded; anything else is new work.
        return not (want.desired_action == "delete" and want.error is None)
    return (
        row.fingerprint_hash != want.fingerprint_hash or row.desired_action != want.desired_action
    )


def _event(want: DesiredRow, previous: StatusRow | None) -> Event:
    if want.error is not None:
        return Event(
            entity_ref=want.entity_ref,
            mock_id=want.mock_id,
            sync_status_id=previous.id if previous else None,
            event_type="load_failed",
            level="error",
            message=want.error,
        )
    kind = "reconcile" if want.desired_action == "reconcile" else "delete"
    why = "new mock" if previous is None else "desired state changed"
    if want.desired_action == "delete":
        why = "mock no longer desired"
    return Event(
        entity_ref=want.entity_ref,
        mock_id=want.mock_id,
        sync_status_id=previous.id if previous else None,
        event_type=f"{kind}_requested",
        level="info",
        message=f"{kind} requested: {why}",
    )


def plan_changes(
    snapshot: CatalogSnapshot | None,
    desired: Mapping[str, EntityDesired],
    rows: Sequence[StatusRow],
) -> Plan:
    """Status rows to write so the table says what the catalog wants.

    `snapshot` None means the listing failed: nothing is planned. An entity absent from a
    complete snapshot has all its mocks deleted; from an incomplete one, nothing is inferred.
    """
    if snapshot is None:
        return EMPTY_PLAN
    by_entity: dict[str, dict[str, StatusRow]] = defaultdict(dict)
    for row in rows:
        by_entity[row.entity_ref][row.mock_id] = row

    wanted: list[DesiredRow] = []
    listed = set()
    for entity in snapshot.entities:
        listed.add(entity.ref)
        state = desired.get(entity.ref)
        if state is None:
            continue
        rows_for_entity = _wanted_for_entity(state, by_entity.get(entity.ref, {}))
        if rows_for_entity is not None:
            wanted.extend(rows_for_entity)
    if snapshot.complete:
        for ref in sorted(set(by_entity) - listed):
            wanted.extend(_deletes(ref, by_entity[ref].values()))

    changed = [w for w in wanted if _differs(w, by_entity.get(w.entity_ref, {}).get(w.mock_id))]
    events = [_event(w, by_entity.get(w.entity_ref, {}).get(w.mock_id)) for w in changed]
    return Plan(rows=tuple(changed), events=tuple(events))
