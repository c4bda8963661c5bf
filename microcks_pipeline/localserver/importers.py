"""Artifact importers as Microcks has them: type sniffing, OpenAPI 3 / Swagger 2, APIExamples and APIMetadata."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import dispatch as d
from .jsonnode import (
    MISSING,
    ParseError,
    as_text,
    at,
    decode_utf8,
    load_json,
    load_yaml,
    path,
    split_lines,
    value_string,
)
from .model import (
    EventMessage,
    Header,
    Metadata,
    Operation,
    ParameterConstraint,
    Request,
    Response,
    Service,
)


class ImportRejected(Exception):
    """Microcks' MockRepositoryImportException: answered 400 with this exact text."""


class ImportCrashed(Exception):
    """Where Microcks' Java would throw an unchecked exception (answered 500)."""


@dataclass
class ParsedService:
    """A service as an importer builds it, before the repository merges it."""

    name: str
    version: str
    type: str | None
    metadata: Metadata | None
    operations: list[Operation]
    xml_ns: str | None = None
    # Resources the mocks need, by Microcks' ResourceType (PROTOBUF_DESCRIPTOR, GRAPHQL_SCHEMA).
    resources: dict[str, bytes | str] = field(default_factory=dict)


Exchange = tuple[Request, Response] | EventMessage


class Importer(Protocol):
    def services(self) -> list[ParsedService]: ...

    def messages(self, service: Service, operation: Operation) -> list[Exchange]: ...


OPENAPI_3_REGEXP = re.compile(r".*['\"]?openapi['\"]?\s*:\s*['\"]?[3\.].*")
SWAGGER_REGEXP = re.compile(r".*['\"]?swagger['\"]?\s*:\s*.*")
ASYNCAPI_2_REGEXP = re.compile(r".*['\"]?asyncapi['\"]?\s*:\s*['\"]?[2\.].*")
ASYNCAPI_3_REGEXP = re.compile(r".*['\"]?asyncapi['\"]?\s*:\s*['\"]?[3\.].*")

VALID_VERBS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
PARAMETER_LOCATIONS = ("path", "query", "header", "cookie", "formData", "body")


def java_trim(text: str) -> str:
    """String.trim(): strips every char <= U+0020, nothing else."""
    start, end = 0, len(text)
    while start < end and text[start] <= " ":
        start += 1
    while end > start and text[end - 1] <= " ":
        end -= 1
    return text[start:end]


def sniff(text: str) -> str:
    """Artifact kind from content, line by line, first marker wins (MockRepositoryImporterFactory)."""
    for raw_line in split_lines(text):
        line = java_trim(raw_line)
        if line.startswith('"_postman_id":'):
            return "postman"
        if line.startswith('"collection":') or line.startswith('{"collection":'):
            return "postman-workspace"
        if OPENAPI_3_REGEXP.fullmatch(line):
            return "openapi"
        if SWAGGER_REGEXP.fullmatch(line):
            return "swagger"
        if line.startswith("<?xml"):
            return "soapui"
        if ASYNCAPI_2_REGEXP.fullmatch(line):
            return "asyncapi2"
        if ASYNCAPI_3_REGEXP.fullmatch(line):
            return "asyncapi3"
        if line.startswith('syntax = "proto3";') or line.startswith('syntax="proto3";'):
            return "protobuf"
        if "kind: APIMetadata" in line:
            return "metadata"
        if "kind: APIExamples" in line:
            return "examples"
        if "type Query {" in line or "type Mutation {" in line or line.startswith("# microcksId:"):
            return "graphql"
    return "har"


def make_importer(data: bytes) -> Importer:
    """The importer Microcks would pick for this content; ImportRejected where Microcks answers 400."""
    try:
        text = decode_utf8(data)
    except ParseError as exc:
        raise ImportRejected(str(exc)) from exc
    kind = sniff(text)
    if kind in ("openapi", "swagger"):
        return OpenAPIImporter(text, swagger=kind == "swagger")
    if kind == "metadata":
        return MetadataImporter(text)
    if kind == "examples":
        return ExamplesImporter(text)
    # One module per further kind; imported here because they build on this module's helpers.
    if kind in ("postman", "postman-workspace"):
        from .importer_postman import PostmanCollectionImporter

        return PostmanCollectionImporter(text, workspace=kind == "postman-workspace")
    if kind in ("asyncapi2", "asyncapi3"):
        from .importer_asyncapi import AsyncAPIImporter

        return AsyncAPIImporter(text, v3=kind == "asyncapi3")
    if kind == "graphql":
        from .importer_graphql import GraphQLImporter

        return GraphQLImporter(text)
    if kind == "protobuf":
        from .importer_protobuf import ProtobufImporter

        return ProtobufImporter(text)
    if kind == "soapui":
        from .importer_soapui import SoapUIProjectImporter

        return SoapUIProjectImporter(text)
    from .importer_har import HARImporter

    return HARImporter(text)


