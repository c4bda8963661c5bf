"""The processor: one catalog pass → desired state → status rows. Never calls Microcks.

Fingerprints are content hashes. An entity whose files are all provably unchanged since the last
pass reuses its desired state: a file by filestat (same inode, size, mtime and ctime, not racily
fresh; otherwise read again and compared byte for byte), a URL through the reader's remote
memory (remote.py: a conditional request, or nothing at all when its repository's commit, or
the file's blob in it, is unchanged, or when it was checked within the remote interval). An
entity whose desired state and status rows are both as the last pass left them is not planned
again. That keeps an unchanged tick close to the cost of reading the files, and an unchanged
remote tick at one request per repository.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from microcks_pipeline.core.changes import OnInvalid, plan_changes
from microcks_pipeline.core.desired import EntityDesired
from microcks_pipeline.core.errors import CatalogUnavailable, PipelineError
from microcks_pipeline.core.model import Event
from microcks_pipeline.sources.artifacts import ArtifactReader, Source
from microcks_pipeline.sources.catalog.entity import CatalogSource, Entity
from microcks_pipeline.sources.filestat import StatKey, stat_key, unchanged
from microcks_pipeline.store import StatusStore
from microcks_pipeline.sync.loader import load_entity_desired


@dataclass(frozen=True)
class ProcessResult:
    listing_ok: bool
    complete: bool
    entity_refs: tuple[str, ...]  # refs in the listing, in listing order
    new_refs: tuple[str, ...]  # refs that had no status row before this pass
    rows_written: int
    events_written: int
    problems: tuple[str, ...]
    load_failures: tuple[str, ...] = ()  # `<ref> <mock>: <reason>` of newly failed mocks
    # Hosts whose rate limit holds remote reads back (their files keep their last content).
    remote_backoffs: tuple[str, ...] = ()
    changes: tuple[Event, ...] = ()  # the events written: what changed, mock by mock
    # Listed entities that needed loading once the pass's load time was spent: the next pass
    # takes them up (their rows stay as they are meanwhile).
    deferred: int = 0


# (what was read, its bytes, its file path if a file, its filestat key then)
_Read = tuple[Source, bytes, str | None, StatKey | None]


class _RecordingReader:
    """The reader the loader sees: it remembers each file's bytes so the next pass can prove
    that nothing the entity depends on changed."""

    def __init__(self, reader: ArtifactReader) -> None:
        self._reader = reader
        self.reads: list[_Read] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reader, name)

    def read(self, source: Source) -> bytes:
        data = self._reader.read(source)
        path = os.fspath(source.path) if source.path is not None else None
        self.reads.append((source, data, path, stat_key(path) if path else None))
        return data


@dataclass
class _Loaded:
    entity: Entity
    reads: list[_Read]
    desired: EntityDesired


@dataclass
class ScanCache:
    """What one long-lived processor (a sensor's code server, a benchmark) keeps between passes."""

    loaded: dict[str, _Loaded] = field(default_factory=dict)
    # ref → (the EntityDesired planned from, its rows as they stood) when the plan was empty.
    # The object itself is kept (compared with `is`): an id() could be reused after a free.
    settled: dict[str, tuple[EntityDesired, tuple[Any, ...]]] = field(default_factory=dict)
    # The first entity a bounded pass left for later: the next pass loads from it on, so
    # entities that load on every pass (failed reads) cannot take every pass's time.
    resume_at: str | None = None

    def desired(self, entity: Entity, reader: ArtifactReader) -> EntityDesired:
        known = self.known(entity, reader)
        return known if known is not None else self.load(entity, reader)

    def known(self, entity: Entity, reader: ArtifactReader) -> EntityDesired | None:
        """The entity's desired state from the last pass when nothing it depends on changed."""
        hit = self.loaded.get(entity.ref)
        if hit is not None and hit.entity == entity and _unchanged(reader, hit.reads):
            return hit.desired
        return None

    def load(self, entity: Entity, reader: ArtifactReader) -> EntityDesired:
        """Read and parse the entity's files (the costly part of a pass)."""
        recorder = _RecordingReader(reader)
        desired = load_entity_desired(entity, recorder)  # type: ignore[arg-type]
        if desired.failures:
            # A failed read leaves no bytes to compare next time: load it afresh every pass.
            self.loaded.pop(entity.ref, None)
        else:
            self.loaded[entity.ref] = _Loaded(entity, recorder.reads, desired)
        return desired


def _unchanged(reader: ArtifactReader, reads: list[_Read]) -> bool:
    # For a URL, `read` answers from the reader's remote memory unless the host says the file
    # changed (remote.py), so comparing its bytes costs no download.
    try:
        return all(
            (path is not None and unchanged(path, key)) or reader.read(source) == data
            for source, data, path, key in reads
        )
    except PipelineError:
        return False


def _group(index: Iterator[tuple[Any, ...]]) -> dict[str, tuple[Any, ...]]:
    grouped: dict[str, list[Any]] = {}
    for row in index:
        grouped.setdefault(row.entity_ref, []).append(row)
    return {ref: tuple(rows) for ref, rows in grouped.items()}


def _settle(
    cache: ScanCache,
    desired: dict[str, EntityDesired],
    rows_by_ref: dict[str, tuple[Any, ...]],
    changed: set[str],
    listed: set[str],
) -> None:
    """Remember the entities this pass left unchanged; forget those that changed or left."""
    for ref, state in desired.items():
        if ref not in changed:
            cache.settled[ref] = (state, rows_by_ref.get(ref, ()))
    for ref in list(cache.settled):
        if ref in changed or ref not in listed:
            del cache.settled[ref]
    for ref in list(cache.loaded):
        if ref not in listed:  # entities that left: do not keep their files' bytes
            del cache.loaded[ref]


def process_catalog(
    source: CatalogSource,
    reader: ArtifactReader,
    store: StatusStore,
    *,
    now: datetime | None = None,
    cache: ScanCache | None = None,
    on_invalid: OnInvalid = "delete",
    load_seconds: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> ProcessResult:
    """List the catalog, load every entity's desired mocks, and record what changed.

    A failed listing changes nothing (an entity's absence proves nothing then); an unchanged
    catalog writes no row and no event. `on_invalid`: see `plan.plan_changes`.
    `load_seconds` bounds the pass: once that long has gone (from the listing on), entities
    that would have to be read and parsed again are left for the next pass, and what was
    loaded is recorded now. A catalog's first pass (or a mass change) then reaches its runs in
    parts, the first within that time, instead of after every file of the catalog is parsed,
    and a sensor tick stays within Dagster's sensor timeout (60 s by default) at any size.
    At least one entity is loaded per pass, so every pass makes progress.
    """
    cache = cache if cache is not None else ScanCache()
    deadline = None if load_seconds is None else clock() + load_seconds
    try:
        snapshot = source.list_entities()
    except CatalogUnavailable as exc:
        return ProcessResult(False, False, (), (), 0, 0, (str(exc),))
    reader.begin_pass()

    rows_by_ref = _group(store.desired_index())
    listed = {e.ref for e in snapshot.entities}
    desired: dict[str, EntityDesired] = {}
    loads, deferred = 0, []
    for entity in _from(snapshot.entities, cache.resume_at):
        state = cache.known(entity, reader)
        if state is None:
            if loads and deadline is not None and clock() >= deadline:
                deferred.append(entity.ref)
                continue
            state = cache.load(entity, reader)
            loads += 1
        rows = rows_by_ref.get(entity.ref, ())
        settled = cache.settled.get(entity.ref)
        if settled is None or settled[0] is not state or settled[1] != rows:
            desired[entity.ref] = state
    # Rows of planned entities, and of entities that left the listing (their deletes).
    planned_rows = [
        row
        for ref, rows in rows_by_ref.items()
        if ref in desired or ref not in listed
        for row in rows
    ]
    plan = plan_changes(snapshot, desired, planned_rows, on_invalid=on_invalid)
    changed = plan.entity_refs
    _settle(cache, desired, rows_by_ref, changed, listed)
    cache.resume_at = deferred[0] if deferred else None

    new_refs = tuple(
        e.ref for e in snapshot.entities if e.ref not in rows_by_ref and e.ref in changed
    )
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
        load_failures=plan.load_failures,
        remote_backoffs=reader.remote.backoffs(),
        changes=plan.events if events else (),
        deferred=len(deferred),
    )


def _from(entities: tuple[Entity, ...], ref: str | None) -> list[Entity]:
    """The listing rotated to start at `ref` (as listed when absent)."""
    start = next((i for i, e in enumerate(entities) if e.ref == ref), 0)
    return [*entities[start:], *entities[:start]]
