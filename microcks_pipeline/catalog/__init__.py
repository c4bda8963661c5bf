"""Catalog sources: where API entities come from (a folder of catalog-info.yaml, or Backstage)."""

from microcks_pipeline.catalog.entity import CatalogSnapshot, CatalogSource, Entity, EntityLocation

__all__ = ["CatalogSnapshot", "CatalogSource", "Entity", "EntityLocation"]
