"""The contract every catalog source keeps (the entity values themselves live in `model`)."""

from __future__ import annotations

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
