"""What a Microcks service holds, as read in one call (`GET /api/services/{id}?messages=true`).

Pure: a parse of the service view into values the artifact-level plan compares (which upload
names hold examples, each operation's dispatcher and rules, labels and annotations). No HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ObservedOperation:
    name: str
    dispatcher: str | None
    rules: str | None
    # Sent back unchanged when the dispatcher is put back: Microcks' PUT replaces them all.
    default_delay: int | None = None
    default_delay_strategy: str | None = None
    parameter_constraints: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class ObservedService:
    service_id: str
    name: str
    version: str
    sources: frozenset[str]  # upload names (sourceArtifact) that hold examples
    operations: Mapping[str, ObservedOperation] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    service_type: str | None = None  # REST, SOAP_HTTP, GRAPHQL, GRPC, EVENT, ...


def _text_map(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _optional_text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _operation(node: Mapping[str, Any]) -> ObservedOperation:
    delay = node.get("defaultDelay")
    constraints = node.get("parameterConstraints")
    return ObservedOperation(
        name=str(node.get("name")),
        dispatcher=_optional_text(node.get("dispatcher")),
        rules=_optional_text(node.get("dispatcherRules")),
        default_delay=delay if isinstance(delay, int) and not isinstance(delay, bool) else None,
        default_delay_strategy=_optional_text(node.get("defaultDelayStrategy")),
        parameter_constraints=tuple(c for c in constraints or () if isinstance(c, dict)),
    )


def _sources(messages: Any) -> frozenset[str]:
    found: set[str] = set()
    for pairs in messages.values() if isinstance(messages, dict) else ():
        for pair in pairs if isinstance(pairs, list) else ():
            for part in ("request", "response", "eventMessage"):
                node = pair.get(part) if isinstance(pair, dict) else None
                source = node.get("sourceArtifact") if isinstance(node, dict) else None
                if isinstance(source, str):
                    found.add(source)
    return frozenset(found)


def parse_service_view(view: Mapping[str, Any]) -> ObservedService:
    """The observation of a ServiceView (`{"service": ..., "messagesMap": ...}`)."""
    service = view.get("service")
    if not isinstance(service, dict):
        raise ValueError("a service view without its service")
    metadata = service.get("metadata") if isinstance(service.get("metadata"), dict) else {}
    operations = [op for op in service.get("operations") or () if isinstance(op, dict)]
    return ObservedService(
        service_id=str(service.get("id") or f"{service.get('name')}:{service.get('version')}"),
        name=str(service.get("name")),
        version=str(service.get("version")),
        sources=_sources(view.get("messagesMap")),
        operations={str(op.get("name")): _operation(op) for op in operations},
        labels=_text_map(metadata.get("labels")),
        annotations=_text_map(metadata.get("annotations")),
        service_type=_optional_text(service.get("type")),
    )
