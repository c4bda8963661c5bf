"""Specification: which database the store uses, how it shows its URL, and how it fails."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from store_fixtures import T0, desired_row, pg_schema_url, pg_test_url

from microcks_pipeline.core.errors import ConfigError, TransientError
from microcks_pipeline.store import StatusStore, StoreUnavailable
from microcks_pipeline.store import engine as engine_module
from microcks_pipeline.store.engine import ENV_DB_URL


def _closed_local_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_without_a_url_the_env_var_is_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ENV_DB_URL, f"sqlite:///{tmp_path / 'from-env.db'}")

    store = StatusStore()
    store.migrate()
    store.dispose()

    assert store.url_for_display.endswith("from-env.db")
    assert (tmp_path / "from-env.db").exists()


def test_without_url_or_env_a_sqlite_file_in_the_current_directory_is_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(ENV_DB_URL, raising=False)
    monkeypatch.chdir(tmp_path)

    store = StatusStore()
    store.migrate()
    store.dispose()

    assert store.url_for_display == "sqlite:///microcks-pipeline.db"
    assert (tmp_path / "microcks-pipeline.db").exists()


def test_sqlite_database_runs_in_wal_mode(tmp_path: Path) -> None:
    store = StatusStore(f"sqlite:///{tmp_path / 'wal.db'}")

    store.migrate()
    store.dispose()

    with sqlite3.connect(tmp_path / "wal.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_plain_postgres_urls_use_the_psycopg2_driver(scheme: str) -> None:
    store = StatusStore(f"{scheme}://postgres@127.0.0.1:5432/test")

    assert store.url_for_display == "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


def test_the_displayed_url_masks_passwords_and_secret_parameters() -> None:
    store = StatusStore(
        "postgresql://app:s3cr3t@127.0.0.1:5432/status?sslmode=require&sslpassword=k3y"
    )

    shown = store.url_for_display
    assert "s3cr3t" not in shown and "k3y" not in shown
    assert shown.startswith("postgresql+psycopg2://app:***@127.0.0.1:5432/status")
    assert "sslmode=require" in shown
    assert "s3cr3t" not in repr(store)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://app:s3cr3t@127.0.0.1:1/status", "backend 'mysql'"),
        ("postgresql+psycopg://app:s3cr3t@127.0.0.1:1/status", "not supported"),
        ("postgresql+asyncpg://app:s3cr3t@127.0.0.1:1/status", "not supported"),
        ("sqlite://", "in-memory"),
        ("sqlite:///:memory:", "in-memory"),
        ("not a url with s3cr3t", "not a valid"),
    ],
)
def test_unsupported_urls_are_refused_before_connecting(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        StatusStore(url)

    assert "s3cr3t" not in str(info.value)


def test_an_unreachable_postgres_is_a_transient_error_without_the_password() -> None:
    store = StatusStore(f"postgresql://app:s3cr3t@127.0.0.1:{_closed_local_port()}/status")

    with pytest.raises(StoreUnavailable) as reading:
        store.rows()
    with pytest.raises(StoreUnavailable) as migrating:
        store.migrate()
    store.dispose()

    for error in (reading.value, migrating.value):
        assert isinstance(error, TransientError)
        assert "s3cr3t" not in str(error)
        assert "127.0.0.1" in str(error)
        assert "\n" not in str(error)


def test_a_sqlite_file_in_a_missing_directory_is_reported(tmp_path: Path) -> None:
    store = StatusStore(f"sqlite:///{tmp_path / 'missing' / 'status.db'}")

    with pytest.raises(StoreUnavailable, match="unable to open"):
        store.migrate()
    store.dispose()

    assert not (tmp_path / "missing").exists()


# -- pooled PostgreSQL connections ----------------------------------------------------------------


def _backend_pid(store: StatusStore) -> int:
    with store._engine.connect() as conn:  # the pool's one connection
        return int(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(pid: int) -> None:
    admin = sa.create_engine(make_url(pg_test_url()), poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    admin.dispose()


def test_a_pooled_connection_the_server_closed_while_idle_is_replaced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_SECONDS", 0.0)  # every wait is idle
    with pg_schema_url() as url:
        store = StatusStore(url)
        try:
            store.migrate()
            store.upsert_desired([desired_row()], now=T0)
            first = _backend_pid(store)
            _terminate(first)  # a server restart or an idle timeout

            (row,) = store.rows()  # no error: the dead connection was pinged and replaced

            assert row.status == "pending" and _backend_pid(store) != first
        finally:
            store.dispose()


def test_a_connection_given_back_moments_ago_is_used_without_a_ping(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_SECONDS", 3600.0)
    with pg_schema_url() as url:
        store = StatusStore(url)
        try:
            store.migrate()
            statements: list[str] = []
            sa.event.listen(
                store._engine, "before_cursor_execute", lambda *a: statements.append(a[2])
            )
            pings = []
            monkeypatch.setattr(
                store._engine.dialect, "do_ping", lambda conn: pings.append(conn) or True
            )
            store.counts()
            store.counts()

            assert pings == [] and len(statements) == 2  # one query each, no ping before it
        finally:
            store.dispose()
