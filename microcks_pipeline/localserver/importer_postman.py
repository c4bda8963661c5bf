"""Postman collection v2/v2.1 importer as Microcks' PostmanCollectionImporter (and the workspace
variant that wraps it in `collection`): a REST service as main, examples for any service as secondary."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote_plus

from . import dispatch as d
from .importers import (
    Exchange,
    ImportRejected,
    ParsedService,
    _elements,
    _has,
    query_args_criteria_from_text,
)
from .jsonnode import MISSING, ParseError, as_text, load_json, path
from .model import Header, Operation, Request, Response, Service

COLLECTION_VERSION_ERROR = "Only Postman v2 Collection are supported."
OPERATION_NAME_EXPRESSION_PREFIX = "(GET|POST|PUT|PATCH|DELETE|OPTION)?( *)(/)?"


def are_operations_equivalent(reference: str, candidate: str) -> bool:
    """PostmanUtil.areOperationsEquivalent: case-insensitive, `{x}` ~ `:x`, optional verb prefix."""
    if reference.lower() == candidate.lower():
        return True
    if "/{" in reference:
        transformed = reference.replace("/{", "/:").replace("}", "")
        if transformed.lower() == candidate.lower():
            return True
    try:
        return re.fullmatch(OPERATION_NAME_EXPRESSION_PREFIX + reference, candidate) is not None
    except re.error:
        return False


def remove_protocol_and_host_port(url: str) -> str:
    if url.startswith("https://"):
        url = url[len("https://") :]
    if url.startswith("http://"):
        url = url[len("http://") :]
    if "/" in url:
        url = url[url.index("/") :]
    return url


def _url_text(request: Any) -> str:
    url = path(request, "url")
    if isinstance(url, str):
        return url
    return as_text(path(url, "raw"))


def build_operation_name(item: Any) -> str:
    url = _url_text(path(item, "request"))
    if "?" in url:
        url = url[: url.index("?")]
    return f"{as_text(path(path(item, 'request'), 'method'))} {remove_protocol_and_host_port(url)}"


def extract_resource_path(url: str) -> str:
    result = remove_protocol_and_host_port(url)
    if "?" in result:
        result = result[: result.index("?")]
    return result[:-1] if result.endswith("/") else result


def _url_has_parameters(url: str) -> bool:
    return "?" in url and "=" in url


def extract_params_from_uri(url: str) -> str:
    """DispatchCriteriaHelper.extractParamsFromURI: query parameter names joined by ` && `."""
    names = []
    for parameter in url[url.index("?") + 1 :].split("&"):
        key = unquote_plus(parameter.split("=")[0])
        if key:
            names.append(key)
    return " && ".join(names)


def _text_or_empty(node: Any) -> str:
    """Jackson's asText(""): the default for a missing or null node."""
    return "" if node is MISSING or node is None else as_text(node)


def _headers(node: Any) -> list[Header] | None:
    if not isinstance(node, list) or not node:
        return None
    return [Header(as_text(path(h, "key")), [as_text(path(h, "value"))]) for h in node]


def _pairs(node: Any) -> d.Pairs:
    return [(as_text(path(v, "key")), as_text(path(v, "value"))) for v in _elements(node)]