def jackson_parse_message(text: str) -> str:
    token = re.match(r"\s*([^\s\"{}\[\],:]*)", text)
    word = token.group(1) if token and token.group(1) else text.strip()[:1]
    return (
        f"Unrecognized token '{word}': was expecting (JSON String, Number, Array, Object "
        "or token 'null', 'true' or 'false')"
    )


# --- shared helpers ---------------------------------------------------------------------------


def _has(node: Any, key: str) -> bool:
    return isinstance(node, dict) and key in node


def _props(node: Any) -> list[tuple[str, Any]]:
    return list(node.items()) if isinstance(node, dict) else []


def _elements(node: Any) -> list[Any]:
    if isinstance(node, list):
        return list(node)
    if isinstance(node, dict):
        return list(node.values())
    return []


def _as_long(node: Any, default: int = 0) -> int:
    if isinstance(node, bool):
        return int(node)
    if isinstance(node, int):
        return node
    if isinstance(node, float):
        return int(node)
    if isinstance(node, str):
        try:
            return int(node.strip())
        except ValueError:
            try:
                return int(float(node.strip()))
            except ValueError:
                return default
    return default


def _as_boolean(node: Any, default: bool = False) -> bool:
    if isinstance(node, bool):
        return node
    if isinstance(node, (int, float)):
        return node != 0
    if isinstance(node, str):
        stripped = node.strip()
        if stripped == "true":
            return True
        if stripped == "false":
            return False
    return default


def _location(node: Any) -> str:
    location = as_text(node)
    if location not in PARAMETER_LOCATIONS:
        raise ImportCrashed(f"No enum constant ParameterLocation.{location}")
    return location


def _csv_values(text: str) -> list[str]:
    values: list[str] = []
    for value in (piece.strip() for piece in text.split(",")):
        if value not in values:
            values.append(value)
    return values


def complete_metadata(metadata: Metadata, node: Any) -> None:
    """MetadataExtractor.completeMetadata: annotations and labels as text."""
    for key, value in _props(path(node, "annotations")):
        metadata.annotations = {**(metadata.annotations or {}), key: as_text(value)}
    for key, value in _props(path(node, "labels")):
        metadata.labels = {**(metadata.labels or {}), key: as_text(value)}


def complete_operation_properties(operation: Operation, node: Any) -> None:
    """MetadataExtractor.completeOperationProperties (x-microcks-operation and APIMetadata)."""
    if _has(node, "delay"):
        operation.default_delay = _as_long(node["delay"], 0)
    if _has(node, "delayStrategy"):
        operation.default_delay_strategy = as_text(node["delayStrategy"])
    if _has(node, "frequency"):
        operation.default_delay = _as_long(node["frequency"], 0)
    if _has(node, "frequencyStrategy"):
        operation.default_delay_strategy = as_text(node["frequencyStrategy"])
    if _has(node, "dispatcher"):
        operation.dispatcher = as_text(node["dispatcher"])
    if _has(node, "dispatcherRules"):
        operation.dispatcher_rules = as_text(node["dispatcherRules"])
    if _has(node, "parameterConstraints"):
        for constraint_node in _elements(node["parameterConstraints"]):
            if not _has(constraint_node, "name") or not _has(constraint_node, "in"):
                raise ImportCrashed("parameter constraint without name or in")
            operation.add_parameter_constraint(
                ParameterConstraint(
                    name=as_text(constraint_node["name"]),
                    location=_location(constraint_node["in"]),
                    required=_as_boolean(path(constraint_node, "required")),
                    recopy=_as_boolean(path(constraint_node, "recopy")),
                    must_match_regexp=as_text(constraint_node["mustMatchRegexp"])
                    if _has(constraint_node, "mustMatchRegexp")
                    else None,
                )
            )
    if isinstance(path(node, "triggers"), list):
        for trigger in node["triggers"]:
            parts = as_text(trigger).split(":")
            if len(parts) == 3:
                info = {
                    "serviceName": parts[0],
                    "serviceVersion": parts[1],
                    "operationName": parts[2],
                }
                operation.trigger_infos = [*(operation.trigger_infos or []), info]


