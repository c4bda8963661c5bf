"""The contract every catalog source keeps (the entity values themselves live in `model`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

# The values are the core's (`model`); re-exported here for the modules that import them from the
# catalog.
from microcks_pipeline.core.model import CatalogSnapshot, Entity, EntityLocation

__all__ = ["CatalogSnapshot", "CatalogSource", "Entity", "EntityLocation"]


class CatalogSource(Protocol):
    def list_entities(self) -> CatalogSnapshot:
        """Every API entity with the annotation, or raise CatalogUnavailable: never a partial set
        passed off as complete."""
        ...

    def expect(self, refs: Iterable[str]) -> None:
        """The entities the next `get_entity` calls are for (a batch run's), so that a source
        that must search for an entity can search for all of them at once."""
        ...
