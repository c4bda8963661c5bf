"""Desired state of an entity's mocks as values: artifacts, mocks, failures, fingerprint rules (pure).

`sync.loader` builds these from the entity's microcks.yaml and artifacts.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Literal

STAMP_FORMAT_VERSION = 1  # bump when stamping output changes, so every mock is re-uploaded

Dispatch = tuple[str | None, str | None]  # (dispatcher, dispatcherRules) of one operation
Purpose = Literal["main", "examples", "metadata", "other"]


@dataclass(frozen=True)
class ArtifactFacts:
    """What uploading one artifact makes Microcks hold, as its kind's importer computes it
    (kinds/ computes these; the converge plan only reads them, whatever the kind)."""

    kind: str = "other"  # the detected kind's name (kinds.Kind.name)
    purpose: Purpose = "other"
    service_type: str | None = None  # what a main upload stores: REST, EVENT, GRPC, ...
    # Per operation, the dispatcher a main upload sets; None when the kind's is not known.
    dispatchers: Mapping[str, Dispatch] | None = None
    # Per operation, what an APIMetadata sets (only the keys it names: "dispatcher", "rules").
    operation_overrides: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    labels: Mapping[str, str] | None = None  # None: the upload leaves labels as they are
    annotations: Mapping[str, str] | None = None
    example_operations: frozenset[str] = frozenset()  # operations it gives an example


@dataclass(frozen=True)
class Artifact:
    """One file to upload, read entirely into memory."""

    role: Literal["main", "secondary"]
    kind: str  # "main" for the main artifact; the microcks.yaml `kind` label for secondaries
    location: str  # resolved location: repo-relative path (file) or absolute URL
    upload_name: str  # stable per artifact: Microcks keys examples by uploaded file name
    content: bytes
    sha256: str
    facts: ArtifactFacts = field(default_factory=ArtifactFacts, compare=False)


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
    # The mock's own version (<entity hash>-<mockId>) when Microcks' identity cannot carry it
    # (gRPC: name and version come from the proto); it then marks the service as ours by label.
    owner: str | None = None

    @property
    def owner_version(self) -> str:
        """The bk-<hash>-<mockId> this mock answers to, whatever Microcks calls its service."""
        return self.owner or self.version

    @property
    def labelled_owner(self) -> bool:
        """Whether ownership lives in a label (the identity is not ours to stamp)."""
        return self.owner is not None and self.owner != self.version


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
    warnings: tuple[str, ...] = field(default=())  # file-level, e.g. unknown keys in microcks.yaml

    @property
    def transient_failure(self) -> bool:
        return any(not f.permanent for f in self.failures)


# ---- fingerprints ---------------------------------------------------------------------------

MAX_REASON_CHARS = 1000  # reasons go into rows and events: short, never a stack trace


def _canonical_sha(value: Mapping[str, Any]) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def mock_fingerprint(
    entity_ref: str,
    entry: Mapping[str, Any],
    artifacts: Sequence[tuple[str, str, str]],
    *,
    service_name: str | None = None,
) -> str:
    """sha256 of the canonical JSON of what decides a mock's uploads: the entity ref, the mock's
    own microcks.yaml entry, the stamp format version, and (role/kind, location, content
    sha256) per artifact in upload order. `service_name` (metadata.name, whose case the ref
    loses) is stamped into every artifact, so it counts too when given."""
    value: dict[str, Any] = {
        "entity_ref": entity_ref,
        "entry": entry,
        "stamp_format_version": STAMP_FORMAT_VERSION,
        "artifacts": [list(a) for a in artifacts],
    }
    if service_name is not None:
        value["service_name"] = service_name
    return _canonical_sha(value)


def failure_fingerprint(entity_ref: str, mock_id: str, reason: str) -> str:
    """A failure's fingerprint: a new reason (or a fix, which yields a mock) requeues the row."""
    return _canonical_sha(
        {
            "entity_ref": entity_ref,
            "mock_id": mock_id,
            "failure": reason,
            "stamp_format_version": STAMP_FORMAT_VERSION,
        }
    )


# ---- upload names ---------------------------------------------------------------------------

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def upload_name(location: str, suffix: str | None = None) -> str:
    """A file name stable per artifact location: `<stem>-<8 hex of sha256(location)><suffix>`.
    Microcks keys examples by uploaded file name, so it must neither change nor collide."""
    last = PurePosixPath(location.split("?", 1)[0].rstrip("/") or "artifact").name
    path = PurePosixPath(last)
    stem = _UNSAFE_NAME.sub("_", path.stem).strip("._")[:60] or "artifact"
    ext = suffix if suffix is not None else _UNSAFE_NAME.sub("_", path.suffix)[:10]
    digest = hashlib.sha256(location.encode("utf-8")).hexdigest()[:8]
    return f"{stem}-{digest}{ext or '.yaml'}"
