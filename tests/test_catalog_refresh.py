"""Specification: after a run changed what an entity serves, Backstage is asked to refresh it.

Backstage shows a change to the API page only when it re-processes the entity (every 100-150 s);
`POST /api/catalog/refresh` makes it seconds. A failed refresh is a warning, never a failed run,
and never shows the token. Real worker, real local Microcks, fake Backstage over HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from catalog_fixtures import TOKEN, FakeBackstage, closed_port, serve
from worker_fixtures import ORDERS, Rig

from microcks_pipeline.core.errors import CatalogUnavailable
from microcks_pipeline.sources.catalog import BackstageCatalog, FilesystemCatalog
from microcks_pipeline.sync.refresh import REFRESH_FAILED


@pytest.fixture
def fake() -> FakeBackstage:
    return FakeBackstage()


@pytest.fixture
def backstage(fake: FakeBackstage) -> Iterator[BackstageCatalog]:
    with serve(fake.app()) as url, BackstageCatalog(url, token=TOKEN) as catalog:
        yield catalog


class BackstageListed(FilesystemCatalog):
    """The sample catalog's files as Backstage would list them, refreshed through `backstage`
    (the worker only sees a source that can refresh, as the Backstage source can)."""

    def __init__(self, root: Path, backstage: BackstageCatalog) -> None:
        super().__init__(root, cache_seconds=0)
        self.backstage = backstage

    def refresh_entity(self, ref: str) -> None:
        self.backstage.refresh_entity(ref)


def _run(rig: Rig, source: FilesystemCatalog, owner: str):
    """A catalog tick then the entity's run, both reading `source`."""
    seen = replace(rig, source=source)
    seen.process()
    return seen.sync(ORDERS, owner=owner)


def _edit(rig: Rig) -> None:
    example = rig.catalog / "orders" / "mocks" / "orders-examples.yaml"
    example.write_text(example.read_text() + "\n# edited\n")


# -- the Backstage source's call --------------------------------------------------------------


def test_refresh_posts_the_entity_ref_with_the_token(fake, backstage):
    backstage.refresh_entity("API:default/Orders-API")
    assert fake.refreshes == ["api:default/orders-api"]


def test_a_refused_refresh_names_the_token_problem_without_the_token(fake):
    with serve(fake.app()) as url, BackstageCatalog(url, token="wrong-token-xyz") as catalog:
        with pytest.raises(CatalogUnavailable) as refused:
            catalog.refresh_entity(ORDERS)
    assert "HTTP 401, the catalog token was refused" in str(refused.value)
    assert "wrong-token-xyz" not in str(refused.value)


def test_a_failing_or_absent_backstage_is_catalog_unavailable(fake, backstage):
    fake.refresh_status = 503
    with pytest.raises(CatalogUnavailable, match="refresh of api:default/orders-api: HTTP 503"):
        backstage.refresh_entity(ORDERS)
    with BackstageCatalog(f"http://127.0.0.1:{closed_port()}", token=TOKEN) as gone:
        with pytest.raises(CatalogUnavailable, match="request failed"):
            gone.refresh_entity(ORDERS)


# -- when the worker asks ----------------------------------------------------------------------


def test_a_sync_that_changes_what_is_served_refreshes_the_entity_once(rig, fake, backstage):
    source = BackstageListed(rig.catalog, backstage)

    created = _run(rig, source, "run-1")
    assert set(created.actions.values()) == {"created"}
    assert created.catalog_refreshed is True
    assert fake.refreshes == [ORDERS]

    again = _run(rig, source, "run-2")  # nothing due: nothing changed, nothing asked
    assert again.claimed == 0 and again.catalog_refreshed is False
    assert fake.refreshes == [ORDERS]

    _edit(rig)
    updated = _run(rig, source, "run-3")
    assert "updated" in updated.actions.values()
    assert fake.refreshes == [ORDERS, ORDERS]


def test_a_failed_refresh_is_a_warning_not_a_failed_run(rig, fake, backstage):
    source = BackstageListed(rig.catalog, backstage)
    fake.refresh_status = 503

    result = _run(rig, source, "run-1")

    assert result.ok and set(result.actions.values()) == {"created"}
    assert result.catalog_refreshed is False
    assert {r.status for r in rig.store.rows(ORDERS)} == {"completed"}
    (warning,) = [e for e in rig.store.events(entity_ref=ORDERS) if e.event_type == REFRESH_FAILED]
    assert warning.level == "warn"
    assert "HTTP 503" in warning.message
    assert TOKEN not in warning.message


def test_a_folder_catalog_is_never_asked(rig):
    result = _run(rig, rig.source, "run-1")
    assert set(result.actions.values()) == {"created"}
    assert result.catalog_refreshed is False
    assert not [e for e in rig.store.events(entity_ref=ORDERS) if e.event_type == REFRESH_FAILED]
