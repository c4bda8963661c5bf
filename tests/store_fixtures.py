"""Store fixtures: a StatusStore on SQLite (temp file) and on the real PostgreSQL, one per test.

`tests/conftest.py` makes `store` and `store_url` available to every test. Each PostgreSQL test
gets its own freshly created schema (selected through the connection's search_path), dropped
at teardown, so parallel or leftover runs never collide. An unreachable server skips those
tests, unless MICROCKS_PIPELINE_REQUIRE_PG=1 (CI), which fails them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from microcks_pipeline.core import changes as plan
from microcks_pipeline.store import DesiredRow, StatusStore

DEFAULT_PG_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]

# A fixed, far-future clock: tests pass `now` explicitly and never depend on the wall clock.
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def pg_test_url() -> str:
    return os.environ.get("MICROCKS_PIPELINE_TEST_PG_URL") or DEFAULT_PG_URL


@contextmanager
def pg_schema_url() -> Iterator[str]:
    """A URL whose connections live in a new, empty schema of the test database."""
    url = make_url(pg_test_url())
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg2")
    admin = sa.create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 5})
    schema = f"mp_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        reason = f"PostgreSQL not reachable at {url.render_as_string(hide_password=True)}"
        if os.environ.get("MICROCKS_PIPELINE_REQUIRE_PG") == "1":
            pytest.fail(f"{reason} (MICROCKS_PIPELINE_REQUIRE_PG=1): {exc.orig}")
        pytest.skip(reason)
    try:
        yield url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def backend_url(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'status.db'}"
    else:
        with pg_schema_url() as url:
            yield url


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database (no tables yet) on each backend."""
    with backend_url(request.param, tmp_path) as url:
        yield url
        StatusStore(url).dispose()


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StatusStore]:
    """A migrated, empty StatusStore on each backend."""
    with backend_url(request.param, tmp_path) as url:
        s = StatusStore(url)
        s.migrate()
        try:
            yield s
        finally:
            s.dispose()


def desired_row(
    ref: str = "api:default/petstore",
    mock_id: str = "default",
    fingerprint: str = "fp-1",
    action: str = "reconcile",
    error: str | None = None,
) -> DesiredRow:
    """A DesiredRow with the real identity of (ref, mock_id)."""
    return plan.desired_row(ref, mock_id, action, fingerprint, error)
