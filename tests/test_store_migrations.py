"""Specification: the schema is created by the packaged Alembic migrations, idempotently."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from store_fixtures import desired_row

from microcks_pipeline.store import StatusStore, StoreNotMigrated
from microcks_pipeline.store.migrate import MIGRATIONS_DIR, alembic_config, head_revision
from microcks_pipeline.store.schema import EVENTS_TABLE, STATE_TABLE, STATUS_TABLE, metadata

TABLES = {STATUS_TABLE, EVENTS_TABLE, STATE_TABLE}


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_packaged_migrations_have_a_single_head() -> None:
    script = ScriptDirectory.from_config(alembic_config())

    heads = script.get_heads()

    assert len(heads) == 1
    assert heads[0] == head_revision()
    assert [rev.revision for rev in script.walk_revisions()][-1] is not None


def test_migrate_creates_the_three_tables_and_stamps_head(store_url: str) -> None:
    s = StatusStore(store_url)
    assert s.schema_revision() is None

    s.migrate()

    assert TABLES <= _tables(store_url)
    assert s.schema_revision() == head_revision()


def test_migrate_twice_changes_nothing_and_keeps_data(store_url: str) -> None:
    s = StatusStore(store_url)
    s.migrate()
    s.upsert_desired([desired_row()])

    s.migrate()

    assert s.schema_revision() == head_revision()
    assert [r.mock_id for r in s.rows()] == ["default"]


def test_migrated_database_matches_the_schema_module(store_url: str) -> None:
    s = StatusStore(store_url)
    s.migrate()
    engine = sa.create_engine(store_url)

    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
    finally:
        engine.dispose()

    assert diff == []


def test_two_concurrent_migrations_both_succeed_and_apply_once(store_url: str) -> None:
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def migrate() -> None:
        try:
            barrier.wait()
            StatusStore(store_url).migrate()
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=migrate) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert StatusStore(store_url).schema_revision() == head_revision()
    assert TABLES <= _tables(store_url)


def test_using_an_unmigrated_database_says_to_migrate(store_url: str) -> None:
    s = StatusStore(store_url)

    with pytest.raises(StoreNotMigrated, match="migrate"):
        s.rows()

    assert _tables(store_url) & TABLES == set()


def test_the_shipped_alembic_ini_migrates_from_the_command_line_too(store_url: str) -> None:
    cfg = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    cfg.set_main_option("sqlalchemy.url", store_url.replace("%", "%%"))  # ini interpolation

    command.upgrade(cfg, "head")
    command.upgrade(cfg, "head")

    assert TABLES <= _tables(store_url)
    assert StatusStore(store_url).schema_revision() == head_revision()
