"""The status store's connection to its database: engine, transactions, migrations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from microcks_pipeline.core.errors import StoreNotMigrated, StoreUnavailable
from microcks_pipeline.store import migrate as _migrate
from microcks_pipeline.store.engine import (
    display_url,
    forget_engine,
    resolve_url,
    shared_engine,
    transaction,
)
from microcks_pipeline.store.sanitize import sanitize_error
from microcks_pipeline.store.values import (
    _is_missing_table,
)


class StoreBase:
    """The database connection and its one-transaction plumbing, shared by every part of the store."""

    def __init__(self, url: str | None = None) -> None:
        self._url = resolve_url(url)
        self.url_for_display: str = display_url(self._url)
        self._engine = shared_engine(self._url)
        self._pg = self._engine.dialect.name == "postgresql"

    def __repr__(self) -> str:
        return f"StatusStore({self.url_for_display!r})"

    # -- plumbing ---------------------------------------------------------------------------

    @contextmanager
    def _tx(self, *, write: bool = True) -> Iterator[Connection]:
        """One transaction; database outages become StoreUnavailable with a sanitized reason."""
        try:
            with transaction(self._engine, write=write) as conn:
                yield conn
        except DBAPIError as exc:
            if _is_missing_table(exc):
                raise StoreNotMigrated(
                    f"status tables missing in {self.url_for_display}: run migrate() first"
                ) from exc
            if isinstance(exc, OperationalError | InterfaceError) or exc.connection_invalidated:
                reason = sanitize_error(str(exc.orig), limit=300)
                raise StoreUnavailable(
                    f"status database {self.url_for_display} unavailable: {reason}"
                ) from exc
            raise

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision; a no-op when already there."""
        try:
            _migrate.upgrade_to_head(self._engine)
        except (OperationalError, InterfaceError) as exc:
            reason = sanitize_error(str(exc.orig), limit=300)
            raise StoreUnavailable(
                f"status database {self.url_for_display} unavailable: {reason}"
            ) from exc

    def schema_revision(self) -> str | None:
        """The Alembic revision the database is at (None before the first migrate)."""
        return _migrate.current_revision(self._engine)

    def dispose(self) -> None:
        """Close this process's pooled connections to the database."""
        forget_engine(self._url)
