"""The catalog pass end to end: filesystem catalog → desired state → real status store."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from microcks_pipeline.core.errors import CatalogUnavailable
from microcks_pipeline.sources import filestat
from microcks_pipeline.sources.artifacts import ArtifactReader
from microcks_pipeline.sources.catalog import FilesystemCatalog
from microcks_pipeline.store import StatusStore
from microcks_pipeline.sync.processor import ScanCache, process_catalog

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "catalog"
ORDERS = "api:default/orders-api"


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    root = tmp_path / "catalog"
    shutil.copytree(EXAMPLES, root)
    return root


@pytest.fixture
def store(tmp_path: Path) -> StatusStore:
    store = StatusStore(f"sqlite:///{tmp_path / 'status.db'}")
    store.migrate()
    yield store
    store.dispose()


def _fingerprints(store: StatusStore) -> dict[tuple[str, str], str]:
    return {(r.entity_ref, r.mock_id): r.fingerprint_hash for r in store.rows()}


def test_first_pass_records_every_mock_and_an_unchanged_pass_writes_nothing(
    catalog: Path, store: StatusStore
) -> None:
    source, reader, cache = FilesystemCatalog(catalog), ArtifactReader(), ScanCache()

    first = process_catalog(source, reader, store, cache=cache)
    rows_after_first = store.rows()
    second = process_catalog(source, reader, store, cache=cache)

    assert first.listing_ok and first.rows_written == len(rows_after_first) > 5
    assert set(first.new_refs) == {r.entity_ref for r in rows_after_first}
    assert all(r.status == "pending" and r.desired_action == "reconcile" for r in rows_after_first)
    assert (second.rows_written, second.events_written, second.new_refs) == (0, 0, ())
    assert store.rows() == rows_after_first
    # A fresh cache (a restarted code server) reaches the same verdict.
    assert process_catalog(source, reader, store, cache=ScanCache()).rows_written == 0


def test_editing_one_mock_example_requeues_only_that_mock(
    catalog: Path, store: StatusStore
) -> None:
    source, reader, cache = FilesystemCatalog(catalog), ArtifactReader(), ScanCache()
    process_catalog(source, reader, store, cache=cache)
    before = _fingerprints(store)

    example = catalog / "orders" / "mocks" / "backorder-examples.yaml"
    example.write_text(example.read_text().replace("backordered", "back-ordered"))
    result = process_catalog(source, reader, store, cache=cache)

    after = _fingerprints(store)
    assert result.rows_written == 1
    assert [k for k in before if before[k] != after[k]] == [(ORDERS, "backorder")]


def test_touching_a_file_without_changing_it_requeues_nothing(
    catalog: Path, store: StatusStore
) -> None:
    source, reader, cache = FilesystemCatalog(catalog), ArtifactReader(), ScanCache()
    process_catalog(source, reader, store, cache=cache)

    for path in catalog.rglob("*.yaml"):
        path.touch()

    assert process_catalog(source, reader, store, cache=cache).rows_written == 0


def test_removed_mock_and_removed_entity_are_planned_for_delete(
    catalog: Path, store: StatusStore
) -> None:
    source, reader, cache = FilesystemCatalog(catalog), ArtifactReader(), ScanCache()
    process_catalog(source, reader, store, cache=cache)

    config = catalog / "orders" / "mocks" / "microcks.yaml"
    text = config.read_text()
    config.write_text(text[: text.index("    - mockId: backorder")])
    shutil.rmtree(catalog / "users")
    root_location = catalog / "catalog-info.yaml"
    lines = root_location.read_text().splitlines(keepends=True)
    root_location.write_text("".join(x for x in lines if "./users/" not in x))
    result = process_catalog(source, reader, store, cache=cache)

    actions = {(r.entity_ref, r.mock_id): r.desired_action for r in store.rows()}
    assert actions[(ORDERS, "backorder")] == "delete"
    assert actions[(ORDERS, "default")] == "reconcile"
    users = {k: v for k, v in actions.items() if k[0] == "api:default/users-api"}
    assert users and set(users.values()) == {"delete"}
    assert result.complete
    assert "api:default/users-api" not in cache.loaded and ORDERS in cache.loaded


def test_broken_catalog_file_deletes_nothing(catalog: Path, store: StatusStore) -> None:
    source, reader, cache = FilesystemCatalog(catalog), ArtifactReader(), ScanCache()
    process_catalog(source, reader, store, cache=cache)
    before = store.rows()

    (catalog / "users" / "catalog-info.yaml").write_text("kind: [unclosed\n")
    result = process_catalog(source, reader, store, cache=cache)

    assert not result.complete and result.problems
    assert result.rows_written == 0 and store.rows() == before


def test_failed_listing_changes_nothing(store: StatusStore) -> None:
    class Down:
        def list_entities(self):
            raise CatalogUnavailable("catalog answered 503")

    result = process_catalog(Down(), ArtifactReader(), store)

    assert not result.listing_ok and result.problems == ("catalog answered 503",)
    assert store.rows() == []


def test_invalid_microcks_yaml_is_recorded_on_that_entity_only(
    catalog: Path, store: StatusStore
) -> None:
    source, reader, cache = FilesystemCatalog(catalog), ArtifactReader(), ScanCache()
    process_catalog(source, reader, store, cache=cache)
    others = [r for r in store.rows() if r.entity_ref != ORDERS]

    (catalog / "orders" / "mocks" / "microcks.yaml").write_text("spec:\n  mocks: []\n")
    process_catalog(source, reader, store, cache=cache)

    orders = [r for r in store.rows() if r.entity_ref == ORDERS]
    assert orders and all(r.desired_action == "delete" and r.last_error for r in orders)
    assert "microcks.yaml" in orders[0].last_error
    assert [r for r in store.rows() if r.entity_ref != ORDERS] == others


def test_filestat_trusts_only_settled_files(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "f.yaml"
    path.write_text("a: 1\n")
    assert filestat.stat_key(path) is None  # just written: racily clean, never trusted

    monkeypatch.setattr(filestat, "RACY_SECONDS", 0.0)
    key = filestat.stat_key(path)
    assert key is not None and filestat.unchanged(path, key)
    path.write_text("a: 2\n")
    assert not filestat.unchanged(path, key)
    assert not filestat.unchanged(tmp_path / "missing", key)


class Ticks:
    """A clock that moves one second each time it is read."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1
        return self.now


