"""The API entity model and the contract every catalog source keeps."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from microcks_pipeline.errors import ConfigError
from microcks_pipeline.identity import ANNOTATION, entity_hash


@dataclass(frozen=True)
class EntityLocation:
    """Where an entity was read from, and the repository its relative paths must stay inside.

    kind "file": `target` is the catalog-info.yaml path and `repo_root` the folder no path may
    leave. kind "url": `target` is the file's URL and `repo_root` the URL prefix of its repository
    (for example `https://github.com/org/repo/blob/main/`). kind "none": the source could not
    say where the entity came from (a Backstage entity without a usable location annotation);
    `target` and `repo_root` are empty and `base_dir` raises ConfigError, so resolving anything
    against it fails clearly on that entity instead of guessing a folder.
    """

    kind: Literal["file", "url", "none"]
    target: str
    repo_root: str

    @property
    def base_dir(self) -> str:
        """The folder (or URL folder, ending in `/`) that relative references resolve against."""
        if self.kind == "none":
            raise ConfigError(
                "the entity has no usable location (no url: or file: "
                "backstage.io/managed-by-location or backstage.io/source-location annotation), "
                "so relative references cannot be resolved"
            )
        if self.kind == "file":
            return str(Path(self.target).parent)
        return self.target.rsplit("/", 1)[0] + "/"


@dataclass(frozen=True)
class Entity:
    ref: str  # api:<namespace>/<name>, lower-cased
    name: str  # metadata.name as written (it becomes the Microcks service name)
    namespace: str
    annotations: Mapping[str, str]
    spec: Mapping[str, Any]
    location: EntityLocation

    @property
    def hash(self) -> str:
        return entity_hash(self.ref)

    @property
    def config_ref(self) -> str | None:
        """The raw `bcgov/microcks-config-ref` annotation value, if any."""
        return self.annotations.get(ANNOTATION)


@dataclass(frozen=True)
class CatalogSnapshot:
    """One listing of API entities that carry the annotation.

    `complete` is False when some part of the catalog could not be read (a broken
    catalog-info.yaml, say): its entities are still synced, but nothing may be deleted because
    an entity's absence proves nothing. `problems` names what could not be read.
    """

    entities: tuple[Entity, ...]
    complete: bool = True
    problems: tuple[str, ...] = field(default=())

    def by_ref(self) -> dict[str, Entity]:
        return {e.ref: e for e in self.entities}


class CatalogSource(Protocol):
    def list_entities(self) -> CatalogSnapshot:
        """Every API entity with the annotation, or raise CatalogUnavailable: never a partial set
        passed off as complete."""
        ...
