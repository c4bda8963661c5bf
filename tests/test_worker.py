"""The worker against a real local Microcks over HTTP and a real status store.

Each test runs the processor on a copy of the sample catalog, then `sync_entity` as a run
would, and checks both sides: what Microcks serves and what the status table records.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from worker_fixtures import DEFAULT_CLIENT_ID, ORDERS, Rig

from microcks_pipeline.core.errors import AuthError
from microcks_pipeline.core.identity import service_version
from microcks_pipeline.microcks import MicrocksClient, TokenProvider
from microcks_pipeline.sync.worker import removable_entities

LATER = timedelta(hours=1)  # well past any retry backoff


def test_a_sync_creates_the_services_completes_the_rows_and_a_duplicate_run_does_nothing(
    rig: Rig,
) -> None:
    rig.process()

    result = rig.sync()

    assert result.ok and set(result.actions.values()) == {"created"}
    rows = rig.rows()
    assert {r.status for r in rows.values()} == {"completed"}
    assert all(r.applied_fingerprint == r.fingerprint_hash for r in rows.values())
    assert {service_version(ORDERS, m) for m in rows} <= rig.versions()
    assert result.entity_rows == tuple(rig.store.rows(ORDERS))  # read with the last completion
    url = result.mock_urls["default"]
    assert httpx.get(f"{url}/orders?status=shipped").status_code == 200

    again = rig.sync(owner="run-2")
    assert (again.claimed, again.calls) == (0, 0)
    kinds = [e.event_type for e in rig.store.events(entity_ref=ORDERS)]
    assert "reconcile_finished" in kinds and "reconcile_started" in kinds


def test_desired_state_moving_during_the_run_leaves_the_row_pending(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig.process()
    example = rig.catalog / "orders" / "mocks" / "backorder-examples.yaml"
    upload = rig.client.upload

    def upload_while_the_author_pushes(file_name: str, content: bytes, *, main: bool) -> str:
        if "backorder" in file_name and "delayed" not in example.read_text():
            # The run has loaded and is uploading; the author pushes an edit and the sensor
            # records it, so what this run applies is already stale.
            example.write_text(example.read_text().replace("backordered", "delayed"))
            rig.process()
        return upload(file_name, content, main=main)

    monkeypatch.setattr(rig.client, "upload", upload_while_the_author_pushes)
    result = rig.sync()

    rows = rig.rows()
    assert result.actions["backorder"] == "superseded"
    reported = {r.mock_id: r.status for r in result.entity_rows or rig.store.rows(ORDERS)}
    assert reported == {m: r.status for m, r in rows.items()}  # the run reports them as they are
    assert rows["backorder"].status == "pending"
    assert rows["backorder"].applied_fingerprint != rows["backorder"].fingerprint_hash
    assert rows["default"].status == "completed"
    assert rig.sync(owner="run-2").actions["backorder"] == "updated"
    assert rig.rows()["backorder"].status == "completed"


def test_a_broken_microcks_yaml_deletes_that_entitys_services_and_marks_them_error(
    rig: Rig,
) -> None:
    rig.process()
    rig.sync()
    rig.sync("api:default/petstore")
    petstore_versions = {v for v in rig.versions() if "-" in v} - {
        service_version(ORDERS, m) for m in rig.rows()
    }

    (rig.catalog / "orders" / "mocks" / "microcks.yaml").write_text("spec:\n  mocks: []\n")
    rig.process()
    result = rig.sync(owner="run-2")

    rows = rig.rows()
    assert {r.status for r in rows.values()} == {"error"}
    assert all("microcks.yaml" in (r.last_error or "") for r in rows.values())
    assert not {service_version(ORDERS, m) for m in rows} & rig.versions()
    assert petstore_versions <= rig.versions()  # another entity untouched
    assert set(result.permanent_failures) == set(rows)


def test_an_entity_that_left_the_catalog_is_deleted_then_removable(rig: Rig) -> None:
    rig.process()
    rig.sync()
    rig.remove_from_catalog("orders")
    rig.process()

    result = rig.sync(owner="run-2")

    assert set(result.actions.values()) == {"deleted"}
    assert result.entity_removed
    assert not {service_version(ORDERS, m) for m in rig.rows()} & rig.versions()
    assert removable_entities(rig.store) == [ORDERS]


def test_a_delete_retried_after_a_transient_failure_completes_and_the_entity_is_removable(
    rig: Rig,
) -> None:
    rig.process()
    rig.sync(owner="run-1")
    rig.remove_from_catalog()
    rig.process()
    rig.app.state.faults.fail_next(1, 503, method="DELETE", path_prefix="/api/services/")
    first = rig.sync(owner="run-2")
    assert first.transient_failures  # one delete met the 503 and was scheduled again

    retry = rig.sync(owner="run-3", now=datetime.now(UTC) + LATER)

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
    rig.sync(owner="run-1")
    (rig.catalog / "orders" / "mocks" / "microcks.yaml").write_text("spec:\n  mocks: []\n")
    rig.process()
    rig.app.state.faults.fail_next(1, 503, method="DELETE", path_prefix="/api/services/")
    rig.sync(owner="run-2")

    rig.sync(owner="run-3", now=datetime.now(UTC) + LATER)

    rows = rig.rows()
    assert {r.status for r in rows.values()} == {"error"}
    assert all("microcks.yaml" in (r.last_error or "") for r in rows.values())
    assert not {service_version(ORDERS, m) for m in rows} & rig.versions()


def test_a_microcks_outage_keeps_the_live_mock_and_schedules_a_retry(rig: Rig) -> None:
    rig.process()
    rig.sync()
    before = rig.versions()
    example = rig.catalog / "orders" / "mocks" / "orders-examples.yaml"
    example.write_text(example.read_text() + "\n# edited\n")
    rig.process()
    rig.app.state.faults.fail_next(1, 503, method="POST", path_prefix="/api/artifact/upload")

    result = rig.sync(owner="run-2")

    row = rig.rows()["default"]
    assert result.transient_failures == ("default",)
    assert (row.status, row.attempts) == ("pending", 1) and row.next_attempt_at is not None
    assert rig.versions() == before


def test_refused_credentials_set_the_global_backoff_and_give_the_rows_back(rig: Rig) -> None:
    rig.process()
    good_client = rig.client
    rig.client = MicrocksClient(
        rig.base_url,
        token_provider=TokenProvider(rig.base_url, DEFAULT_CLIENT_ID, "wrong-secret"),
    )

    with pytest.raises(AuthError) as raised:
        rig.sync()

    backoff = rig.store.global_backoff()
    assert backoff is not None and "wrong-secret" not in backoff.reason
    assert "wrong-secret" not in str(raised.value)
    assert {r.status for r in rig.rows().values()} == {"pending"}
    rig.client = good_client
    assert rig.versions() == set()  # nothing was created
