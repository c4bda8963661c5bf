"""The core's value types: entities and where they live, catalog snapshots, status rows, events.

Every layer speaks in these values; the catalog sources, the store and the readers import them,
never the reverse, so the pure rules (plan, lifecycle) depend on nothing at the edges.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from microcks_pipeline.core.errors import ConfigError
from microcks_pipeline.core.identity import ANNOTATION, entity_hash

Action = Literal["reconcile", "delete"]
Status = Literal["pending", "leased", "completed", "error"]
Level = Literal["info", "warn", "error"]


# ---- the catalog ------------------------------------------------------------------------------


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


# ---- the status table -------------------------------------------------------------------------


class RowStatus(StrEnum):
    PENDING = "pending"  # due (now or after next_attempt_at) for a run
    LEASED = "leased"  # a run holds it until lease_expires_at
    COMPLETED = "completed"  # Microcks holds the desired state (or, for a delete, nothing)
    ERROR = "error"  # a permanent failure; waits for a new fingerprint or a forced run


class RowAction(StrEnum):
    RECONCILE = "reconcile"  # the mock must exist in Microcks
    DELETE = "delete"  # the mock's services must not exist


class Cause(StrEnum):
    """Why a row is in its state: the cause of its failure, or of its removal."""

    LOAD_FAILED = "load_failed"  # the mock's microcks.yaml entry or artifacts cannot be used
    REMOVED_FROM_CATALOG = "removed_from_catalog"  # the entity left the catalog
    REMOVED_FROM_CONFIG = "removed_from_config"  # the mock left the entity's microcks.yaml
    TRANSIENT = "transient"  # timeout, read error, or the desired state is still settling
    SERVER_ERROR = "server_error"  # Microcks answered 5xx to one of this entity's calls
    THROTTLED = "throttled"  # Microcks answered 429
    REJECTED_BY_MICROCKS = "rejected_by_microcks"  # 400, no service imported, read-back differs
    MICROCKS_UNREACHABLE = "microcks_unreachable"  # no connection at all: Microcks-wide
    AUTH_REFUSED = "auth_refused"  # credentials refused: Microcks-wide
    NOT_CONFIGURED = "not_configured"  # no Microcks settings: no run can help


@dataclass(frozen=True)
class StatusRow:
    id: int
    entity_ref: str
    mock_id: str
    entity_hash: str
    microcks_version_id: str
    desired_action: Action
    fingerprint_hash: str  # desired fingerprint
    applied_fingerprint: str | None
    status: Status
    attempts: int
    next_attempt_at: datetime | None
    lease_owner: str | None
    lease_expires_at: datetime | None
    last_error: str | None
    microcks_service_id: str | None
    created_at: datetime
    updated_at: datetime
    # Why the row is what it is (a load failure, a removal, the last failure): see lifecycle.
    failure_cause: Cause | None = None
    # What the last verified apply uploaded and saw (converge.AppliedRecord as JSON), or None.
    applied_artifacts: dict[str, Any] | None = None
    # What the last successful sync left served (ServedMock's fields), for the status service.
    api_kind: str | None = None
    include_in_swagger: bool | None = None
    service_name: str | None = None
    mock_url: str | None = None  # None unless the last completion was a reconcile
    last_success_at: datetime | None = None


@dataclass(frozen=True)
class ServedMock:
    """What a successful sync of one mock left served in Microcks, recorded on its row."""

    kind: str | None  # openapi | swagger | asyncapi | ... (None when unknown)
    include_in_swagger: bool
    service_name: str
    mock_url: str


@dataclass(frozen=True)
class DesiredRow:
    """What the processor wants for one (entity, mock): written by `upsert_desired`."""

    entity_ref: str
    mock_id: str
    entity_hash: str
    microcks_version_id: str
    desired_action: Action
    fingerprint_hash: str
    error: str | None = None  # the reason of a load failure (cause LOAD_FAILED)
    cause: Cause | None = None


@dataclass(frozen=True)
class Event:
    entity_ref: str
    event_type: str
    level: Level
    message: str
    mock_id: str | None = None
    sync_status_id: int | None = None
    run_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GlobalBackoff:
    """A pause of all Microcks work. kind "auth" (credentials refused) carries the sha256
    fingerprint of the credentials that were refused, so a changed credential ends it."""

    until: datetime
    reason: str
    kind: Literal["auth", "outage"] = "outage"
    credentials: str | None = None


@dataclass(frozen=True)
class StoredEvent:
    """An event as read back from the store: with its id and the time it was recorded."""

    id: int
    created_at: datetime
    entity_ref: str
    event_type: str
    level: Level
    message: str
    mock_id: str | None
    sync_status_id: int | None
    run_id: str | None
    details: dict[str, Any]
