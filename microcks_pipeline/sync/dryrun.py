"""What the next sync would do, per entity and mock, and why: the `plan` command's report (pure).

It asks `plan.plan_changes` what the catalog pass would write, and reads the status rows for the
work already recorded but not yet done; with the services Microcks holds (`--live`) it also
names the drift. It takes values and returns values: reading the catalog, the store and Microcks
is the caller's job, and nothing here ever writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from microcks_pipeline.core.changes import plan_changes
from microcks_pipeline.core.desired import EntityDesired
from microcks_pipeline.core.identity import mock_id_of_version, owner_of_service
from microcks_pipeline.kinds import serving
from microcks_pipeline.sources.catalog.entity import CatalogSnapshot
from microcks_pipeline.store.rows import DesiredRow, StatusRow

Action = Literal["create", "update", "delete", "error"]
EXIT_NOTHING, EXIT_ERRORS, EXIT_CHANGES = 0, 1, 3


@dataclass(frozen=True)
class MockChange:
    mock_id: str
    action: Action
    why: str
    mock: str | None = None  # where the created or updated mock will answer (its kind's address)


@dataclass(frozen=True)
class Drift:
    mock_id: str
    kind: Literal["service missing", "extra service"]
    detail: str


@dataclass(frozen=True)
class EntityPlan:
    entity_ref: str
    changes: tuple[MockChange, ...] = ()
    drift: tuple[Drift, ...] = ()
    error: str | None = None  # the entity could not be read: nothing changes for it

    @property
    def empty(self) -> bool:
        return not (self.changes or self.drift or self.error)


@dataclass(frozen=True)
class DryRun:
    entities: tuple[EntityPlan, ...]
    errors: tuple[str, ...] = ()  # catalog-wide: the listing failed or was incomplete
    live: bool = False

    def count(self, action: str) -> int:
        return sum(1 for e in self.entities for c in e.changes if c.action == action)

    @property
    def exit_code(self) -> int:
        """1 when anything is in error, else 3 when anything would change, else 0."""
        if self.errors or self.count("error") or any(e.error for e in self.entities):
            return EXIT_ERRORS
        if any(e.changes or e.drift for e in self.entities):
            return EXIT_CHANGES
        return EXIT_NOTHING


@dataclass
class _Entity:
    changes: dict[str, MockChange] = field(default_factory=dict)
    drift: list[Drift] = field(default_factory=list)
    error: str | None = None


def dry_run(
    snapshot: CatalogSnapshot | None,
    desired: Mapping[str, EntityDesired],
    rows: Sequence[StatusRow],
    *,
    services: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    listing_error: str | None = None,
) -> DryRun:
    """The report: `snapshot` None means the listing failed (`listing_error` says why);
    `services` (entity ref → its services in Microcks) adds the drift."""
    if snapshot is None:
        return DryRun((), (listing_error or "the catalog listing failed",), services is not None)
    listed = {e.ref for e in snapshot.entities}
    by_ref: dict[str, _Entity] = {ref: _Entity() for ref in listed}
    rows_by_key = {(r.entity_ref, r.mock_id): r for r in rows}
    planned = plan_changes(snapshot, desired, rows)
    addresses = {
        (ref, m.mock_id): serving(m.main.facts.service_type or "REST").describe(
            m.service_name, m.version
        )
        for ref, state in desired.items()
        for m in state.mocks
    }
    for want in planned.rows:
        previous = rows_by_key.get((want.entity_ref, want.mock_id))
        entity = by_ref.setdefault(want.entity_ref, _Entity())
        change = _planned(want, previous, want.entity_ref in listed)
        if change.action in ("create", "update"):
            change = replace(change, mock=addresses.get((want.entity_ref, want.mock_id)))
        entity.changes[want.mock_id] = change
    for row in rows:
        entity = by_ref.setdefault(row.entity_ref, _Entity())
        if row.mock_id not in entity.changes:
            change = _recorded(row, row.entity_ref in listed)
            if change is not None:
                entity.changes[row.mock_id] = change
    for ref, state in desired.items():
        transient = [f.reason for f in state.failures if not f.permanent]
        if transient and ref in by_ref:
            by_ref[ref].error = "cannot be read now, nothing changes for it: " + transient[0]
    if services is not None:
        for ref, found in services.items():
            wanted = _live_mock_ids(desired.get(ref), rows, ref)
            by_ref.setdefault(ref, _Entity()).drift.extend(_drift(ref, wanted, rows, found))
    errors = () if snapshot.complete else ("the catalog listing was incomplete",)
    return DryRun(
        tuple(
            EntityPlan(ref, tuple(e.changes[m] for m in sorted(e.changes)), tuple(e.drift), e.error)
            for ref, e in sorted(by_ref.items())
        ),
        errors + tuple(snapshot.problems),
        services is not None,
    )


def _planned(want: DesiredRow, previous: StatusRow | None, listed: bool) -> MockChange:
    """A change the catalog pass would record now."""
    if want.error is not None:
        return MockChange(want.mock_id, "error", want.error)
    if want.desired_action == "delete":
        why = "removed from microcks.yaml" if listed else "entity gone from the catalog"
        return MockChange(want.mock_id, "delete", why)
    if previous is None or previous.applied_fingerprint is None:
        return MockChange(want.mock_id, "create", "new mock")
    return MockChange(want.mock_id, "update", "content changed")


def _recorded(row: StatusRow, listed: bool) -> MockChange | None:
    """The work a row already records and the sync has not done yet (None: nothing to do)."""
    if row.status == "completed":
        return None
    if row.status == "error":
        return MockChange(row.mock_id, "error", row.last_error or "failed")
    note = " (a run is applying it now)" if row.status == "leased" else ""
    if row.attempts and row.last_error:
        note += f" (retrying after: {row.last_error})"
    if row.desired_action == "delete":
        why = "removed from microcks.yaml" if listed else "entity gone from the catalog"
        return MockChange(row.mock_id, "delete", why + note)
    if row.applied_fingerprint is None:
        return MockChange(row.mock_id, "create", "new mock" + note)
    return MockChange(row.mock_id, "update", "content changed" + note)


def _live_mock_ids(state: EntityDesired | None, rows: Iterable[StatusRow], ref: str) -> set[str]:
    """Mocks whose service should exist after the sync."""
    if state is not None:
        return {m.mock_id for m in state.mocks}
    return {r.mock_id for r in rows if r.entity_ref == ref and r.desired_action == "reconcile"}


def _drift(
    ref: str, wanted: set[str], rows: Iterable[StatusRow], found: Sequence[Mapping[str, Any]]
) -> list[Drift]:
    """Services Microcks lacks though the status table says they are there, and services of
    this entity that no desired mock accounts for."""
    present = {mock_id_of_version(owner_of_service(s) or ""): s for s in found}
    out: list[Drift] = []
    for row in rows:
        applied = row.desired_action == "reconcile" and row.status == "completed"
        if row.entity_ref == ref and applied and row.mock_id not in present:
            out.append(
                Drift(row.mock_id, "service missing", f"{row.microcks_version_id} not in Microcks")
            )
    for mock_id, service in sorted(present.items(), key=lambda kv: str(kv[0])):
        if mock_id is not None and mock_id not in wanted:
            name = f"{service.get('name')}:{service.get('version')}"
            out.append(Drift(mock_id, "extra service", f"{name} is ours but no mock wants it"))
    return out


# ---- rendering ------------------------------------------------------------------------------


def as_json(report: DryRun) -> dict[str, Any]:
    """The report for machines: every entity with something to say, counts, the exit code."""
    entities = [
        {
            "entity_ref": e.entity_ref,
            "changes": [
                {"mock_id": c.mock_id, "action": c.action, "why": c.why, "mock": c.mock}
                for c in e.changes
            ],
            "drift": [{"mock_id": d.mock_id, "kind": d.kind, "detail": d.detail} for d in e.drift],
            "error": e.error,
        }
        for e in report.entities
        if not e.empty
    ]
    counts = {a: report.count(a) for a in ("create", "update", "delete", "error")}
    counts["drift"] = sum(len(e.drift) for e in report.entities)
    return {
        "entities": entities,
        "errors": list(report.errors),
        "counts": counts,
        "live": report.live,
        "exit_code": report.exit_code,
    }


def as_text(report: DryRun) -> list[str]:
    """One line per entity with something to do, one indented line per mock."""
    lines = [f"error: {e}" for e in report.errors]
    for entity in report.entities:
        if entity.empty:
            continue
        lines.append(entity.entity_ref)
        if entity.error:
            lines.append(f"  ! {entity.error}")
        lines.extend(
            f"  {c.action:<7} {c.mock_id}: {c.why}" + (f" -> {c.mock}" if c.mock else "")
            for c in entity.changes
        )
        lines.extend(f"  drift   {d.mock_id}: {d.kind}: {d.detail}" for d in entity.drift)
    if report.errors and not report.entities:
        return [*lines, "plan: not made, see the error above"]
    counts = as_json(report)["counts"]
    summary = ", ".join(f"{n} {what}" for what, n in counts.items() if n)
    lines.append(
        f"plan: {summary or 'nothing to do'}"
        + ("" if report.live else " (Microcks not read; --live adds drift)")
    )
    return lines