def _rules(rules: str | None) -> str:
    if rules is None:
        raise ImportCrashed("dispatcher without dispatcherRules")
    return rules


# --- OpenAPI 3 and Swagger 2 ----------------------------------------------------------------


class OpenAPIImporter:
    """OpenAPIImporter (and SwaggerImporter, which keeps its operations but yields no messages)."""

    def __init__(self, text: str, *, swagger: bool = False) -> None:
        self.swagger = swagger
        is_yaml: bool | None = None
        for number, raw_line in enumerate(split_lines(text)):
            line = java_trim(raw_line)
            if number == 0 and (line.startswith("{") or line.startswith("[")):
                is_yaml = False
            elif (
                line.startswith("---")
                or line.startswith("-")
                or line.startswith("openapi: ")
                or line.startswith("asyncapi: ")
            ):
                is_yaml = True
            if is_yaml is not None:
                break
        # Undecided format: Microcks unboxes a null Boolean and fails with its parsing error.
        if is_yaml is None:
            raise ImportRejected("JSON spec file parsing error")
        try:
            self.root = load_yaml(text) if is_yaml else load_json(text)
        except ParseError as exc:
            raise ImportRejected("JSON spec file parsing error") from exc

    # JSON references inside the document; external ones cannot be resolved for an upload.
    def _node_for_ref(self, reference: str) -> Any:
        if not reference.startswith("#/"):
            return MISSING
        return at(self.root, reference[1:])

    def _follow(self, node: Any) -> Any:
        if _has(node, "$ref"):
            return self._node_for_ref(as_text(node["$ref"]))
        return node

    def services(self) -> list[ParsedService]:
        info = path(self.root, "info")
        metadata = None
        if _has(info, "x-microcks"):
            metadata = Metadata()
            complete_metadata(metadata, info["x-microcks"])
        return [
            ParsedService(
                name=as_text(path(info, "title")),
                version=as_text(path(info, "version")),
                type="REST",
                metadata=metadata,
                operations=self._operations(),
            )
        ]

    def _operations(self) -> list[Operation]:
        operations = []
        for path_name, path_value in _props(path(self.root, "paths")):
            for verb, verb_value in _props(self._follow(path_value)):
                if verb not in VALID_VERBS:
                    continue
                operation = Operation(
                    name=f"{verb.upper()} {path_name.strip()}", method=verb.upper()
                )
                if _has(verb_value, "x-microcks-operation"):
                    complete_operation_properties(operation, verb_value["x-microcks-operation"])
                self._complete_dispatcher(operation, verb_value, path_name)
                self._complete_parameter_constraints(operation, verb_value)
                operations.append(operation)
        return operations

    def _complete_dispatcher(self, operation: Operation, verb_value: Any, path_name: str) -> None:
        if operation.dispatcher is not None:
            # Forced dispatcher: keep the generic pattern so the mock controller still finds it.
            operation.add_resource_path(path_name)
            return
        has_query = self._has_parameters(verb_value, "query")
        if has_query and d.url_has_parts(path_name):
            operation.dispatcher_rules = (
                d.extract_parts_from_uri_pattern(path_name)
                + " ?? "
                + self._operation_params(verb_value)
            )
            operation.dispatcher = d.URI_ELEMENTS
        elif has_query:
            operation.dispatcher_rules = self._operation_params(verb_value)
            operation.dispatcher = d.URI_PARAMS
        elif d.url_has_parts(path_name):
            operation.dispatcher_rules = d.extract_parts_from_uri_pattern(path_name)
            operation.dispatcher = d.URI_PARTS
        else:
            operation.add_resource_path(path_name)

    def _has_parameters(self, verb_value: Any, location: str) -> bool:
        if not _has(verb_value, "parameters"):
            return False
        return any(
            as_text(path(self._follow(p), "in")) == location
            for p in _elements(verb_value["parameters"])
        )

    def _operation_params(self, verb_value: Any) -> str:
        params: list[str] = []
        for parameter in _elements(path(verb_value, "parameters")):
            parameter = self._follow(parameter)
            if as_text(path(parameter, "in")) == "path":
                continue
            schema = self._follow(path(parameter, "schema"))
            if as_text(path(schema, "type")) == "object":
                params.append(" && ".join(key for key, _ in _props(path(schema, "properties"))))
            else:
                params.append(as_text(path(parameter, "name")))
        return " && ".join(params)

    def _complete_parameter_constraints(self, operation: Operation, verb_value: Any) -> None:
        for parameter in _elements(path(verb_value, "parameters")):
            parameter = self._follow(parameter)
            location = as_text(path(parameter, "in"))
            if _as_boolean(path(parameter, "required")) and location != "path":
                operation.add_parameter_constraint(
                    ParameterConstraint(
                        name=as_text(path(parameter, "name")),
                        location=_location(location),
                        required=True,
                    )
                )

    # --- examples -> messages ---------------------------------------------------------------

    def _example_value(self, example: Any, depth: int = 0) -> Any:
        """getExampleValue; None (Java null) when the example holds no value."""
        if depth > 20:
            return None
        if _has(example, "value"):
            return self._follow(example["value"])
        if _has(example, "externalValue"):
            external = as_text(example["externalValue"])
            if external.startswith("data:"):
                return example["externalValue"]
            return self._node_for_ref(external)
        if _has(example, "$ref"):
            return self._example_value(self._follow(example), depth + 1)
        return None

    def _serialized_example(self, example: Any) -> str | None:
        value = self._example_value(example)
        return None if value is None else value_string(value)

    def _parameters_by_example(self, node: Any, location: str) -> dict[str, d.Pairs]:
        results: dict[str, d.Pairs] = {}
        for parameter in _elements(path(node, "parameters")):
            parameter = self._follow(parameter)
            name = as_text(path(parameter, "name"))
            if not (
                _has(parameter, "in")
                and as_text(parameter["in"]) == location
                and _has(parameter, "examples")
            ):
                continue
            for example_name, example in _props(parameter["examples"]):
                value = self._example_value(example)
                if value is None:
                    continue
                entries = results.setdefault(example_name, [])
                if location == "query" and isinstance(value, list):
                    entries.extend((name, value_string(item)) for item in value)
                elif location == "query" and isinstance(value, dict):
                    entries.extend((key, value_string(item)) for key, item in value.items())
                else:
                    entries.append((name, value_string(value)))
        return results

    def _request_bodies(self, verb_value: Any) -> dict[str, Request]:
        results: dict[str, Request] = {}
        content = path(path(verb_value, "requestBody"), "content")
        for content_type, content_value in _props(content):
            if not _has(content_value, "examples"):
                continue
            for example_name, example in _props(content_value["examples"]):
                request = Request(name=example_name, content=self._serialized_example(example))
                request.add_header(Header("Content-Type", [content_type]))
                results[example_name] = request
        return results

    def _headers_by_example(self, response_node: Any) -> dict[str, list[Header]]:
        results: dict[str, list[Header]] = {}
        response_node = self._follow(response_node)
        for header_name, header_node in _props(path(response_node, "headers")):
            for example_name, example in _props(path(header_node, "examples")):
                value = self._serialized_example(example)
                if value is None:
                    raise ImportCrashed("header example without value")
                results.setdefault(example_name, []).append(Header(header_name, _csv_values(value)))
        return results

    def _response_content(self, response: Any, depth: int = 0) -> Any:
        if _has(response, "$ref") and depth < 20:
            return self._response_content(self._follow(response), depth + 1)
        return path(response, "content")

    def messages(self, service: Service, operation: Operation) -> list[Exchange]:
        if self.swagger:
            return []
        # Java keys pairs by Request identity: a request-body example shared by two media types
        # keeps only its last response.
        result: dict[int, Exchange] = {}
        for path_name, path_value in _props(path(self.root, "paths")):
            path_value = self._follow(path_value)
            path_level = self._parameters_by_example(path_value, "path")
            for verb, verb_value in _props(path_value):
                if operation.name != f"{verb.upper()} {path_name.strip()}":
                    continue
                by_example = _ExampleParameters(
                    path={**self._parameters_by_example(verb_value, "path"), **path_level},
                    query=self._parameters_by_example(verb_value, "query"),
                    header=self._parameters_by_example(verb_value, "header"),
                    bodies=self._request_bodies(verb_value),
                )
                if not _has(verb_value, "responses"):
                    continue
                root, rules = d.root_dispatcher(operation.dispatcher, operation.dispatcher_rules)
                for code, code_value in _props(verb_value["responses"]):
                    contents = _props(self._response_content(code_value))
                    if not contents and _has(code_value, "x-microcks-refs"):
                        self._no_content_pairs(
                            operation, root, rules, by_example, code, code_value, result
                        )
                    for media_type, media_value in contents:
                        self._content_pairs(
                            operation,
                            root,
                            rules,
                            by_example,
                            code,
                            code_value,
                            media_type,
                            media_value,
                            result,
                        )
        return list(result.values())

    def _content_pairs(
        self,
        operation: Operation,
        root: str | None,
        rules: str | None,
        by_example: _ExampleParameters,
        code: str,
        code_value: Any,
        media_type: str,
        media_value: Any,
        result: dict[int, Exchange],
    ) -> None:
        headers_by_example = self._headers_by_example(code_value)
        for example_name, example in _props(self._follow(path(media_value, "examples"))):
            response = Response(
                name=example_name,
                media_type=media_type,
                status=code,
                content=self._serialized_example(example),
                fault=not code.startswith("2"),
            )
            for header in headers_by_example.get(example_name, []):
                response.add_header(header)
            request = by_example.bodies.get(example_name) or Request(name=example_name)
            request.add_header(Header("Accept", [media_type]))
            if not _complete_path_parameters(request, operation, by_example.path.get(example_name)):
                continue
            _complete_query_and_headers(request, by_example, example_name)
            _complete_dispatch_criteria(operation, root, rules, by_example, example_name, response)
            result[id(request)] = (request, response)

    def _no_content_pairs(
        self,
        operation: Operation,
        root: str | None,
        rules: str | None,
        by_example: _ExampleParameters,
        code: str,
        code_value: Any,
        result: dict[int, Exchange],
    ) -> None:
        refs = code_value["x-microcks-refs"]
        if not isinstance(refs, list):
            return
        headers_by_example = self._headers_by_example(code_value)
        for ref in refs:
            example_name = ref if isinstance(ref, str) else None
            if example_name is None:
                continue
            request = by_example.bodies.get(example_name)
            known = (
                request is not None
                or example_name in by_example.path
                or example_name in by_example.query
                or example_name in by_example.header
            )
            if not known:
                continue
            request = request or Request(name=example_name)
            if not _complete_path_parameters(request, operation, by_example.path.get(example_name)):
                continue
            response = Response(name=example_name, status=code, fault=not code.startswith("2"))
            for header in headers_by_example.get(example_name, []):
                response.add_header(header)
            _complete_query_and_headers(request, by_example, example_name)
            _complete_dispatch_criteria(operation, root, rules, by_example, example_name, response)
            result[id(request)] = (request, response)


