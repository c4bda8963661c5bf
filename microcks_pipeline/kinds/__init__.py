"""The API kinds Microcks imports, one module each, and the registry that picks one for a file.

`detect` follows MockRepositoryImporterFactory exactly: the first trimmed line matching a rule
decides, rules tried per line in Microcks' order, HAR when none matches. `read_main` and
`read_secondary` parse and check a file as its kind; `stamp_main` stamps it and checks that
Microcks will detect the output as the same kind. Adding a kind is a module plus its place in
`DETECTION_ORDER`.
"""

from __future__ import annotations

from microcks_pipeline.core.desired import ArtifactFacts
from microcks_pipeline.core.documents import parse_document, text_of
from microcks_pipeline.core.errors import ConfigError
from microcks_pipeline.kinds import asyncapi, graphql, grpc, rest, soapui
from microcks_pipeline.kinds.asyncapi import ASYNCAPI
from microcks_pipeline.kinds.base import Endpoints, Kind, Parsed, Serving
from microcks_pipeline.kinds.graphql import GRAPHQL
from microcks_pipeline.kinds.grpc import GRPC
from microcks_pipeline.kinds.har import HAR
from microcks_pipeline.kinds.metadata import API_EXAMPLES, API_METADATA
from microcks_pipeline.kinds.openapi import OPENAPI, SWAGGER
from microcks_pipeline.kinds.postman import POSTMAN
from microcks_pipeline.kinds.soapui import SOAPUI

__all__ = [
    "DETECTION_ORDER",
    "Endpoints",
    "Kind",
    "Parsed",
    "by_name",
    "detect",
    "read_main",
    "read_secondary",
    "serving",
    "stamp_main",
]

# Microcks' rule order within one line (postman, openapi, other importers), HAR the default.
DETECTION_ORDER: tuple[Kind, ...] = (
    POSTMAN,
    OPENAPI,
    SWAGGER,
    SOAPUI,
    ASYNCAPI,
    GRPC,
    API_METADATA,
    API_EXAMPLES,
    GRAPHQL,
)
DEFAULT = HAR
_BY_NAME = {k.name: k for k in (*DETECTION_ORDER, DEFAULT)}
# Kinds whose stamp rewrites a whole JSON/YAML mapping, deciding key first: for these the
# input's own line order does not matter, its top-level key says what it is.
_KEYED = {"openapi": OPENAPI, "swagger": SWAGGER, "asyncapi": ASYNCAPI}


# How each service type Microcks stores is served (several kinds share REST).
_SERVING: dict[str, Serving] = {
    s.service_type: s
    for s in (rest.REST, soapui.SOAP, graphql.SERVING, grpc.SERVING, asyncapi.SERVING)
}


def serving(service_type: str) -> Serving:
    """The serving rules of a Microcks service type (REST for types not known here)."""
    return _SERVING.get(service_type, rest.REST)


def by_name(name: str) -> Kind:
    return _BY_NAME[name]


def detect(content: bytes) -> Kind:
    """The kind Microcks would import `content` as (MockRepositoryImporterFactory)."""
    for raw in text_of(content).splitlines():
        line = raw.strip()
        for kind in DETECTION_ORDER:
            if kind.matches(line):
                return kind
    return DEFAULT


def _keyed(content: bytes, detected: Kind) -> Kind | None:
    """OpenAPI/Swagger/AsyncAPI recognised by their top-level key (the stamp puts it first)."""
    if detected not in (OPENAPI, SWAGGER, ASYNCAPI, API_EXAMPLES, API_METADATA, DEFAULT):
        return None
    try:
        doc = parse_document(content)
    except ConfigError:
        return None
    if doc is None:
        return None
    marker = doc.data.get("kind")
    if marker in (API_EXAMPLES.marker, API_METADATA.marker):
        return API_EXAMPLES if marker == API_EXAMPLES.marker else API_METADATA
    found = [kind for key, kind in _KEYED.items() if key in doc.data]
    return found[0] if len(found) == 1 else None


def read_main(content: bytes) -> Parsed:
    """The main artifact parsed as its kind; ConfigError naming why Microcks would not import it."""
    detected = detect(content)
    kind = _keyed(content, detected) or detected
    if kind.service_type is None:
        raise ConfigError(f"an {kind.title} document is a secondary artifact, not a main artifact")
    try:
        return kind.parse(content)
    except ConfigError as exc:
        if kind is DEFAULT:
            raise
        raise ConfigError(f"{kind.title} (as Microcks detects it): {exc}") from None


def read_secondary(content: bytes) -> Parsed | None:
    """A secondary parsed as its kind, or None when it is not one we stamp (uploaded as is)."""
    detected = detect(content)
    kind = _keyed(content, detected) or detected
    try:
        parsed = kind.parse(content)
    except ConfigError:
        return None
    return parsed


def stamp_main(parsed: Parsed, name: str, version: str) -> bytes:
    """The stamped main artifact; ConfigError when Microcks would detect the output otherwise."""
    out = parsed.kind.stamp(parsed, name, version)
    _same_kind(out, parsed.kind)
    return out


def stamp_secondary(parsed: Parsed, name: str, version: str) -> bytes | None:
    out = parsed.kind.stamp_secondary(parsed, name, version)
    if out is not None:
        _same_kind(out, parsed.kind)
    return out


def _same_kind(out: bytes, kind: Kind) -> None:
    found = detect(out)
    if found is not kind:
        raise ConfigError(
            f"once stamped, Microcks would read this {kind.title} as a {found.title} "
            "(a line matches that kind's rule before the deciding one)"
        )


def facts(parsed: Parsed) -> ArtifactFacts:
    return parsed.kind.facts(parsed)


def artifact_facts(content: bytes, *, main: bool) -> ArtifactFacts:
    """The facts of a file as a main or a secondary artifact (secondaries we do not stamp have
    none: uploaded unchanged, they are `other`)."""
    if main:
        return facts(read_main(content))
    parsed = read_secondary(content)
    if parsed is None or parsed.kind.stamp_secondary(parsed, "x", "y") is None:
        return ArtifactFacts()
    return facts(parsed)
