"""Fixtures shared by the Dagster end-to-end tests (a module's own fixture of the same name wins)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster_fixtures import World, make_world


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
