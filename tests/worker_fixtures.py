"""A real world for the worker tests: a copy of the sample catalog, a SQLite status store and
the local Microcks over HTTP (auth on, faults enabled). `rig` reaches every test through
`tests/conftest.py`."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from microcks_pipeline.localserver import DEFAULT_CLIENT_ID, ServerConfig, running_server
from microcks_pipeline.microcks import MicrocksClient, TokenProvider
from microcks_pipeline.sources.artifacts import ArtifactReader
from microcks_pipeline.sources.catalog import FilesystemCatalog
from microcks_pipeline.store import StatusStore
from microcks_pipeline.sync.processor import ScanCache, process_catalog
from microcks_pipeline.sync.recorder import EntitySyncResult
from microcks_pipeline.sync.worker import sync_entity

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "catalog"
ORDERS = "api:default/orders-api"
SECRET = "worker-test-secret"


@dataclass
class Rig:
    catalog: Path
    source: FilesystemCatalog
    reader: ArtifactReader
    store: StatusStore
    client: MicrocksClient
    base_url: str
    app: object
    cache: ScanCache

    def process(self) -> None:
        """One catalog sensor tick."""
        process_catalog(self.source, self.reader, self.store, cache=self.cache)

    def sync(self, ref: str = ORDERS, owner: str = "run-1", **kw) -> EntitySyncResult:
        """One run for the entity, as the Dagster step calls it."""
        return sync_entity(
            ref,
            source=self.source,
            reader=self.reader,
            store=self.store,
            client=self.client,
            owner=owner,
            **kw,
        )

    def versions(self) -> set[str]:
        return {s["version"] for s in self.client.list_services()}

    def rows(self, ref: str = ORDERS) -> dict[str, object]:
        return {r.mock_id: r for r in self.store.rows(ref)}

    def remove_from_catalog(self, folder: str = "orders") -> None:
        """Delete the entity's folder and its line in the root Location (both are needed: an
        unreadable Location target makes the listing incomplete)."""
        shutil.rmtree(self.catalog / folder)
        root = self.catalog / "catalog-info.yaml"
        lines = root.read_text().splitlines(True)
        root.write_text("".join(x for x in lines if f"./{folder}/" not in x))


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    catalog = tmp_path / "catalog"
    shutil.copytree(EXAMPLES, catalog)
    store = StatusStore(f"sqlite:///{tmp_path / 'status.db'}")
    store.migrate()
    config = ServerConfig(faults_enabled=True, default_client_secret=SECRET)
    with running_server(config) as server:
        client = MicrocksClient(
            server.base_url,
            token_provider=TokenProvider(server.base_url, DEFAULT_CLIENT_ID, SECRET),
        )
        yield Rig(
            catalog,
            FilesystemCatalog(catalog, cache_seconds=0),
            ArtifactReader(),
            store,
            client,
            server.base_url,
            server.app,
            ScanCache(),
        )
        client.close()
    store.dispose()
