"""Catalog sources: where API entities come from (a folder of catalog-info.yaml, or Backstage)."""

from __future__ import annotations

from typing import Any

from microcks_pipeline.sources.catalog.backstage import BackstageCatalog
from microcks_pipeline.sources.catalog.entity import (
    CatalogSnapshot,
    CatalogSource,
    Entity,
    EntityLocation,
)
from microcks_pipeline.sources.catalog.filesystem import FilesystemCatalog

__all__ = [
    "BackstageCatalog",
    "CatalogSnapshot",
    "CatalogSource",
    "Entity",
    "EntityLocation",
    "FilesystemCatalog",
    "catalog_source",
]


def catalog_source(
    root: str | None = None,
    backstage_url: str | None = None,
    token: str | None = None,
    **kw: Any,
) -> CatalogSource:
    """The filesystem source for `root` or the Backstage source for `backstage_url` (exactly one).

    Extra keywords go to the chosen source's constructor; a token is only used for Backstage.
    """
    if bool(root) == bool(backstage_url):
        raise ValueError(
            "configure exactly one catalog source: a catalog root folder or a Backstage URL"
        )
    if root:
        return FilesystemCatalog(root, **kw)
    assert backstage_url is not None
    return BackstageCatalog(backstage_url, token=token, **kw)