def test_a_bounded_pass_records_what_it_loaded_and_the_next_passes_take_up_the_rest(
    catalog: Path, store: StatusStore, tmp_path: Path
) -> None:
    source, reader, cache = FilesystemCatalog(catalog), ArtifactReader(), ScanCache()
    listed = [e.ref for e in source.list_entities().entities]
    unbounded = StatusStore(f"sqlite:///{tmp_path / 'unbounded.db'}")
    unbounded.migrate()
    everything = process_catalog(FilesystemCatalog(catalog), ArtifactReader(), unbounded)

    def bounded():  # deadline 1 + 2.5: the first load reads no clock, the next two read 2 and 3
        return process_catalog(source, reader, store, cache=cache, load_seconds=2.5, clock=Ticks())

    first = bounded()

    assert first.listing_ok and first.entity_refs == tuple(listed)
    assert first.deferred == len(listed) - 3 > 0
    loaded = {r.entity_ref for r in store.rows()}
    assert loaded and loaded <= set(listed[:3])
    assert set(first.new_refs) == loaded
    # Each later pass loads three more: the entities already loaded cost it nothing.
    passes = [first]
    while passes[-1].deferred:
        passes.append(bounded())
    assert [p.deferred for p in passes] == [
        max(0, len(listed) - 3 * n) for n in range(1, len(passes) + 1)
    ]
    assert sum(p.rows_written for p in passes) == everything.rows_written
    assert _fingerprints(store) == _fingerprints(unbounded)
    unbounded.dispose()
    # Done: an unchanged bounded pass writes nothing and leaves nothing for later.
    again = bounded()
    assert (again.rows_written, again.events_written, again.deferred) == (0, 0, 0)


def test_a_bounded_pass_loads_at_least_one_entity_and_still_deletes_what_left(
    catalog: Path, store: StatusStore
) -> None:
    source, reader = FilesystemCatalog(catalog), ArtifactReader()
    process_catalog(source, reader, store, cache=ScanCache())
    shutil.rmtree(catalog / "users")
    root_location = catalog / "catalog-info.yaml"
    lines = root_location.read_text().splitlines(keepends=True)
    root_location.write_text("".join(x for x in lines if "./users/" not in x))

    # A restarted code server (an empty cache) with its load time already spent at the start.
    result = process_catalog(
        source, reader, store, cache=ScanCache(), load_seconds=0.5, clock=Ticks()
    )

    assert result.deferred == len(result.entity_refs) - 1
    users = [r for r in store.rows() if r.entity_ref == "api:default/users-api"]
    assert users and {r.desired_action for r in users} == {"delete"}
    # The entities it did not load keep their rows as they were: nothing else was planned.
    others = [r for r in store.rows() if r.entity_ref != "api:default/users-api"]
    assert others and all(r.desired_action == "reconcile" for r in others)
    assert result.rows_written == len(users)


def test_entities_that_fail_to_load_on_every_pass_do_not_hold_the_others_back(
    catalog: Path, store: StatusStore
) -> None:
    # The first listed entity's microcks.yaml is unreadable: it is loaded again on every pass.
    (catalog / "events" / "microcks.yaml").write_text("spec: [unclosed\n")
    source, reader, cache = FilesystemCatalog(catalog), ArtifactReader(), ScanCache()
    listed = [e.ref for e in source.list_entities().entities]
    assert listed[0] == "api:default/user-signedup-events"

    # One load per pass (the load time is spent at once): each pass takes the next entity.
    passes = [
        process_catalog(source, reader, store, cache=cache, load_seconds=0.5, clock=Ticks())
        for _ in listed
    ]

    assert [p.new_refs for p in passes] == [(ref,) for ref in listed]
    assert {r.entity_ref for r in store.rows()} == set(listed)
    broken = [r for r in store.rows() if r.entity_ref == listed[0]]
    assert all(r.last_error and "microcks.yaml" in r.last_error for r in broken)
