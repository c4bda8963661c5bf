"""Alembic upgrades of the status store, run from code (no alembic.ini needed at the repo root)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from microcks_pipeline.store.engine import transaction

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# pg_advisory_xact_lock key shared by every process migrating the same database.
_PG_MIGRATION_LOCK = 0x6D705F6D6967  # "mp_mig"


def alembic_config() -> Config:
    """An Alembic Config pointing at the migrations shipped inside this package."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@contextmanager
def migration_connection(engine: Engine) -> Iterator[Connection]:
    """One transaction holding the database-wide migration lock.

    Two processes that migrate at once run one after the other; the second then finds the
    schema at head and does nothing. PostgreSQL: a transaction-scoped advisory lock (DDL is
    transactional there). SQLite: BEGIN IMMEDIATE already holds the only write lock.
    """
    with transaction(engine, write=True) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        yield conn


def upgrade_to_head(engine: Engine) -> None:
    """`alembic upgrade head` on `engine`, under the migration lock, in one transaction."""
    with migration_connection(engine) as conn:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
