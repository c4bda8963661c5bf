"""HAR (HTTP Archive 1.1/1.2) importer as Microcks' HARImporter, the default importer for content
no other rule recognises: identity from `microcksId:` in `log.comment` (`apiPrefix:` trims URLs),
service type guessed from the entries, operations from the recorded requests (similar URLs merged
into `{partN}` templates), one example per entry."""

from __future__ import annotations

import base64
import re
from typing import Any

from graphql import GraphQLError, parse
from graphql.language import FieldNode, OperationDefinitionNode

from . import dispatch as d
from .importers import (
    Exchange,
    ImportCrashed,
    ImportRejected,
    ParsedService,
    _elements,
    jackson_parse_message,
    java_trim,
    query_args_criteria,
)
from .jsonnode import ParseError, as_text, load_json, path
from .model import Header, Operation, Request, Response, Service

VALID_VERSIONS = ("1.1", "1.2")
MICROCKS_ID_STARTER = "microcksId:"
API_PREFIX_STARTER = "apiPrefix:"
INVALID_ENTRY_EXTENSIONS = (".ico", ".html", ".css", ".js", ".png", ".jpg", ".ttf", ".woff2")
UNWANTED_HEADERS = (
    "host",
    "sec-fetch-dest",
    "sec-fetch-mode",
    "sec-fetch-user",
    "sec-fetch-site",
    "sec-gpc",
    "sec-ch-ua",
    "sec-ch-ua-mobile",
    "sec-ch-ua-platform",
    "upgrade-insecure-requests",
    "user-agent",
    "date",
    "vary",
)


def remove_protocol_and_host_port(url: str) -> str:
    if url.startswith("https://"):
        url = url[8:]
    if url.startswith("http://"):
        url = url[7:]
    return url[url.index("/") :] if "/" in url else url


def extract_common_prefix(uris: list[str]) -> str:
    """DispatchCriteriaHelper.extractCommonPrefix: up to the last `/` before the first mismatch."""
    first = uris[0]
    for length, char in enumerate(first):
        for uri in uris[1:]:
            if length >= len(uri) or uri[length] != char:
                common = uri[:length]
                if "/" not in common:
                    # Java: substring(0, -1) throws StringIndexOutOfBoundsException.
                    raise ImportCrashed("URIs without a common path")
                return common[: common.rfind("/")]
    return first


def extract_common_suffix(uris: list[str]) -> str | None:
    """DispatchCriteriaHelper.extractCommonSuffix: from the first `/` of the common end, if any."""
    first = uris[0]
    for length in range(len(first)):
        char = first[len(first) - length - 1]
        for uri in uris[1:]:
            if length >= len(uri) or uri[len(uri) - length - 1] != char:
                if length > 0:
                    common = uri[len(uri) - length - 1 :]
                    return common[common.index("/") :] if "/" in common else None
                return None
    return None


def _parts_count(uris: list[str]) -> tuple[str, str | None, int]:
    prefix, suffix = extract_common_prefix(uris), extract_common_suffix(uris)
    count = 0
    for uri in uris:
        parts = uri[len(prefix) + 1 :]
        if suffix is not None and suffix in parts:
            parts = parts[: parts.rfind(suffix)]
        count = max(count, len(_java_split(parts, "/")))
    return prefix, suffix, count


def _java_split(text: str, separator: str) -> list[str]:
    pieces = text.split(separator)
    while len(pieces) > 1 and pieces[-1] == "":
        pieces.pop()
    return pieces


def extract_parts_from_uris(uris: list[str]) -> str:
    """DispatchCriteriaHelper.extractPartsFromURIs: `part1 && part2...`."""
    _, _, count = _parts_count(uris)
    return " && ".join(f"part{i + 1}" for i in range(count))


def build_template_url(uris: list[str]) -> str:
    """DispatchCriteriaHelper.buildTemplateURLWithPartsFromURIs: `/common/{part1}/{part2}[/end]`."""
    prefix, suffix, count = _parts_count(uris)
    template = prefix
    if count:
        template += "/" + "/".join(f"{{part{i + 1}}}" for i in range(count))
    if suffix is not None:
        template += "/" + suffix
    return template


def _similarity(base: str, candidate: str) -> int:
    """getSimilarityScore: equal `/`-separated pieces, weighted by the common prefix."""
    base_paths, candidate_paths = base.split("/"), candidate.split("/")
    step = 100 // len(base_paths)
    score = common = 0
    still_common = True
    for index, piece in enumerate(base_paths):
        if index < len(candidate_paths) and piece == candidate_paths[index]:
            if still_common:
                common += 1
            score += step
        else:
            still_common = False
    return score + len(base_paths) * common


def _without_verb(operation_name: str) -> str:
    return (
        operation_name[operation_name.index(" ") + 1 :] if " " in operation_name else operation_name
    )


def _content_text(content: Any) -> str:
    text = as_text(path(content, "text"))
    if as_text(path(content, "encoding")) == "base64":
        try:
            text = base64.b64decode(text).decode("utf-8", errors="replace")
        except ValueError:
            pass
    return text


