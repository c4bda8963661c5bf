"""Microcks' stored records (Service, Operation, Request/Response) and their JSON as Microcks' Jackson writes it."""

from __future__ import annotations

import itertools
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

# Records are mutable on purpose: they mirror Microcks' Mongo documents, which imports update in place.

_OID_RANDOM = os.urandom(5)
_OID_COUNTER = itertools.count(int.from_bytes(os.urandom(3), "big"))
_OID_LOCK = threading.Lock()


def object_id() -> str:
    """A 24-hex identifier shaped like a Mongo ObjectId (time, process random, counter)."""
    with _OID_LOCK:
        counter = next(_OID_COUNTER) & 0xFFFFFF
    return (int(time.time()).to_bytes(4, "big") + _OID_RANDOM + counter.to_bytes(3, "big")).hex()


def now_millis() -> int:
    return int(time.time() * 1000)


@dataclass
class Metadata:
    created_on: int = field(default_factory=now_millis)
    last_update: int = field(default_factory=now_millis)
    annotations: dict[str, str] | None = None
    labels: dict[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        # Microcks' getters return an empty map for a null one, so both always appear.
        return {
            "createdOn": self.created_on,
            "lastUpdate": self.last_update,
            "annotations": dict(self.annotations or {}),
            "labels": dict(self.labels or {}),
        }


@dataclass
class ParameterConstraint:
    name: str
    location: str
    required: bool = False
    recopy: bool = False
    must_match_regexp: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "in": self.location,
            "required": self.required,
            "recopy": self.recopy,
        }
        if self.must_match_regexp is not None:
            body["mustMatchRegexp"] = self.must_match_regexp
        return body


@dataclass
class Operation:
    name: str
    method: str | None = None
    action: str | None = None
    # GraphQL/gRPC/SOAP importers name the operation's input and output types.
    input_name: str | None = None
    output_name: str | None = None
    # AsyncAPI protocol bindings by type (KAFKA, WS, ...): Microcks' Binding objects.
    bindings: dict[str, dict[str, Any]] | None = None
    dispatcher: str | None = None
    dispatcher_rules: str | None = None
    default_delay: int | None = None
    default_delay_strategy: str | None = None
    resource_paths: list[str] | None = None
    parameter_constraints: list[ParameterConstraint] | None = None
    trigger_infos: list[dict[str, str]] | None = None
    # Set only by PUT /api/services/{id}/operation; main re-uploads then keep these values.
    override: bool = False

    def add_resource_path(self, resource_path: str) -> None:
        if self.resource_paths is None:
            self.resource_paths = []
        if resource_path not in self.resource_paths:
            self.resource_paths.append(resource_path)

    def add_parameter_constraint(self, constraint: ParameterConstraint) -> None:
        # Microcks keeps them in a set keyed by (name, in): a duplicate is ignored.
        if self.parameter_constraints is None:
            self.parameter_constraints = []
        if all(
            (c.name, c.location) != (constraint.name, constraint.location)
            for c in self.parameter_constraints
        ):
            self.parameter_constraints.append(constraint)

    def to_json(self) -> dict[str, Any]:
        # `override` has no Jackson getter in Microcks (hasOverride), so it is never written.
        body: dict[str, Any] = {"name": self.name}
        optional = {
            "method": self.method,
            "action": self.action,
            "inputName": self.input_name,
            "outputName": self.output_name,
            "bindings": {k: dict(v) for k, v in self.bindings.items()}
            if self.bindings is not None
            else None,
            "triggerInfos": self.trigger_infos,
            "dispatcher": self.dispatcher,
            "dispatcherRules": self.dispatcher_rules,
            "defaultDelay": self.default_delay,
            "defaultDelayStrategy": self.default_delay_strategy,
            "resourcePaths": list(self.resource_paths) if self.resource_paths is not None else None,
            "parameterConstraints": [c.to_json() for c in self.parameter_constraints]
            if self.parameter_constraints is not None
            else None,
        }
        body.update({key: value for key, value in optional.items() if value is not None})
        return body


