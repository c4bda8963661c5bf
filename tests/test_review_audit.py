"""Review finding on the drift audit: it judges orphans by the status rows it read before its
(long) scan of Microcks, so it must not delete a service the table wants by the time it acts."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from microcks_pipeline.artifacts import ArtifactReader
from microcks_pipeline.audit import run_audit
from microcks_pipeline.catalog import FilesystemCatalog
from microcks_pipeline.identity import service_version
from microcks_pipeline.localserver import DEFAULT_CLIENT_ID, ServerConfig, running_server
from microcks_pipeline.microcks import MicrocksClient, TokenProvider
from microcks_pipeline.processor import ScanCache, process_catalog
from microcks_pipeline.store import StatusStore
from microcks_pipeline.worker import sync_entity

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "catalog"
ORDERS = "api:default/orders-api"
SECRET = "review-audit-secret"


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Path, StatusStore, MicrocksClient]]:
    catalog = tmp_path / "catalog"
    shutil.copytree(EXAMPLES, catalog)
    store = StatusStore(f"sqlite:///{tmp_path / 'status.db'}")
    store.migrate()
    with running_server(ServerConfig(default_client_secret=SECRET)) as server:
        client = MicrocksClient(
            server.base_url,
            token_provider=TokenProvider(server.base_url, DEFAULT_CLIENT_ID, SECRET),
        )
        yield catalog, store, client
        client.close()
    store.dispose()


def test_the_audit_keeps_a_service_recreated_for_an_entity_that_came_back_during_its_scan(
    setup: tuple[Path, StatusStore, MicrocksClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog, store, client = setup
    source, reader, cache = (
        FilesystemCatalog(catalog, cache_seconds=0),
        ArtifactReader(),
        ScanCache(),
    )
    root = catalog / "catalog-info.yaml"
    root_text = root.read_text()

    def tick_and_sync(owner: str) -> None:
        process_catalog(source, reader, store, cache=cache)
        sync_entity(ORDERS, source=source, reader=reader, store=store, client=client, owner=owner)

    tick_and_sync("run-1")
    # The entity leaves the catalog and its services are deleted (rows: completed deletes).
    shutil.rmtree(catalog / "orders")
    root.write_text("".join(x for x in root_text.splitlines(True) if "./orders/" not in x))
    tick_and_sync("run-2")
    assert {r.desired_action for r in store.rows(ORDERS)} == {"delete"}

    list_services = client.list_services

    def entity_returns_while_the_audit_pages(**kw):
        # The audit has read the status rows; the entity comes back and is synced meanwhile.
        shutil.copytree(EXAMPLES / "orders", catalog / "orders")
        root.write_text(root_text)
        tick_and_sync("run-3")
        yield from list_services(**kw)

    monkeypatch.setattr(client, "list_services", entity_returns_while_the_audit_pages)
    result = run_audit(client, store)
    monkeypatch.undo()

    wanted = {service_version(ORDERS, r.mock_id) for r in store.rows(ORDERS)}
    assert {r.desired_action for r in store.rows(ORDERS)} == {"reconcile"}
    assert not set(result.orphans_deleted) & wanted
    assert wanted <= {s["version"] for s in client.list_services()}


def _synced_orders(setup: tuple[Path, StatusStore, MicrocksClient]) -> None:
    catalog, store, client = setup
    source, reader = FilesystemCatalog(catalog, cache_seconds=0), ArtifactReader()
    process_catalog(source, reader, store, cache=ScanCache())
    sync_entity(ORDERS, source=source, reader=reader, store=store, client=client, owner="run-1")
    assert {r.status for r in store.rows(ORDERS)} == {"completed"}


def test_the_audit_requeues_nothing_when_microcks_holds_what_was_applied(
    setup: tuple[Path, StatusStore, MicrocksClient],
) -> None:
    _synced_orders(setup)
    _, store, client = setup

    result = run_audit(client, store)

    assert result.requeued == ()
    assert {r.status for r in store.rows(ORDERS)} == {"completed"}


def test_labels_changed_in_microcks_requeue_the_mock_whatever_lastupdate_says(
    setup: tuple[Path, StatusStore, MicrocksClient],
) -> None:
    _synced_orders(setup)
    _, store, client = setup
    default = service_version(ORDERS, "default")
    client.update_metadata(f"orders-api:{default}", {"domain": "hacked"}, {})

    result = run_audit(client, store)

    assert result.requeued == (default,)
    (event,) = [e for e in store.events(entity_ref=ORDERS) if e.event_type == "drift_detected"]
    assert "labels {'domain': 'hacked'}, desired {'domain': 'commerce'}" in event.message


def test_the_audit_never_reads_nor_touches_a_service_whose_version_is_not_ours(
    setup: tuple[Path, StatusStore, MicrocksClient],
) -> None:
    _synced_orders(setup)
    _, store, client = setup
    foreign = (
        "openapi: 3.0.2\ninfo: {title: orders-api, version: '2.1.0'}\npaths: {}\n",
        "openapi: 3.0.2\ninfo: {title: orders-api, version: bk-00000000000000ff-default}\n"
        "paths: {}\n",
    )
    for i, text in enumerate(foreign):
        client.upload(f"foreign-{i}.yaml", text.encode(), main=True)
    calls_before = client.calls

    result = run_audit(client, store)

    reads = client.calls - calls_before - 1  # one listing page, then one read per mock of ours
    assert reads == len(store.rows(ORDERS))
    assert result.orphans_deleted == () and result.requeued == ()
    versions = {s["version"] for s in client.list_services()}
    assert {"2.1.0", "bk-00000000000000ff-default"} <= versions