@dataclass
class _ExampleParameters:
    path: dict[str, d.Pairs]
    query: dict[str, d.Pairs]
    header: dict[str, d.Pairs]
    bodies: dict[str, Request]


def _complete_path_parameters(
    request: Request, operation: Operation, parts: d.Pairs | None
) -> bool:
    """Add an example's path parameters; False when a parts dispatcher has none (pair dropped)."""
    if parts is not None:
        for name, value in parts:
            request.add_query_parameter(name, value)
        return True
    return operation.dispatcher not in (d.URI_PARTS, d.URI_ELEMENTS)


def _complete_query_and_headers(
    request: Request, by_example: _ExampleParameters, example: str
) -> None:
    for name, value in by_example.query.get(example, []):
        request.add_query_parameter(name, value)
    for name, value in by_example.header.get(example, []):
        request.add_header(Header(name, _csv_values(value)))


def _complete_dispatch_criteria(
    operation: Operation,
    root: str | None,
    rules: str | None,
    by_example: _ExampleParameters,
    example: str,
    response: Response,
) -> None:
    criteria = None
    pieces = operation.name.split(" ")
    if len(pieces) < 2:
        raise ImportCrashed("operation name without a path")
    pattern = pieces[1]
    if root == d.URI_PARAMS:
        criteria = d.build_from_params_map(_rules(rules), by_example.query.get(example))
        operation.add_resource_path(pattern)
    elif root == d.URI_PARTS:
        parts = by_example.path.get(example)
        criteria = d.build_from_parts_map(_rules(rules), parts)
        operation.add_resource_path(d.build_uri_from_pattern(pattern, parts))
    elif root == d.URI_ELEMENTS:
        parts = by_example.path.get(example)
        criteria = d.build_from_parts_map(_rules(rules), parts)
        criteria += d.build_from_params_map(_rules(rules), by_example.query.get(example))
        operation.add_resource_path(d.build_uri_from_pattern(pattern, parts))
    elif root == d.QUERY_HEADER:
        criteria = d.build_from_params_map(_rules(rules), by_example.header.get(example))
        operation.add_resource_path(pattern)
    response.dispatch_criteria = criteria


