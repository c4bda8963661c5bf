"""Specification: which database the store uses, how it shows its URL, and how it fails."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import pytest

from microcks_pipeline.core.errors import ConfigError, TransientError
from microcks_pipeline.store import StatusStore, StoreUnavailable
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
