"""Entity refs, entity hashes, Microcks service versions and ownership rules (pure)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

ANNOTATION = "bcgov/microcks-config-ref"
MOCK_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_HASH_PREFIX = "bk-"
_HASH_HEX_LEN = 16
_VERSION_PATTERN = re.compile(r"^bk-[0-9a-f]{16}-(?P<mock>.+)$")


def entity_ref(name: str, namespace: str | None = None, kind: str = "API") -> str:
    """Backstage's stringifyEntityRef: `kind:namespace/name`, all lower-cased."""
    ns = namespace or "default"
    return f"{kind}:{ns}/{name}".lower()


def entity_hash(ref: str) -> str:
    """`bk-` + the first 16 hex digits of sha256(entity ref): the identity the old plugin used."""
    return _HASH_PREFIX + hashlib.sha256(ref.encode("utf-8")).hexdigest()[:_HASH_HEX_LEN]


def is_valid_mock_id(mock_id: object) -> bool:
    return isinstance(mock_id, str) and MOCK_ID_PATTERN.fullmatch(mock_id) is not None


def service_version(ref: str, mock_id: str) -> str:
    """The Microcks version stamped into every artifact of one mock."""
    return f"{entity_hash(ref)}-{mock_id}"


def mock_id_of_version(version: str) -> str | None:
    """The mockId encoded in a version of ours, or None for a foreign version."""
    m = _VERSION_PATTERN.match(version)
    if m is None or not is_valid_mock_id(m.group("mock")):
        return None
    return m.group("mock")


def owned_by_entity(version: str, ref_hash: str) -> bool:
    """A service belongs to an entity iff its version is `<hash>-<valid mockId>`; never by suffix."""
    prefix = ref_hash + "-"
    return version.startswith(prefix) and is_valid_mock_id(version[len(prefix) :])


def owned_by_mock(version: str, ref: str, mock_id: str) -> bool:
    return version == service_version(ref, mock_id)


# Labels marking a Microcks service as one mock's when its name and version cannot say so
# (gRPC: Microcks names it from the proto). OWNER_LABEL's value is the mock's
# `<entity hash>-<mockId>`; ENTITY_LABEL's the entity ref, to find an entity's services in one
# search and to name the other owner in a conflict.
OWNER_LABEL = "microcks-pipeline/owner"
ENTITY_LABEL = "microcks-pipeline/entity"


def labels_of(service: Mapping[str, Any]) -> dict[str, str]:
    metadata = service.get("metadata")
    labels = metadata.get("labels") if isinstance(metadata, dict) else None
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}


def owner_of_service(service: Mapping[str, Any]) -> str | None:
    """The `<entity hash>-<mockId>` a Microcks service belongs to: its version when that is one
    of ours, else its owner label when that is; None for a service that is not ours."""
    version = service.get("version")
    if isinstance(version, str) and mock_id_of_version(version) is not None:
        return version
    owner = labels_of(service).get(OWNER_LABEL)
    return owner if owner is not None and mock_id_of_version(owner) is not None else None