# --- APIMetadata and APIExamples ------------------------------------------------------------


def _load_microcks_yaml(text: str) -> Any:
    try:
        return load_yaml(text)
    except ParseError as exc:
        raise ImportRejected("APIMetadata spec file parsing error") from exc


def _metadata_node(spec: Any) -> Any:
    if not _has(spec, "metadata") or spec["metadata"] is None:
        raise ImportRejected("Mandatory metadata property is missing in APIMetadata")
    return spec["metadata"]


def _named_service(
    node: Any, metadata: Metadata | None, operations: list[Operation]
) -> ParsedService:
    """The service an APIMetadata/APIExamples document names in its `metadata`."""
    return ParsedService(
        name=as_text(path(node, "name")),
        version=as_text(path(node, "version")),
        type=None,
        metadata=metadata,
        operations=operations,
    )


class MetadataImporter:
    """APIMetadata: labels/annotations and operation properties, no messages."""

    def __init__(self, text: str) -> None:
        self.spec = _load_microcks_yaml(text)

    def services(self) -> list[ParsedService]:
        node = _metadata_node(self.spec)
        metadata = Metadata()
        complete_metadata(metadata, node)
        operations = []
        for name, value in _props(path(self.spec, "operations")):
            operation = Operation(name=name)
            complete_operation_properties(operation, value)
            operations.append(operation)
        return [_named_service(node, metadata, operations)]

    def messages(self, service: Service, operation: Operation) -> list[Exchange]:
        return []


