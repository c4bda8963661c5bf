"""Specification: the store records what a successful sync left served (migration 0004): kind,
includeInSwagger, service name, mock URL and time; a mock URL only while Microcks may hold it."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from status_fixtures import served_as
from store_fixtures import T0, desired_row

from microcks_pipeline.store import StatusRow, StatusStore
from microcks_pipeline.store.migrate import MIGRATIONS_DIR
from microcks_pipeline.store.schema import STATUS_TABLE

REF = "api:default/petstore"
LATER = T0 + timedelta(minutes=5)


def _claimed(s: StatusStore, fp: str = "fp-1", action: str = "reconcile") -> StatusRow:
    s.upsert_desired([desired_row(REF, "default", fp, action=action)], now=T0)
    (row,) = s.claim(REF, "run-1", force=True, now=T0)
    return row


def _row(s: StatusStore) -> StatusRow:
    (row,) = s.rows(REF)
    return row


def _synced(s: StatusStore) -> StatusRow:
    row = _claimed(s)
    served = served_as("petstore", row.microcks_version_id, "swagger", swagger=False)
    assert s.complete(row.id, "run-1", "fp-1", served=served, now=T0)
    return _row(s)


def test_a_new_row_has_served_nothing(store: StatusStore) -> None:
    store.upsert_desired([desired_row(REF, "default")], now=T0)
    row = _row(store)
    assert (row.mock_url, row.api_kind, row.include_in_swagger, row.last_success_at) == (
        None,
        None,
        None,
        None,
    )


def test_a_completed_sync_records_what_it_left_served(store: StatusStore) -> None:
    row = _synced(store)
    assert row.mock_url == f"http://microcks.test/rest/petstore/{row.microcks_version_id}"
    assert (row.api_kind, row.include_in_swagger, row.service_name) == (
        "swagger",
        False,
        "petstore",
    )
    assert row.last_success_at == T0


def test_a_completion_without_a_record_keeps_the_last_one_and_moves_the_time(store):
    _synced(store)
    store.requeue([_row(store).id], now=LATER)
    (row,) = store.claim(REF, "run-2", now=LATER)
    assert store.complete(row.id, "run-2", "fp-1", now=LATER)
    after = _row(store)
    assert after.mock_url is not None and after.api_kind == "swagger"
    assert after.last_success_at == LATER


def test_a_transient_failure_keeps_the_mock_url(store: StatusStore) -> None:
    _synced(store)
    store.requeue([_row(store).id], now=T0)
    (row,) = store.claim(REF, "run-2", now=T0)
    assert store.fail_transient(row.id, "run-2", "HTTP 503", now=T0)
    assert _row(store).mock_url is not None


def test_a_permanent_failure_drops_the_mock_url(store: StatusStore) -> None:
    _synced(store)
    store.requeue([_row(store).id], now=T0)
    (row,) = store.claim(REF, "run-2", now=T0)
    assert store.fail_permanent(row.id, "run-2", "HTTP 400", now=T0)
    assert _row(store).mock_url is None
    assert _row(store).last_success_at == T0  # when it last worked, still known


def test_a_completed_delete_drops_the_mock_url(store: StatusStore) -> None:
    _synced(store)
    row = _claimed(store, "del", action="delete")
    assert store.complete(row.id, "run-1", "del", now=LATER)
    after = _row(store)
    assert after.mock_url is None
    assert after.last_success_at == T0


def test_rows_of_revision_0003_survive_the_upgrade_with_nothing_served(store_url: str) -> None:
    cfg = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    cfg.set_main_option("sqlalchemy.url", store_url.replace("%", "%%"))
    command.upgrade(cfg, "0003")
    engine = sa.create_engine(store_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    f"INSERT INTO {STATUS_TABLE} (entity_ref, mock_id, entity_hash, "
                    "desired_action, microcks_version_id, fingerprint_hash, status, attempts, "
                    "microcks_service_id, created_at, updated_at) VALUES (:ref, 'default', 'h', "
                    "'reconcile', 'bk-1-default', 'fp', 'completed', 0, 'svc-1', :t, :t)"
                ),
                {"ref": REF, "t": T0.replace(tzinfo=None)},
            )
    finally:
        engine.dispose()

    store = StatusStore(store_url)
    store.migrate()
    row = _row(store)
    assert (row.status, row.microcks_service_id) == ("completed", "svc-1")
    assert (row.mock_url, row.api_kind, row.include_in_swagger) == (None, None, None)
    store.dispose()
