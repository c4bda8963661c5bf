"""Turn one parsed catalog document into a managed API entity, following Backstage's rules.

A document is *managed* when it is `kind: API` (any case) and carries the annotation
`bcgov/microcks-config-ref`; an entity marked `backstage.io/orphan: "true"` counts as absent.
Documents of other kinds are ignored without validation. A document that could be one of ours
but is malformed (no kind, bad name, annotations that are not strings) raises ConfigError: the
caller must then treat its listing as incomplete, since the entity's identity is unknown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from microcks_pipeline.core.errors import ConfigError
from microcks_pipeline.core.identity import ANNOTATION, entity_ref
from microcks_pipeline.core.model import Entity, EntityLocation

ORPHAN_ANNOTATION = "backstage.io/orphan"

# Backstage KubernetesValidatorFunctions: object names allow mixed case, namespaces are DNS labels.
_NAME_PATTERN = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_NAMESPACE_PATTERN = re.compile(r"^[a-z0-9]+(?:-+[a-z0-9]+)*$")
_MAX_NAME_LEN = 63


@dataclass(frozen=True)
class ApiDocument:
    """The validated parts of a managed API document, before a location is attached."""

    name: str
    namespace: str
    annotations: dict[str, str]
    spec: dict[str, Any]

    @property
    def ref(self) -> str:
        return entity_ref(self.name, self.namespace)

    def entity(self, location: EntityLocation) -> Entity:
        return Entity(
            ref=self.ref,
            name=self.name,
            namespace=self.namespace,
            annotations=self.annotations,
            spec=self.spec,
            location=location,
        )


def document_kind(doc: Any) -> str:
    """The document's `kind`, lower-cased; ConfigError when there is none to read."""
    if not isinstance(doc, Mapping):
        raise ConfigError(f"a catalog document must be a mapping, not {_type_name(doc)}")
    kind = doc.get("kind")
    if not isinstance(kind, str) or not kind:
        raise ConfigError("a catalog document needs a string 'kind'", field="kind")
    return kind.lower()


def normalize_ref(ref: str) -> str:
    """`[api:][namespace/]name` in Backstage's lower-cased form; ValueError for another kind."""
    kind, sep, rest = ref.partition(":")
    if not sep:
        kind, rest = "api", ref
    if kind.lower() != "api":
        raise ValueError(f"not an API entity ref: {ref!r}")
    namespace, sep, name = rest.partition("/")
    if not sep:
        namespace, name = "default", rest
    return entity_ref(name, namespace)


def managed_api(doc: Any) -> ApiDocument | None:
    """The managed API entity a document describes, None when it is not ours (or an orphan).

    Raises ConfigError naming the field when the document may be ours but is invalid.
    """
    if document_kind(doc) != "api":
        return None
    metadata = doc.get("metadata")
    if not isinstance(metadata, Mapping):
        raise ConfigError("an API entity needs a 'metadata' mapping", field="metadata")
    annotations = _annotations(metadata.get("annotations"))
    if ANNOTATION not in annotations:
        return None
    if annotations.get(ORPHAN_ANNOTATION, "").strip().lower() == "true":
        return None
    name = _name(metadata.get("name"))
    namespace = _namespace(metadata.get("namespace"))
    spec = doc.get("spec")
    if spec is None:
        spec = {}
    if not isinstance(spec, Mapping):
        raise ConfigError(f"'spec' must be a mapping, not {_type_name(spec)}", field="spec")
    return ApiDocument(name=name, namespace=namespace, annotations=annotations, spec=dict(spec))


@dataclass(frozen=True)
class LocationDocument:
    """A `kind: Location` document: its `spec.type` (None when unset) and its targets."""

    type: str | None
    targets: tuple[str, ...]


def location_document(doc: Any) -> LocationDocument | None:
    """The targets of a `kind: Location` document, None for any other kind."""
    if document_kind(doc) != "location":
        return None
    spec = doc.get("spec")
    if not isinstance(spec, Mapping):
        raise ConfigError("a Location needs a 'spec' mapping", field="spec")
    loc_type = spec.get("type")
    if loc_type is not None and not isinstance(loc_type, str):
        raise ConfigError("'spec.type' must be a string", field="spec.type")
    targets: list[str] = []
    if "target" in spec:
        target = spec["target"]
        if not isinstance(target, str) or not target:
            raise ConfigError("'spec.target' must be a non-empty string", field="spec.target")
        targets.append(target)
    if "targets" in spec:
        many = spec["targets"]
        if not isinstance(many, list) or not all(isinstance(t, str) and t for t in many):
            raise ConfigError(
                "'spec.targets' must be a list of non-empty strings", field="spec.targets"
            )
        targets.extend(many)
    return LocationDocument(type=loc_type, targets=tuple(targets))


def _annotations(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"annotations must be a mapping, not {_type_name(value)}",
            field="metadata.annotations",
        )
    out: dict[str, str] = {}
    for key, val in value.items():
        if not isinstance(key, str) or not isinstance(val, str):
            raise ConfigError(
                f"annotation values must be strings; {key!r} is {_type_name(val)}",
                field=f"metadata.annotations.{key}",
            )
        out[key] = val
    return out


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(
            f"an entity needs a string name, not {_type_name(value)} (quote it in YAML)",
            field="metadata.name",
        )
    if len(value) > _MAX_NAME_LEN or not _NAME_PATTERN.match(value):
        raise ConfigError(
            f"invalid entity name {value!r}: 1-63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit",
            field="metadata.name",
        )
    return value


def _namespace(value: Any) -> str:
    if value is None:
        return "default"
    if (
        not isinstance(value, str)
        or len(value) > _MAX_NAME_LEN
        or not _NAMESPACE_PATTERN.match(value)
    ):
        raise ConfigError(
            f"invalid namespace {value!r}: 1-63 lower-case letters, digits and '-'",
            field="metadata.namespace",
        )
    return value


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    name = type(value).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"
