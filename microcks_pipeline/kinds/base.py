"""What every API kind provides: Microcks' detection rule, parsing, identity stamping, and the
facts an upload yields (service type, default dispatchers, labels, examples).

A kind module holds one `Kind` subclass (or two, for OpenAPI and Swagger) with its rules read
in Microcks' importer (reference/microcks/ARTIFACT-TYPES.md). Callers never branch on a kind:
they ask it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote

from microcks_pipeline.core.desired import ArtifactFacts, Dispatch, Purpose
from microcks_pipeline.core.documents import ParsedDoc, parse_document, text_of
from microcks_pipeline.core.errors import ConfigError


@dataclass(frozen=True)
class Endpoints:
    """Where a Microcks instance serves its mocks: HTTP base URL, gRPC and WebSocket host:port."""

    http: str  # e.g. http://localhost:8080 (REST, SOAP, GraphQL)
    grpc: str  # host:port
    ws: str  # host:port of the async minion


@dataclass(frozen=True)
class Parsed:
    """A main or secondary artifact checked by its kind: the kind's own value and its format."""

    kind: Kind
    value: Any
    fmt: str  # json | yaml | text | xml
    suffix: str  # upload file suffix for an inline definition


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    detail: str
    url: str | None = None


class Serving:
    """How Microcks serves one service type: the address of a mock that answers, and a probe
    that asks it for one of the service's own examples as a client would."""

    service_type: ClassVar[str]

    def root(self, endpoints: Endpoints, name: str, version: str) -> str:
        """The service's mock endpoint, with no operation."""
        raise NotImplementedError

    def describe(self, name: str, version: str) -> str:
        """Where the mock will answer, without a host: for `plan`, which reads no Microcks."""
        return self.root(Endpoints("", "<grpc endpoint>", "<ws endpoint>"), name, version)

    def address(self, endpoints: Endpoints, view: Mapping[str, Any]) -> str:
        """An address that answers one of the service's examples (from its service view)."""
        service = view.get("service") or {}
        return self.root(endpoints, str(service.get("name", "")), str(service.get("version", "")))

    def probe(
        self, endpoints: Endpoints, view: Mapping[str, Any], http: Any, **extra: Any
    ) -> ProbeResult:
        raise NotImplementedError


def first_pair(
    view: Mapping[str, Any], part: str = "response"
) -> tuple[str, dict[str, Any]] | None:
    """(operation, example) of the first example that has `part`, in view order."""
    for operation, pairs in (view.get("messagesMap") or {}).items():
        for pair in pairs or ():
            if isinstance(pair, dict) and isinstance(pair.get(part), dict):
                return str(operation), pair
    return None


@dataclass(frozen=True)
class Exchange:
    """The first request/response example of a service view: what a probe sends and expects."""

    operation: str
    request: dict[str, Any]
    response: dict[str, Any]

    @property
    def where(self) -> str:
        return f"{self.operation} '{self.response.get('name') or self.request.get('name')}'"


def first_exchange(view: Mapping[str, Any]) -> Exchange | None:
    found = first_pair(view)
    if found is None or not isinstance(found[1].get("request"), dict):
        return None
    return Exchange(found[0], found[1]["request"], found[1]["response"])


NO_EXAMPLE = ProbeResult(False, "the service has no example that can be called")


def example_operation(view: Mapping[str, Any], part: str = "response") -> str:
    """The operation of the first example with `part`, else the service's first operation."""
    found = first_pair(view, part)
    if found is not None:
        return found[0]
    operations = (view.get("service") or {}).get("operations") or ()
    return str(operations[0].get("name")) if operations else ""


class HttpPostServing(Serving):
    """Mocks called by an HTTP POST to `/<prefix>/{name}/{version}` (SOAP, GraphQL)."""

    prefix: ClassVar[str]

    def root(self, endpoints: Endpoints, name: str, version: str) -> str:
        return http_path(endpoints, self.prefix, name, version)

    def describe(self, name: str, version: str) -> str:
        return "POST " + super().describe(name, version)

    def post(self, http: Any, url: str, example: Exchange, headers: Mapping[str, str]) -> Any:
        """The mock's answer to the example's request, or the ProbeResult of a failed call."""
        body = str(example.request.get("content") or "")
        try:
            return http.post(url, content=body, headers=dict(headers))
        except Exception as exc:  # noqa: BLE001 - any transport failure is the probe's answer
            return ProbeResult(False, f"{example.where}: {type(exc).__name__}", url)


class Kind:
    """One artifact type Microcks imports. Subclasses override what differs from these defaults."""

    name: ClassVar[str]  # short, stable: openapi, swagger, asyncapi, graphql, grpc, ...
    title: ClassVar[str]  # for messages: "OpenAPI 3", "gRPC proto3", ...
    service_type: ClassVar[str | None] = None  # what a main upload stores; None: not a main
    purpose: ClassVar[Purpose] = "other"  # what it is as a secondary

    def matches(self, line: str) -> bool:
        """Microcks' detection rule for one trimmed line (MockRepositoryImporterFactory)."""
        raise NotImplementedError

    def parse(self, content: bytes) -> Parsed:
        """The artifact checked as Microcks' importer would read it; ConfigError naming why not."""
        raise NotImplementedError

    def stamp(self, parsed: Parsed, name: str, version: str) -> bytes:
        """The main artifact with Microcks' name and version written where the importer reads
        them, in its input format, its deciding line first."""
        raise ConfigError(f"a {self.title} cannot be a main artifact")

    def stamp_secondary(self, parsed: Parsed, name: str, version: str) -> bytes | None:
        """The secondary stamped to the mock's identity, or None: uploaded unchanged."""
        return None

    def fixed_identity(self, parsed: Parsed) -> tuple[str, str] | None:
        """(name, version) Microcks takes from the content whatever we stamp (gRPC), else None."""
        return None

    def facts(self, parsed: Parsed) -> ArtifactFacts:
        """What uploading it makes Microcks hold (as a main: service type and dispatchers)."""
        return ArtifactFacts(kind=self.name, purpose=self.purpose, service_type=self.service_type)

    def __repr__(self) -> str:
        return f"<kind {self.name}>"


def json_or_yaml(content: bytes, what: str) -> ParsedDoc:
    """The single mapping of a JSON/YAML artifact, or ConfigError."""
    doc = parse_document(content)
    if doc is None:
        raise ConfigError(f"not a single {what} document (a mapping)")
    return doc


def text(content: bytes) -> str:
    return text_of(content)


def mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_text(value: Any) -> str:
    """Jackson's asText(): booleans lower-case, null "null", containers ""."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return "" if isinstance(value, (dict, list)) else str(value)


def texts(value: Any) -> dict[str, str]:
    return {str(k): as_text(v) for k, v in value.items()} if isinstance(value, dict) else {}


def http_path(endpoints: Endpoints, prefix: str, name: str, version: str) -> str:
    """`<base>/<prefix>/<name>/<version>` as Microcks' UI writes it (name URL-encoded)."""
    return f"{endpoints.http.rstrip('/')}/{prefix}/{quote(name, safe='')}/{quote(version, safe='')}"


def dispatch_map(operations: Mapping[str, Dispatch]) -> dict[str, Dispatch]:
    return dict(operations)