class PostmanCollectionImporter:
    def __init__(self, text: str, *, workspace: bool = False) -> None:
        try:
            root = load_json(text)
        except ParseError as exc:
            raise ImportRejected("Postman collection file parsing error") from exc
        # PostmanWorkspaceCollectionImporter: the collection is wrapped in a `collection` node.
        self.collection = path(root, "collection") if workspace else root

    def services(self) -> list[ParsedService]:
        if not _has(self.collection, "info"):
            raise ImportRejected(COLLECTION_VERSION_ERROR)
        info = self.collection["info"]
        operations: dict[str, Operation] = {}
        for item in _elements(path(self.collection, "item")):
            self._collect_operation("", item, operations)
        return [
            ParsedService(
                name=as_text(path(info, "name")),
                version=self._version(info),
                type="REST",
                metadata=None,
                operations=list(operations.values()),
            )
        ]

    @staticmethod
    def _version(info: Any) -> str:
        """fillServiceDefinition: `info.version` (string or structured), else `version=` in the description."""
        version = None
        if _has(info, "version"):
            node = info["version"]
            if _has(node, "identifier"):
                version = as_text(node["identifier"])
            elif all(_has(node, k) for k in ("major", "minor", "patch")):
                version = ".".join(as_text(node[k]) for k in ("major", "minor", "patch"))
            else:
                version = as_text(node)
        else:
            description = as_text(path(info, "description"))
            if "version=" in description:
                description = description[description.index("version=") :]
                if " " in description:
                    description = description[: description.index(" ")]
                pieces = [p for p in description.split("=")]
                while pieces and pieces[-1] == "":
                    pieces.pop()
                if len(pieces) > 1:
                    version = pieces[1]
        if version is None:
            raise ImportRejected("Version property is missing in Collection description")
        return version

    def _collect_operation(self, folder: str, item: Any, operations: dict[str, Operation]) -> None:
        """extractOperationV2: folders recurse; a request becomes `<METHOD> <path>`."""
        if not _has(item, "request"):
            for child in _elements(path(item, "item")):
                self._collect_operation(
                    f"{folder}/{as_text(path(item, 'name'))}", child, operations
                )
            return
        name = build_operation_name(item)
        url = _url_text(item["request"])
        if folder + "/" in url:
            url = remove_protocol_and_host_port(url)
        operation = operations.get(name)
        if operation is None:
            operation = Operation(name=name, method=as_text(path(item["request"], "method")))
            if _url_has_parameters(url) and "/:" in url:
                operation.dispatcher_rules = (
                    d.extract_parts_from_uri_pattern(url) + " ?? " + extract_params_from_uri(url)
                )
                operation.dispatcher = d.URI_ELEMENTS
            elif _url_has_parameters(url):
                operation.dispatcher_rules = extract_params_from_uri(url)
                operation.dispatcher = d.URI_PARAMS
                operation.add_resource_path(extract_resource_path(url))
            elif "/:" in url:
                operation.dispatcher_rules = d.extract_parts_from_uri_pattern(url)
                operation.dispatcher = d.URI_PARTS
            else:
                operation.add_resource_path(extract_resource_path(url))
        operations[name] = operation

    def messages(self, service: Service, operation: Operation) -> list[Exchange]:
        if not _has(self.collection, "info"):
            raise ImportRejected(COLLECTION_VERSION_ERROR)
        result: list[Exchange] = []
        for item in _elements(path(self.collection, "item")):
            self._item_messages(item, operation, result)
        return result

    def _item_messages(self, item: Any, operation: Operation, result: list[Exchange]) -> None:
        if not _has(item, "request"):
            for child in _elements(path(item, "item")):
                self._item_messages(child, operation, result)
            return
        if not are_operations_equivalent(operation.name, build_operation_name(item)):
            return
        root, rules = d.root_dispatcher(operation.dispatcher, operation.dispatcher_rules)
        for response_node in _elements(path(item, "response")):
            request_node = path(response_node, "originalRequest")
            url = _url_text(request_node)
            criteria = self._criteria(operation, root, rules, request_node, url)
            request = self._request(request_node, as_text(path(response_node, "name")))
            result.append((request, self._response(response_node, criteria)))

    @staticmethod
    def _criteria(
        operation: Operation, root: str | None, rules: str | None, request_node: Any, url: str
    ) -> str | None:
        parts = _pairs(path(path(request_node, "url"), "variable"))
        if root == d.URI_PARAMS:
            operation.add_resource_path(extract_resource_path(url))
            return d.extract_from_uri_params(operation.dispatcher_rules or "", url)
        if root in (d.URI_PARTS, d.URI_ELEMENTS):
            criteria = d.build_from_parts_map(rules or "", parts)
            if root == d.URI_ELEMENTS:
                criteria += d.extract_from_uri_params(rules or "", url)
            operation.add_resource_path(d.build_uri_from_pattern(extract_resource_path(url), parts))
            return criteria
        if root == d.QUERY_HEADER:
            operation.add_resource_path(extract_resource_path(url))
            headers = dict(_pairs(path(request_node, "header")))
            return d.extract_from_param_map(rules or "", headers)
        if root == d.QUERY_ARGS:
            body = path(request_node, "body")
            criteria = None
            if _has(body, "graphql"):
                variables = as_text(path(body["graphql"], "variables"))
                criteria = query_args_criteria_from_text(rules or "", variables)
            if _has(body, "raw"):
                criteria = query_args_criteria_from_text(rules or "", as_text(body["raw"]))
            return criteria
        if url:
            operation.add_resource_path(extract_resource_path(url))
        return None

    @staticmethod
    def _request(node: Any, name: str) -> Request:
        request = Request(name=name, headers=_headers(path(node, "header")))
        body = path(node, "body")
        if _has(body, "raw"):
            request.content = as_text(body["raw"])
        elif _has(body, "graphql"):
            query = as_text(path(body["graphql"], "query"))
            variables = as_text(path(body["graphql"], "variables"))
            content = '{"query": "' + query.replace("\n", "\\n") + '"'
            try:
                parsed = load_json(variables)
                if isinstance(parsed, dict) and parsed:
                    content += ', "variables": ' + variables
            except ParseError:
                pass
            request.content = content + "}"
        url = path(node, "url")
        for name_, value in _pairs(path(url, "variable")) + _pairs(path(url, "query")):
            request.add_query_parameter(name_, value)
        return request

    @staticmethod
    def _response(node: Any, criteria: str | None) -> Response:
        code = path(node, "code")
        response = Response(
            name=as_text(path(node, "name")),
            status="200" if code is MISSING or code is None else as_text(code),
            headers=_headers(path(node, "header")),
            content=_text_or_empty(path(node, "body")),
        )
        for header in response.headers or []:
            if header.name.lower() == "content-type":
                response.media_type = header.values[0]
        if response.media_type is None:
            language = as_text(path(node, "_postman_previewlanguage"))
            if language == "json":
                response.media_type = "application/json"
            elif language == "xml":
                response.media_type = "text/xml"
        response.dispatch_criteria = criteria
        return response
