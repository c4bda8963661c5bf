"""Fixtures shared by every test module, so tests name them as parameters without importing them.

- `store_fixtures`: `store` (a migrated, empty StatusStore) and `store_url` (an empty database),
  each on SQLite and on the real PostgreSQL;
- `worker_fixtures`: `rig`, a copy of the sample catalog, a SQLite status store and the local
  Microcks over HTTP;
- here: `world`, `synced` and `unconfigured`, the Dagster world of the end-to-end tests (a
  module's own fixture of the same name wins).

Plain helpers and constants of the `*_fixtures` modules (`desired_row`, `T0`, `make_world`, ...)
are imported where they are used.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster_fixtures import World, make_world

pytest_plugins = ["store_fixtures", "worker_fixtures"]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """The sample catalog, a local Microcks, a status store and a Dagster instance; nothing run."""
    with make_world(tmp_path) as w:
        yield w


@pytest.fixture
def synced(world: World) -> World:
    """Every sample entity synced once."""
    assert all(r.success for r in world.sync())
    return world


@pytest.fixture
def unconfigured(tmp_path: Path) -> Iterator[World]:
    """Microcks not configured: the catalog sensor records work and requests no run."""
    with make_world(tmp_path, configured=False) as w:
        yield w