def _headers(node: Any) -> list[Header]:
    headers: dict[str, Header] = {}
    for item in _elements(node):
        name = as_text(path(item, "name"))
        if name.lower() in UNWANTED_HEADERS:
            continue
        header = headers.setdefault(name, Header(name, []))
        value = as_text(path(item, "value"))
        if value not in header.values:
            header.values.append(value)
    return list(headers.values())


class HARImporter:
    def __init__(self, text: str) -> None:
        try:
            self.spec = load_json(text)
        except ParseError as exc:
            raise ImportRejected(jackson_parse_message(text)) from exc
        self.api_prefix: str | None = None
        self.entries_of: list[tuple[Operation, list[Any]]] = []

    def services(self) -> list[ParsedService]:
        log = path(self.spec, "log")
        if as_text(path(log, "version")) not in VALID_VERSIONS:
            raise ImportRejected("HAR version is not supported. Currently supporting: [1.1, 1.2]")
        comment = as_text(path(log, "comment"))
        if not comment:
            raise ImportRejected(
                "Expecting a comment in HAR log to specify Microcks service identifier"
            )
        name = version = None
        for line in re.split(r"\r?\n|\r", comment):
            line = java_trim(line)
            if line.startswith(MICROCKS_ID_STARTER):
                identifiers = line[len(MICROCKS_ID_STARTER) :]
                if ":" not in identifiers:
                    raise ImportRejected(
                        "microcksId comment is malformed. "
                        "Expecting 'microcksId: <API_name>:<API_version>'"
                    )
                pieces = identifiers.split(":")
                name, version = java_trim(pieces[0]), java_trim(pieces[1])
            elif line.startswith(API_PREFIX_STARTER):
                self.api_prefix = java_trim(line[len(API_PREFIX_STARTER) :])
        if name is None or version is None:
            # Microcks' own text (copied from its GraphQL importer).
            raise ImportRejected(
                "No microcksId: comment found into GraphQL schema to get API name and version"
            )
        entries = self._valid_entries()
        service_type = self._guess_type(entries)
        operations = self._operations(service_type, entries)
        return [ParsedService(name, version, service_type, None, operations)]

    def _valid_entries(self) -> list[Any]:
        """filterValidEntries: no static resources, only URLs under the apiPrefix."""
        valid = []
        for entry in _elements(path(path(self.spec, "log"), "entries")):
            url = as_text(path(path(entry, "request"), "url"))
            if "." in url and url[url.rfind(".") :] in INVALID_ENTRY_EXTENSIONS:
                continue
            if self.api_prefix is not None and not (
                url.startswith(self.api_prefix)
                or remove_protocol_and_host_port(url).startswith(self.api_prefix)
            ):
                continue
            valid.append(entry)
        return valid

    @staticmethod
    def _guess_type(entries: list[Any]) -> str:
        """countRequestsByServiceType: GRAPHQL or SOAP_HTTP when they outnumber the others."""
        counts = {"REST": 0, "GRAPHQL": 0, "SOAP_HTTP": 0}
        for entry in entries:
            content = path(path(entry, "response"), "content")
            mime_type, text = as_text(path(content, "mimeType")), _content_text(content)
            kind = "REST"
            if mime_type == "application/json":
                request_text = as_text(path(path(path(entry, "request"), "postData"), "text"))
                if '"data":' in text and any(
                    word in request_text for word in ("query", "mutation", "fragment")
                ):
                    kind = "GRAPHQL"
            elif mime_type == "text/xml" and ":Envelope" in text and ":Body/>" in text:
                kind = "SOAP_HTTP"
            counts[kind] += 1
        if counts["GRAPHQL"] > counts["REST"] and counts["GRAPHQL"] > counts["SOAP_HTTP"]:
            return "GRAPHQL"
        if counts["SOAP_HTTP"] > counts["REST"] and counts["SOAP_HTTP"] > counts["GRAPHQL"]:
            return "SOAP_HTTP"
        return "REST"

    def _shorten(self, url: str) -> str:
        prefix = self.api_prefix
        if prefix is not None:
            if prefix.startswith(("http://", "https://")):
                return url[len(prefix) + 1 :]
            url = remove_protocol_and_host_port(url)
            return url[len(prefix) :] if url.startswith(prefix) else url
        return remove_protocol_and_host_port(url)

    def _operations(self, service_type: str, entries: list[Any]) -> list[Operation]:
        """extractOperations: one per method and URL; a similar URL turns it into a template."""
        discovered: dict[str, Operation] = {}
        for entry in entries:
            request = path(entry, "request")
            method = as_text(path(request, "method"))
            url = as_text(path(request, "url"))
            base_url = self._shorten(url)
            dispatcher = d.URI_PARTS
            if "?" in base_url:
                base_url = base_url[: base_url.index("?")]
                dispatcher = d.URI_PARAMS
            name = f"{method} {base_url}"
            if service_type == "GRAPHQL":
                method, name, dispatcher = self._graphql_operation(
                    as_text(path(path(request, "postData"), "text")), method, name, dispatcher
                )
            existing = discovered.get(name)
            if existing is not None:
                self._entries(existing).append(entry)
                continue
            similar = self._most_similar(name, method, discovered)
            if similar is not None:
                uris = [_without_verb(similar.name), _without_verb(name)]
                similar.name = f"{method} {build_template_url(uris)}"
                if similar.dispatcher == d.URI_PARAMS:
                    similar.dispatcher = d.URI_ELEMENTS
                else:
                    similar.dispatcher = d.URI_PARTS
                    similar.dispatcher_rules = extract_parts_from_uris(uris)
                    similar.add_resource_path(uris[0])
                    similar.add_resource_path(uris[1])
                self._entries(similar).append(entry)
                continue
            operation = Operation(name=name, method=method, dispatcher=dispatcher)
            if dispatcher == d.URI_PARAMS:
                operation.dispatcher_rules = _params_from_uri(url)
            elif dispatcher == d.URI_PARTS:
                operation.add_resource_path(base_url)
            discovered[name] = operation  # keyed by the first name, as Microcks' map
            self.entries_of.append((operation, [entry]))
        return list(discovered.values())

    @staticmethod
    def _graphql_operation(
        text: str, method: str, name: str, dispatcher: str
    ) -> tuple[str, str, str]:
        try:
            query = load_json(text)
            document = parse(as_text(path(query, "query")))
            definition = document.definitions[0]
            if not isinstance(definition, OperationDefinitionNode):
                return method, name, dispatcher
            field = definition.selection_set.selections[0]
            if not isinstance(field, FieldNode):
                return method, name, dispatcher
            graphql_method = definition.operation.value.upper()
            return (
                graphql_method,
                field.name.value,
                d.QUERY_ARGS if graphql_method == "QUERY" else dispatcher,
            )
        except (ParseError, GraphQLError, IndexError):
            return method, name, dispatcher

    def _entries(self, operation: Operation) -> list[Any]:
        return next(entries for op, entries in self.entries_of if op is operation)

    @staticmethod
    def _most_similar(name: str, method: str, discovered: dict[str, Operation]) -> Operation | None:
        pieces = len(name.split("/"))
        best, best_score = None, 0
        for operation in discovered.values():
            if operation.method != method or len(operation.name.split("/")) != pieces:
                continue
            score = _similarity(operation.name, name)
            if score > 70 and score > best_score:
                best, best_score = operation, score
        return best

    def messages(self, service: Service, operation: Operation) -> list[Exchange]:
        entries = next(
            (
                found
                for op, found in self.entries_of
                if op.name == operation.name and op.method == operation.method
            ),
            [],
        )
        root, rules = d.root_dispatcher(operation.dispatcher, operation.dispatcher_rules)
        result: list[Exchange] = []
        for entry in entries:
            request_node, response_node = path(entry, "request"), path(entry, "response")
            url = self._shorten(as_text(path(request_node, "url")))
            name = as_text(path(entry, "startedDateTime"))
            request = _request(request_node, name)
            criteria: str | None = None
            if root == d.URI_PARAMS:
                criteria = d.extract_from_uri_params(rules or "", url)
            elif root in (d.URI_PARTS, d.URI_ELEMENTS):
                if rules is not None:
                    criteria = d.extract_from_uri_pattern(rules, _without_verb(operation.name), url)
                if root == d.URI_ELEMENTS:
                    # Java concatenates onto a possibly null criteria.
                    shown = "null" if criteria is None else criteria
                    criteria = shown + d.extract_from_uri_params(rules or "", url)
            elif root == d.QUERY_ARGS:
                criteria = _graphql_criteria(rules, request.content)
            elif url:
                operation.add_resource_path(url)
            result.append((request, _response(response_node, name, criteria)))
        return result


