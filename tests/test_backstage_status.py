"""The whole loop with a real Backstage (backstage_fixtures.py) whose catalog module reads the
pipeline's own status service: real catalog ticks and sync runs against the local Microcks,
the Backstage catalog as the pipeline's source.

Backstage here processes an entity again only once an hour, so anything that shows up within
seconds of a run got there through the pipeline's `POST /api/catalog/refresh`. And the
decorated definition the pipeline then reads back from Backstage starts no run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from backstage_fixtures import TOKEN, Backstage, running_backstage
from dagster_fixtures import World, break_petstore_fallback, make_world

from microcks_pipeline.core.identity import entity_ref, service_version
from microcks_pipeline.defs import settings as s
from microcks_pipeline.defs.resources import CatalogResource
from microcks_pipeline.status import running_status_server
from microcks_pipeline.store import StatusStore
from microcks_pipeline.sync.refresh import REFRESH_FAILED

PETSTORE = entity_ref("petstore")
HOUR = 3600
DESCRIPTION = "Mocked Service ({}) with fixed responses for testing and development purposes"


@pytest.fixture
def loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[World, Backstage]]:
    """A fresh world whose status service the Backstage module reads, and that Backstage as
    the world's catalog."""
    monkeypatch.setenv(s.BATCH_THRESHOLD, "0")  # one batch run per tick, not a run per entity
    with make_world(tmp_path / "world") as base:
        base.store.migrate()
        with running_status_server(base.store) as status_url:
            status = {"baseUrl": status_url, "cacheSeconds": 0}
            with running_backstage(
                tmp_path / "backstage", status=status, processing_seconds=HOUR
            ) as backstage:
                catalog = CatalogResource(
                    backstage_url=backstage.base_url,
                    token=TOKEN,
                    allowed_hosts=["127.0.0.1"],
                    allow_http=True,
                    allow_private=True,
                    remote_interval=0.001,
                )
                yield base.using(catalog=catalog), backstage


def servers(backstage: Backstage, name: str) -> list[dict[str, Any]]:
    entity = backstage.entity(name) or {}
    definition = yaml.safe_load(entity.get("spec", {}).get("definition") or "{}")
    return definition.get("servers") or []


def mock_links(backstage: Backstage, name: str) -> set[str]:
    entity = backstage.entity(name) or {}
    return {
        link.get("title", "")
        for link in entity.get("metadata", {}).get("links", [])
        if link.get("title", "").startswith("Mock (")
    }


def mock_server(world: World, mock_id: str) -> dict[str, str]:
    url = f"{world.server.base_url}/rest/petstore/{service_version(PETSTORE, mock_id)}"
    return {"url": url, "description": DESCRIPTION.format(mock_id)}


def no_refresh_failed(store: StatusStore) -> bool:
    return not [e for e in store.events(limit=1000) if e.event_type == REFRESH_FAILED]


def test_a_sync_shows_in_backstage_within_seconds_and_never_feeds_back(loop):
    world, backstage = loop
    assert mock_links(backstage, "petstore") == set()  # nothing synced, nothing shown

    assert all(r.success for r in world.sync())

    backstage.wait_for(
        "petstore's mock servers after the run's refresh",
        lambda: mock_server(world, "default") in servers(backstage, "petstore"),
        timeout=20,
    )
    assert servers(backstage, "petstore")[-2:] == [
        mock_server(world, "default"),
        mock_server(world, "fallback"),
    ]
    assert mock_links(backstage, "petstore") == {"Mock (default)", "Mock (fallback)"}
    assert no_refresh_failed(world.store)

    # The pipeline now reads the decorated definition back: no fingerprint moves, no run.
    rows = world.store.rows()
    for _ in range(5):
        assert not world.tick_catalog().run_requests
        assert not world.tick_sync().run_requests
    assert world.store.rows() == rows
    assert {r.status for r in rows} == {"completed"}


def test_an_edit_that_breaks_a_mock_takes_its_server_off_within_seconds(loop):
    world, backstage = loop
    assert all(r.success for r in world.sync())
    backstage.wait_for(
        "petstore's fallback server",
        lambda: mock_server(world, "fallback") in servers(backstage, "petstore"),
        timeout=20,
    )
    config, _ = break_petstore_fallback(world.using(catalog_dir=backstage.catalog_dir))

    (run,) = world.tick_catalog().run_requests
    world.run(run)  # the run fails on the broken mock; its refresh still goes out

    backstage.wait_for(
        "the broken fallback mock to lose its server and link",
        lambda: (
            mock_server(world, "fallback") not in servers(backstage, "petstore")
            and mock_links(backstage, "petstore") == {"Mock (default)"}
        ),
        timeout=20,
    )
    assert mock_server(world, "default") in servers(backstage, "petstore")
    assert "fallback" in config.read_text()
