"""The drift audit against a real local Microcks over HTTP and a real status store.

It re-queues a mock whose service was changed or removed in Microcks, deletes only orphans of
ours, never touches a foreign service, and judges orphans by the rows as they are when it acts
(its scan of Microcks is long), not as they were when it started.
"""

from __future__ import annotations

import shutil

import pytest
from worker_fixtures import EXAMPLES, ORDERS, Rig

from microcks_pipeline.core.identity import service_version
from microcks_pipeline.sync.audit import run_audit


def _synced_orders(rig: Rig) -> None:
    rig.process()
    rig.sync(owner="run-1")
    assert {r.status for r in rig.rows().values()} == {"completed"}


def test_the_audit_requeues_drift_and_deletes_only_our_orphans(rig: Rig) -> None:
    rig.process()
    rig.sync()
    rows = rig.rows()
    by_version = {s["version"]: s for s in rig.client.list_services()}
    # Someone deletes one of our services by hand in Microcks...
    rig.client.delete_service(by_version[service_version(ORDERS, "default")]["id"])
    # ...and an orphan of ours (a mock the table no longer wants) plus a foreign look-alike exist.
    orphan = service_version(ORDERS, "retired")
    foreign = "other-" + service_version(ORDERS, "default")
    for version in (orphan, foreign):
        spec = f"openapi: 3.0.2\ninfo:\n  title: orders-api\n  version: {version}\npaths: {{}}\n"
        rig.client.upload(f"{version}.yaml", spec.encode(), main=True)

    result = run_audit(rig.client, rig.store)

    assert result.requeued == (service_version(ORDERS, "default"),)
    assert result.orphans_deleted == (orphan,)
    versions = rig.versions()
    assert foreign in versions and orphan not in versions
    assert rig.rows()["default"].status == "pending"
    assert rig.rows()["backorder"].status == rows["backorder"].status == "completed"
    assert rig.sync(owner="run-2").actions == {"default": "created"}


def test_the_audit_keeps_a_service_recreated_for_an_entity_that_came_back_during_its_scan(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = rig.catalog / "catalog-info.yaml"
    root_text = root.read_text()

    def tick_and_sync(owner: str) -> None:
        rig.process()
        rig.sync(owner=owner)

    tick_and_sync("run-1")
    # The entity leaves the catalog and its services are deleted (rows: completed deletes).
    rig.remove_from_catalog()
    tick_and_sync("run-2")
    assert {r.desired_action for r in rig.store.rows(ORDERS)} == {"delete"}

    list_services = rig.client.list_services

    def entity_returns_while_the_audit_pages(**kw):
        # The audit has read the status rows; the entity comes back and is synced meanwhile.
        shutil.copytree(EXAMPLES / "orders", rig.catalog / "orders")
        root.write_text(root_text)
        tick_and_sync("run-3")
        yield from list_services(**kw)

    monkeypatch.setattr(rig.client, "list_services", entity_returns_while_the_audit_pages)
    result = run_audit(rig.client, rig.store)
    monkeypatch.undo()

    wanted = {service_version(ORDERS, r.mock_id) for r in rig.store.rows(ORDERS)}
    assert {r.desired_action for r in rig.store.rows(ORDERS)} == {"reconcile"}
    assert not set(result.orphans_deleted) & wanted
    assert wanted <= rig.versions()


def test_the_audit_requeues_nothing_when_microcks_holds_what_was_applied(rig: Rig) -> None:
    _synced_orders(rig)

    result = run_audit(rig.client, rig.store)

    assert result.requeued == ()
    assert {r.status for r in rig.rows().values()} == {"completed"}


def test_labels_changed_in_microcks_requeue_the_mock_whatever_lastupdate_says(rig: Rig) -> None:
    _synced_orders(rig)
    default = service_version(ORDERS, "default")
    rig.client.update_metadata(f"orders-api:{default}", {"domain": "hacked"}, {})

    result = run_audit(rig.client, rig.store)

    assert result.requeued == (default,)
    events = rig.store.events(entity_ref=ORDERS)
    (event,) = [e for e in events if e.event_type == "drift_detected"]
    assert "labels {'domain': 'hacked'}, desired {'domain': 'commerce'}" in event.message


def test_the_audit_never_reads_nor_touches_a_service_whose_version_is_not_ours(rig: Rig) -> None:
    _synced_orders(rig)
    foreign = (
        "openapi: 3.0.2\ninfo: {title: orders-api, version: '2.1.0'}\npaths: {}\n",
        "openapi: 3.0.2\ninfo: {title: orders-api, version: bk-00000000000000ff-default}\n"
        "paths: {}\n",
    )
    for i, text in enumerate(foreign):
        rig.client.upload(f"foreign-{i}.yaml", text.encode(), main=True)
    calls_before = rig.client.calls

    result = run_audit(rig.client, rig.store)

    reads = rig.client.calls - calls_before - 1  # one listing page, then one read per mock of ours
    assert reads == len(rig.store.rows(ORDERS))
    assert result.orphans_deleted == () and result.requeued == ()
    assert {"2.1.0", "bk-00000000000000ff-default"} <= rig.versions()
