"""Review findings on the worker's delete path: a delete that once failed transiently is still
an ordinary delete on its retry, and a permanent load failure keeps its own reason."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from microcks_pipeline.artifacts import ArtifactReader
from microcks_pipeline.catalog import FilesystemCatalog
from microcks_pipeline.identity import service_version
from microcks_pipeline.localserver import DEFAULT_CLIENT_ID, ServerConfig, running_server
from microcks_pipeline.microcks import MicrocksClient, TokenProvider
from microcks_pipeline.processor import ScanCache, process_catalog
from microcks_pipeline.store import StatusStore
from microcks_pipeline.worker import removable_entities, sync_entity

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "catalog"
ORDERS = "api:default/orders-api"
SECRET = "review-worker-secret"
LATER = timedelta(hours=1)  # well past any retry backoff


class Rig:
    def __init__(self, catalog: Path, store: StatusStore, client: MicrocksClient, app) -> None:
        self.catalog, self.store, self.client, self.app = catalog, store, client, app
        self.source = FilesystemCatalog(catalog, cache_seconds=0)
        self.reader = ArtifactReader()
        self.cache = ScanCache()

    def process(self) -> None:
        process_catalog(self.source, self.reader, self.store, cache=self.cache)

    def sync(self, owner: str, now: datetime | None = None):
        return sync_entity(
            ORDERS,
            source=self.source,
            reader=self.reader,
            store=self.store,
            client=self.client,
            owner=owner,
            now=now,
        )

    def rows(self) -> dict:
        return {r.mock_id: r for r in self.store.rows(ORDERS)}

    def versions(self) -> set[str]:
        return {s["version"] for s in self.client.list_services()}

    def remove_orders_from_catalog(self) -> None:
        shutil.rmtree(self.catalog / "orders")
        root = self.catalog / "catalog-info.yaml"
        lines = root.read_text().splitlines(True)
        root.write_text("".join(x for x in lines if "./orders/" not in x))


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
        yield Rig(catalog, store, client, server.app)
        client.close()
    store.dispose()


def test_a_delete_retried_after_a_transient_failure_completes_and_the_entity_is_removable(
    rig: Rig,
) -> None:
    rig.process()
    rig.sync("run-1")
    rig.remove_orders_from_catalog()
    rig.process()
    rig.app.state.faults.fail_next(1, 503, method="DELETE", path_prefix="/api/services/")
    first = rig.sync("run-2")
    assert first.transient_failures  # one delete met the 503 and was scheduled again

    retry = rig.sync("run-3", now=datetime.now(UTC) + LATER)

    rows = rig.rows()
    assert retry.ok and not retry.permanent_failures
    assert {r.status for r in rows.values()} == {"completed"}
    assert all(r.last_error is None for r in rows.values())
    assert not {service_version(ORDERS, m) for m in rows} & rig.versions()
    assert removable_entities(rig.store) == [ORDERS]


def test_a_broken_config_whose_delete_failed_transiently_still_shows_the_config_error(
    rig: Rig,
) -> None:
    rig.process()
    rig.sync("run-1")
    (rig.catalog / "orders" / "mocks" / "microcks.yaml").write_text("spec:\n  mocks: []\n")
    rig.process()
    rig.app.state.faults.fail_next(1, 503, method="DELETE", path_prefix="/api/services/")
    rig.sync("run-2")

    rig.sync("run-3", now=datetime.now(UTC) + LATER)

    rows = rig.rows()
    assert {r.status for r in rows.values()} == {"error"}
    assert all("microcks.yaml" in (r.last_error or "") for r in rows.values())
    assert not {service_version(ORDERS, m) for m in rows} & rig.versions()
