"""Fixtures shared by every test module, so tests name them as parameters without importing them.

- `store_fixtures`: `store` (a migrated, empty StatusStore) and `store_url` (an empty database),
  each on SQLite and on the real PostgreSQL;
- `worker_fixtures`: `rig`, a copy of the sample catalog, a SQLite status store and the local
  Microcks over HTTP.

Plain helpers and constants of the `*_fixtures` modules (`desired_row`, `T0`, `make_world`, ...)
are imported where they are used.
"""

pytest_plugins = ["store_fixtures", "worker_fixtures"]
