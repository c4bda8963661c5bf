"""The processor: one catalog pass → desired state → status rows. Never calls Microcks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from microcks_pipeline.artifacts import ArtifactReader
from microcks_pipeline.catalog.entity import CatalogSource
from microcks_pipeline.desired import load_entity_desired
from microcks_pipeline.errors import CatalogUnavailable
from microcks_pipeline.plan import plan_changes
from microcks_pipeline.store import StatusStore


@dataclass(frozen=True)
class ProcessResult:
    listing_ok: bool
    complete: bool
    entity_refs: tuple[str, ...]  # refs in the listing, in listing order
    new_refs: tuple[str, ...]  # refs that had no status row before this pass
    rows_written: int
    events_written: int
    problems: tuple[str, ...]


def process_catalog(
    source: CatalogSource,
    reader: ArtifactReader,
    store: StatusStore,
    *,
    now: datetime | None = None,
) -> ProcessResult:
    """List the catalog, load every entity's desired mocks, and record what changed.

    A failed listing changes nothing (an entity's absence proves nothing then); an unchanged
    catalog writes no row and no event.
    """
    try:
        snapshot = source.list_entities()
    except CatalogUnavailable as exc:
        return ProcessResult(False, False, (), (), 0, 0, (str(exc),))

    desired = {e.ref: load_entity_desired(e, reader) for e in snapshot.entities}
    rows = store.rows()
    plan = plan_changes(snapshot, desired, rows)
    known = {r.entity_ref for r in rows}
    planned = plan.entity_refs
    new_refs = tuple(e.ref for e in snapshot.entities if e.ref not in known and e.ref in planned)
    written = store.upsert_desired(plan.rows, now=now) if plan.rows else 0
    events = store.append_events(plan.events, now=now) if plan.events else 0
    return ProcessResult(
        listing_ok=True,
        complete=snapshot.complete,
        entity_refs=tuple(e.ref for e in snapshot.entities),
        new_refs=new_refs,
        rows_written=written,
        events_written=events,
        problems=snapshot.problems,
    )
