"""Alembic environment of the status store.

`StatusStore.migrate()` hands over a connection that already holds the migration lock inside a
transaction. From the command line (`alembic -c <package>/store/migrations/alembic.ini upgrade
head`) the database URL comes from `-x url=...`, else `sqlalchemy.url`, else the same
environment variable and default as the store.
"""

from __future__ import annotations

from alembic import context

from microcks_pipeline.store.engine import resolve_url, shared_engine
from microcks_pipeline.store.migrate import migration_connection

config = context.config


def _run_on(connection) -> None:  # type: ignore[no-untyped-def]
    # SQLite cannot ALTER most things: future revisions must use batch ("move and copy") mode.
    context.configure(
        connection=connection,
        target_metadata=None,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    context.run_migrations()


def _cli_url() -> str | None:
    return context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )


if config.attributes.get("connection") is not None:
    _run_on(config.attributes["connection"])
elif context.is_offline_mode():
    context.configure(url=resolve_url(_cli_url()), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    with migration_connection(shared_engine(resolve_url(_cli_url()))) as conn:
        _run_on(conn)
