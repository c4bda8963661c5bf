"""Specification of what the store keeps for the lifecycle: each row's cause in its own column,
retries that never overwrite a newer desired state, the global backoff's kind and credentials
fingerprint, and the cross-entity count of Microcks errors; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from store_fixtures import T0, desired_row

from microcks_pipeline.core import changes as plan
from microcks_pipeline.core.lifecycle import Cause
from microcks_pipeline.store import StatusStore
from microcks_pipeline.store.migrate import alembic_config

REF = "api:default/petstore"
WINDOW = timedelta(seconds=60)


def _row(s: StatusStore, mock_id: str = "default"):
    (found,) = [r for r in s.rows(REF) if r.mock_id == mock_id]
    return found


def test_the_cause_of_a_desired_row_is_stored_and_read_back_as_a_value(store: StatusStore) -> None:
    failure = plan.desired_row(REF, "default", "delete", "bad", "config error", Cause.LOAD_FAILED)
    removal = plan.desired_row(REF, "v2", "delete", "del", None, Cause.REMOVED_FROM_CONFIG)

    store.upsert_desired([failure, removal], now=T0)

    assert _row(store).failure_cause is Cause.LOAD_FAILED
    assert _row(store).last_error == "config error"
    assert _row(store, "v2").failure_cause is Cause.REMOVED_FROM_CONFIG


def test_a_cause_outside_the_vocabulary_is_refused(store: StatusStore) -> None:
    bad = plan.desired_row(REF, "default", "delete", "bad", None, "sticky")  # type: ignore[arg-type]

    with pytest.raises(ValueError, match="cause"):
        store.upsert_desired([bad], now=T0)

    assert store.rows() == []


def test_failures_and_completion_record_their_cause(store: StatusStore) -> None:
    store.upsert_desired([desired_row(REF, "default", "fp-1")], now=T0)
    (row,) = store.claim(REF, "run-1", now=T0)

    store.fail_transient(row.id, "run-1", "503", cause=Cause.SERVER_ERROR, now=T0)
    assert (_row(store).status, _row(store).failure_cause) == ("pending", Cause.SERVER_ERROR)

    store.claim(REF, "run-2", force=True, now=T0)
    store.fail_permanent(row.id, "run-2", "400", cause=Cause.REJECTED_BY_MICROCKS, now=T0)
    assert (_row(store).status, _row(store).failure_cause) == ("error", Cause.REJECTED_BY_MICROCKS)

    store.claim(REF, "run-3", force=True, now=T0)
    assert store.complete(row.id, "run-3", "fp-1", now=T0)
    assert (_row(store).status, _row(store).failure_cause) == ("completed", None)


def test_a_retry_never_overwrites_a_desired_state_recorded_during_the_run(
    store: StatusStore,
) -> None:
    store.upsert_desired([desired_row(REF, "default", "fp-1")], now=T0)
    (row,) = store.claim(REF, "run-1", now=T0)
    failed = plan.desired_row(REF, "default", "delete", "bad", "config error", Cause.LOAD_FAILED)
    store.upsert_desired([failed], now=T0)  # the catalog sensor, while the run uploads

    when = store.fail_transient(
        row.id, "run-1", "503", cause=Cause.SERVER_ERROR, fingerprint="fp-1", now=T0
    )

    after = _row(store)
    assert when is None
    assert (after.status, after.attempts, after.next_attempt_at) == ("pending", 0, None)
    assert (after.failure_cause, after.last_error) == (Cause.LOAD_FAILED, "config error")


def test_an_auth_backoff_keeps_the_credentials_fingerprint(store: StatusStore) -> None:
    store.set_global_backoff(T0 + timedelta(minutes=2), "401", kind="auth", credentials="ab" * 32)

    backoff = store.global_backoff(now=T0)

    assert backoff is not None
    assert (backoff.kind, backoff.credentials) == ("auth", "ab" * 32)
    store.set_global_backoff(T0 + timedelta(minutes=1), "connection refused")
    assert (store.global_backoff(now=T0).kind, store.global_backoff(now=T0).credentials) == (
        "outage",
        None,
    )


def test_server_errors_are_counted_per_distinct_entity_within_the_window(
    store: StatusStore,
) -> None:
    counts = [
        store.note_server_error(REF, "503", window=WINDOW, now=T0),
        store.note_server_error(REF, "503 again", window=WINDOW, now=T0 + timedelta(seconds=1)),
        store.note_server_error("api:default/b", "503", window=WINDOW, now=T0),
        store.note_server_error("api:default/c", "503", window=WINDOW, now=T0),
        store.note_server_error("api:default/d", "503", window=WINDOW, now=T0 + 2 * WINDOW),
    ]

    assert counts == [1, 1, 2, 3, 1]  # the same entity twice is one; old ones expire


def test_migration_0002_gives_existing_rows_the_cause_their_fingerprint_encoded(
    store_url: str,
) -> None:
    cfg = alembic_config()
    engine = sa.create_engine(store_url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    old = StatusStore(store_url)
    ref = "api:default/orders"
    plain = plan.delete_fingerprint(ref, "gone")
    with engine.begin() as conn:
        for mock_id, action, fingerprint, status, error in [
            ("gone", "delete", plain, "pending", None),
            ("broken", "delete", "failure-fp:broken", "error", "microcks.yaml: bad"),
            ("refused", "reconcile", "fp", "error", "HTTP 400"),
            ("retrying", "reconcile", "fp", "pending", "HTTP 503"),
            ("fine", "reconcile", "fp", "completed", None),
        ]:
            conn.execute(
                sa.text(
                    "INSERT INTO csit_microcks_sync_status (entity_ref, mock_id, entity_hash, "
                    "desired_action, microcks_version_id, fingerprint_hash, status, attempts, "
                    "last_error, created_at, updated_at) VALUES (:r, :m, 'h', :a, 'v', :f, :s, "
                    "0, :e, :t, :t)"
                ),
                {"r": ref, "m": mock_id, "a": action, "f": fingerprint, "s": status, "e": error,
                 "t": T0.replace(tzinfo=None)},
            )  # fmt: skip
    engine.dispose()

    old.migrate()

    causes = {r.mock_id: r.failure_cause for r in old.rows(ref)}
    assert causes == {
        "gone": Cause.REMOVED_FROM_CATALOG,
        "broken": Cause.LOAD_FAILED,
        "refused": Cause.REJECTED_BY_MICROCKS,
        "retrying": Cause.TRANSIENT,
        "fine": None,
    }
    old.dispose()
