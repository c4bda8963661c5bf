"""Database URLs and engines for the status store: which backend, how it connects, one per process."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError

from microcks_pipeline.core.errors import ConfigError

ENV_DB_URL = "MICROCKS_PIPELINE_DB_URL"
DEFAULT_SQLITE_FILE = "microcks-pipeline.db"
SQLITE_BUSY_TIMEOUT_MS = 30_000
# A pooled PostgreSQL connection idle longer than this is pinged before use (a server restart or
# an idle timeout may have closed it); one given back within it is taken as alive. pool_pre_ping
# pings before every transaction: a round trip each, four per synced entity in a batch run.
PING_AFTER_IDLE_SECONDS = 1.0

_SECRET_QUERY_KEY = re.compile(r"pass|pwd|secret|token|key|auth|cred", re.IGNORECASE)


def resolve_url(url: str | None = None) -> URL:
    """The URL to use: `url`, else env MICROCKS_PIPELINE_DB_URL, else the SQLite default file.

    `postgresql://` (and `postgres://`) becomes `postgresql+psycopg2://`: SQLAlchemy 2.1 would
    otherwise pick psycopg 3, which is not a dependency. Refuses, before any connection, what
    the store cannot serve: other backends and in-memory SQLite (each process and each pooled
    connection would see a different empty database).
    """
    raw = url if url is not None else os.environ.get(ENV_DB_URL) or ""
    raw = raw.strip()
    if not raw:
        raw = f"sqlite:///{DEFAULT_SQLITE_FILE}"
    if raw.startswith("postgres://"):
        raw = "postgresql://" + raw[len("postgres://") :]
    try:
        parsed = make_url(raw)
    except ArgumentError:
        raise ConfigError(
            "status database URL is not a valid SQLAlchemy URL "
            "(expected sqlite:///<file> or postgresql://user@host/db)",
            field=ENV_DB_URL,
        ) from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "postgresql":
        if driver not in ("", "psycopg2"):
            raise ConfigError(
                f"status database driver 'postgresql+{driver}' is not supported; "
                "use postgresql:// or postgresql+psycopg2://",
                field=ENV_DB_URL,
            )
        return parsed.set(drivername="postgresql+psycopg2")
    if backend == "sqlite":
        if driver not in ("", "pysqlite"):
            raise ConfigError(
                f"status database driver 'sqlite+{driver}' is not supported; use sqlite:///<file>",
                field=ENV_DB_URL,
            )
        if parsed.database in (None, "", ":memory:") or "mode=memory" in str(parsed):
            raise ConfigError(
                "an in-memory SQLite status database is not supported: sensors and runs live in "
                "different processes; use a file, e.g. sqlite:///microcks-pipeline.db",
                field=ENV_DB_URL,
            )
        return parsed
    raise ConfigError(
        f"status database backend '{backend}' is not supported; use sqlite or postgresql",
        field=ENV_DB_URL,
    )


def display_url(url: URL) -> str:
    """The URL with its password and any secret-looking query parameter masked."""
    masked = {k: ("***" if _SECRET_QUERY_KEY.search(k) else v) for k, v in url.query.items()}
    return url.set(query=masked).render_as_string(hide_password=True)


_engines: dict[tuple[int, str], Engine] = {}
_engines_lock = threading.Lock()


def shared_engine(url: URL) -> Engine:
    """One engine (and pool) per URL per process; a forked child builds its own."""
    key = (os.getpid(), url.render_as_string(hide_password=False))
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _create_engine(url)
            _engines[key] = engine
        return engine


def forget_engine(url: URL) -> None:
    """Dispose the process's engine for `url`; the next `shared_engine` call builds a new one."""
    key = (os.getpid(), url.render_as_string(hide_password=False))
    with _engines_lock:
        engine = _engines.pop(key, None)
    if engine is not None:
        engine.dispose()


def _create_engine(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        engine = sa.create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        )
        _configure_sqlite(engine)
        return engine
    # execute_batch for UPDATE executemany: the catalog sensor rewrites thousands of rows at once.
    engine = sa.create_engine(url, executemany_mode="values_plus_batch")
    _ping_idle_connections(engine)
    return engine


_IDLE_SINCE = "mp_idle_since"


def _ping_idle_connections(engine: Engine) -> None:
    """pool_pre_ping for connections idle more than PING_AFTER_IDLE_SECONDS (SQLAlchemy's
    "pessimistic disconnect handling": a DisconnectionError on checkout makes the pool replace
    the connection and try again)."""

    @event.listens_for(engine, "connect")
    def _fresh(_dbapi_connection, record) -> None:  # type: ignore[no-untyped-def]
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection, record) -> None:  # type: ignore[no-untyped-def]
        if record is not None:
            record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _taken(dbapi_connection, record, _proxy) -> None:  # type: ignore[no-untyped-def]
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is not None and time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError("the pooled connection did not answer a ping") from exc


BEGIN_IMMEDIATE = "mp_begin_immediate"


def _configure_sqlite(engine: Engine) -> None:
    """WAL, busy timeout and foreign keys; transactions begun by us, not by the sqlite3 module.

    sqlite3's implicit BEGIN is deferred: two writers that both read first then deadlock-fail
    with "database is locked" instead of waiting. Writes therefore BEGIN IMMEDIATE (see
    `transaction`), which takes the write lock up front and waits for it up to the busy timeout.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(BEGIN_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def transaction(engine: Engine, *, write: bool) -> Iterator[Connection]:
    """A connection inside one transaction, committed on success, rolled back on error.

    On SQLite a write transaction holds the database write lock from its first statement.
    """
    with engine.connect() as conn:
        if write and engine.dialect.name == "sqlite":
            conn.execution_options(**{BEGIN_IMMEDIATE: True})
        with conn.begin():
            yield conn