class ExamplesImporter:
    """APIExamples: request/response examples keyed by existing operation names."""

    def __init__(self, text: str) -> None:
        self.spec = _load_microcks_yaml(text)

    def services(self) -> list[ParsedService]:
        node = _metadata_node(self.spec)
        operations = [Operation(name=name) for name, _ in _props(path(self.spec, "operations"))]
        return [_named_service(node, None, operations)]

    def messages(self, service: Service, operation: Operation) -> list[Exchange]:
        result: list[Exchange] = []
        for operation_name, examples in _props(path(self.spec, "operations")):
            if operation_name != operation.name:
                continue
            for example_name, example in _props(examples):
                if service.type == "EVENT":
                    exchange: Exchange | None = _event_example(example_name, example)
                else:
                    exchange = self._exchange(service, operation, example_name, example)
                if exchange is not None:
                    result.append(exchange)
        return result

    def _exchange(
        self, service: Service, operation: Operation, example_name: str, example: Any
    ) -> Exchange | None:
        if not (_has(example, "request") and _has(example, "response")):
            return None
        request_node, response_node = example["request"], example["response"]
        request = Request(name=example_name, content=_serialized(path(request_node, "body")))
        parameters: d.Pairs | None = None
        if _has(request_node, "parameters"):
            parameters = []
            for name, value in _props(request_node["parameters"]):
                request.add_query_parameter(name, value_string(value))
                if isinstance(value, list):
                    parameters.extend((name, value_string(item)) for item in value)
                elif isinstance(value, dict):
                    parameters.extend((key, value_string(item)) for key, item in value.items())
                else:
                    parameters.append((name, value_string(value)))
        for name, value in _props(path(request_node, "headers")):
            request.add_header(Header(name, _csv_values(value_string(value))))

        response = Response(name=example_name, status="200")
        for name, value in _props(path(response_node, "headers")):
            response.add_header(Header(name, _csv_values(value_string(value))))
        if _has(response_node, "mediaType"):
            response.media_type = as_text(response_node["mediaType"])
        if _has(response_node, "status"):
            response.status = as_text(response_node["status"])
            # Microcks' own condition (`!2xx || !3xx`) is always true: any explicit status is a fault.
            response.fault = True
        response.content = _serialized(path(response_node, "body"))
        self._complete_dispatch_criteria(
            service, operation, parameters, request_node, response_node, request, response
        )
        return request, response

    def _complete_dispatch_criteria(
        self,
        service: Service,
        operation: Operation,
        parameters: d.Pairs | None,
        request_node: Any,
        response_node: Any,
        request: Request,
        response: Response,
    ) -> None:
        root, rules = d.root_dispatcher(operation.dispatcher, operation.dispatcher_rules)
        pattern = operation.name.split(" ")[1] if " " in operation.name else operation.name
        criteria = None
        if root == d.URI_PARAMS:
            criteria = d.build_from_params_map(_rules(rules), parameters)
            operation.add_resource_path(pattern)
        elif root == d.URI_PARTS:
            criteria = d.build_from_parts_map(_rules(rules), parameters)
            operation.add_resource_path(d.build_uri_from_pattern(pattern, parameters))
        elif root == d.URI_ELEMENTS:
            entries = parameters or []
            path_keys = {
                key
                for key, _ in entries
                if "/{" + key + "}" in operation.name or "/:" + key in operation.name
            }
            path_entries = [(k, v) for k, v in entries if k in path_keys]
            query_entries = [(k, v) for k, v in entries if k not in path_keys]
            criteria = d.build_from_parts_map(_rules(rules), path_entries)
            criteria += d.build_from_params_map(_rules(rules), query_entries)
            operation.add_resource_path(d.build_uri_from_pattern(pattern, parameters))
        elif root == d.QUERY_HEADER:
            if _has(request_node, "headers"):
                headers = {name: value_string(v) for name, v in _props(request_node["headers"])}
                criteria = d.extract_from_param_map(_rules(rules), headers)
        elif root == d.QUERY_ARGS:
            # GraphQL: criteria from request.body.variables; gRPC: from the request body itself.
            if service.type == "GRAPHQL" and _has(request_node, "body"):
                criteria = query_args_criteria(
                    _rules(rules), path(request_node["body"], "variables")
                )
            elif service.type == "GRPC":
                criteria = query_args_criteria_from_text(_rules(rules), request.content)
        elif _has(response_node, "dispatchCriteria"):
            criteria = as_text(response_node["dispatchCriteria"])
        operation.add_resource_path(pattern)
        response.dispatch_criteria = criteria


