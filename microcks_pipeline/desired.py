"""Desired state of an entity's mocks: what Microcks should hold, with content fingerprints.

This module holds the domain values; `load_entity_desired` (below, filled in by the desired-state
loader) reads the entity's microcks.yaml and artifacts through an ArtifactReader and never
touches Microcks, Dagster or the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

STAMP_FORMAT_VERSION = 1  # bump when stamping output changes, so every mock is re-uploaded


@dataclass(frozen=True)
class Artifact:
    """One file to upload, read entirely into memory."""

    role: Literal["main", "secondary"]
    kind: str  # "openapi" for the main artifact; the microcks.yaml `kind` label for secondaries
    location: str  # resolved location: repo-relative path (file) or absolute URL
    upload_name: str  # stable per artifact: Microcks keys examples by uploaded file name
    content: bytes
    sha256: str


@dataclass(frozen=True)
class DesiredMock:
    """A mock that must exist in Microcks as service `service_name` / `version`."""

    entity_ref: str
    mock_id: str
    service_name: str
    version: str
    include_in_swagger: bool
    main: Artifact
    secondaries: tuple[Artifact, ...]
    fingerprint: str
    warnings: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class MockFailure:
    """A mock (or, with mock_id ENTITY_MOCK_ID, the whole entity) that could not be loaded.

    permanent: config invalid, path/URL refused, main artifact unstampable. The worker deletes the
    mock's services and marks the row `error`. transient: a read error; nothing changes until a
    later tick reads it.
    """

    entity_ref: str
    mock_id: str
    reason: str
    permanent: bool
    fingerprint: str  # hash of the failure, so a new reason or a fix requeues it


# Row key for an entity-level failure when no mockId is known (microcks.yaml missing/invalid).
# Its leading underscore can never match a valid mockId.
ENTITY_MOCK_ID = "_entity"


@dataclass(frozen=True)
class EntityDesired:
    """Everything the catalog says about one entity's mocks at one moment."""

    entity_ref: str
    entity_name: str
    mocks: tuple[DesiredMock, ...]
    failures: tuple[MockFailure, ...] = field(default=())

    @property
    def transient_failure(self) -> bool:
        return any(not f.permanent for f in self.failures)