def _params_from_uri(url: str) -> str:
    names = []
    for parameter in url[url.index("?") + 1 :].split("&"):
        key = parameter.split("=")[0]
        if key:
            names.append(key)
    return " && ".join(names)


def _graphql_criteria(rules: str | None, content: str | None) -> str:
    """extractGraphQLCriteria: QUERY_ARGS over the request's `variables` ("" when it cannot)."""
    try:
        node = load_json(content or "")
    except ParseError:
        return ""
    if rules is None or not isinstance(node, dict) or "variables" not in node:
        return ""
    return query_args_criteria(rules, node["variables"])


def _request(node: Any, name: str) -> Request:
    headers = _headers(path(node, "headers"))
    request = Request(
        name=name,
        headers=headers or None,
        content=as_text(path(path(node, "postData"), "text")),
    )
    for item in _elements(path(node, "queryString")):
        request.add_query_parameter(as_text(path(item, "name")), as_text(path(item, "value")))
    return request


def _response(node: Any, name: str, criteria: str | None) -> Response:
    status = path(node, "status")
    headers = _headers(path(node, "headers"))
    response = Response(
        name=name,
        status="200" if status is None else as_text(status) or "200",
        headers=headers or None,
        content=_content_text(path(node, "content")),
        dispatch_criteria=criteria,
    )
    for header in headers:
        if header.name.lower() == "content-type":
            response.media_type = header.values[0]
    return response