def _serialized(node: Any) -> str | None:
    if node is MISSING:
        return None
    if node is None:
        # Jackson's get() gives a NullNode for an explicit null: its text is "null".
        return "null"
    return value_string(node)


def _event_example(example_name: str, example: Any) -> EventMessage | None:
    """ExamplesImporter.extractUnidirectionalEvent: `eventMessage` {headers, payload}."""
    if not _has(example, "eventMessage"):
        return None
    node = example["eventMessage"]
    event = EventMessage(name=example_name)
    for name, value in _props(path(node, "headers")):
        event.add_header(Header(name, _csv_values(value_string(value))))
    event.content = _serialized(path(node, "payload")) if _has(node, "payload") else None
    return event


def _string_map(node: Any) -> dict[str, str] | None:
    """Jackson's convertValue to TreeMap<String,String>: scalars as text, nested values refused."""
    if not isinstance(node, dict):
        return None
    result = {}
    for key, value in node.items():
        if isinstance(value, (dict, list)):
            return None
        result[key] = value_string(value) if value is not None else None
    return result


def query_args_criteria(rules: str, variables: Any) -> str:
    """extractQueryArgsCriteria over a JSON node; "" where Jackson cannot map it."""
    params = _string_map(variables)
    if params is None:
        return ""
    return d.extract_from_param_map(rules, {k: v for k, v in params.items() if v is not None})


def query_args_criteria_from_text(rules: str, text: str | None) -> str:
    """extractQueryArgsCriteria over JSON text (gRPC bodies, Postman GraphQL variables)."""
    try:
        node = json.loads(text) if text is not None else None
    except ValueError:
        return ""
    return query_args_criteria(rules, node)