@dataclass
class Service:
    id: str
    name: str
    version: str
    type: str | None
    metadata: Metadata
    source_artifact: str | None
    operations: list[Operation]
    # gRPC services: the proto package (ProtobufImporter sets xmlNS), SOAP: the WSDL namespace.
    xml_ns: str | None = None
    # Resources of the main artifact the mocks need, by Microcks' ResourceType (not in the JSON):
    # PROTOBUF_DESCRIPTOR (serialized FileDescriptorSet), GRAPHQL_SCHEMA (SDL text).
    resources: dict[str, bytes | str] = field(default_factory=dict)

    def operation(self, name: str) -> Operation | None:
        return next((op for op in self.operations if op.name == name), None)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "name": self.name, "version": self.version}
        if self.type is not None:
            body["type"] = self.type
        if self.xml_ns is not None:
            body["xmlNS"] = self.xml_ns
        body["metadata"] = self.metadata.to_json()
        if self.source_artifact is not None:
            body["sourceArtifact"] = self.source_artifact
        body["operations"] = [op.to_json() for op in self.operations]
        return body


@dataclass
class Header:
    name: str
    values: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "values": list(self.values)}


class _WithHeaders:
    """What Microcks' Request and Response share: headers collected lazily (null until the
    first), and the fields their JSON starts with."""

    id: str | None
    name: str
    content: str | None
    headers: list[Header] | None
    operation_id: str | None
    source_artifact: str | None

    def add_header(self, header: Header) -> None:
        if self.headers is None:
            self.headers = []
        self.headers.append(header)

    def _json(self, **more: Any) -> dict[str, Any]:
        """The shared fields, then `more`; null fields are left out, as Jackson's NON_NULL."""
        optional = {
            "id": self.id,
            "name": self.name,
            "content": self.content,
            "operationId": self.operation_id,
            "sourceArtifact": self.source_artifact,
            "headers": [h.to_json() for h in self.headers] if self.headers is not None else None,
            **more,
        }
        return {key: value for key, value in optional.items() if value is not None}


@dataclass
class Request(_WithHeaders):
    name: str
    content: str | None = None
    headers: list[Header] | None = None
    query_parameters: list[tuple[str, str]] | None = None
    id: str | None = None
    operation_id: str | None = None
    source_artifact: str | None = None
    response_id: str | None = None

    def add_query_parameter(self, name: str, value: str) -> None:
        if self.query_parameters is None:
            self.query_parameters = []
        self.query_parameters.append((name, value))

    def to_json(self) -> dict[str, Any]:
        return self._json(
            responseId=self.response_id,
            queryParameters=[{"name": n, "value": v} for n, v in self.query_parameters]
            if self.query_parameters is not None
            else None,
        )


@dataclass
class Response(_WithHeaders):
    name: str
    status: str | None = None
    media_type: str | None = None
    content: str | None = None
    headers: list[Header] | None = None
    dispatch_criteria: str | None = None
    fault: bool = False
    id: str | None = None
    operation_id: str | None = None
    source_artifact: str | None = None

    def to_json(self) -> dict[str, Any]:
        body = self._json(
            status=self.status, mediaType=self.media_type, dispatchCriteria=self.dispatch_criteria
        )
        # Jackson names the property after Response.isFault(): "fault", always written.
        body["fault"] = self.fault
        return body


@dataclass
class EventMessage(_WithHeaders):
    """An AsyncAPI example message (Microcks' EventMessage of a UnidirectionalEvent)."""

    name: str
    content: str | None = None
    media_type: str | None = None
    headers: list[Header] | None = None
    dispatch_criteria: str | None = None
    id: str | None = None
    operation_id: str | None = None
    source_artifact: str | None = None

    def to_json(self) -> dict[str, Any]:
        return self._json(mediaType=self.media_type, dispatchCriteria=self.dispatch_criteria)


@dataclass
class Pair:
    """One stored example of an operation from one source artifact: a request/response pair,
    or (EVENT services) an event message alone."""

    service_id: str
    operation_name: str
    source_artifact: str
    request: Request | None
    response: Response | None
    event: EventMessage | None = None

    def to_json(self) -> dict[str, Any]:
        if self.event is not None:
            return {"type": "unidirEvent", "eventMessage": self.event.to_json()}
        assert self.request is not None and self.response is not None
        return {
            "type": "reqRespPair",
            "request": self.request.to_json(),
            "response": self.response.to_json(),
        }
