"""The `/rest/{service}/{version}/...` mock endpoints, as Microcks' RestController and RestInvocationProcessor."""

from __future__ import annotations

import asyncio
import random
import re
import time
from http import HTTPStatus
from urllib.parse import unquote

from starlette.requests import Request as HttpRequest
from starlette.responses import Response as HttpResponse

from . import dispatch as d
from .errors import spring_error
from .jsonbody import json_body_criteria
from .model import Operation, Pair, Response, Service
from .store import ServiceSnapshot, Store

PREFIX = "/rest/"
_VALID_STATUSES = {status.value for status in HTTPStatus}


class _Crash(Exception):
    """Where Microcks' Java throws (NullPointerException, NumberFormatException...): a 500."""


class _BadParameter(Exception):
    """A request parameter Spring cannot convert (e.g. `?delay=abc`): a 400."""


def _plain(body: str, status: int, request: HttpRequest) -> HttpResponse:
    # Spring writes a byte[] body with a type negotiated from Accept; */* gives octet-stream.
    return HttpResponse(body.encode("utf-8"), status, media_type=_negotiated_type(request))


def _negotiated_type(request: HttpRequest) -> str:
    for item in request.headers.get("accept", "").split(","):
        media = item.split(";")[0].strip()
        if media and "*" not in media:
            return media
    return "application/octet-stream"


async def serve_mock(request: HttpRequest, store: Store) -> HttpResponse:
    started = time.monotonic()
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    raw = raw_path.decode("latin-1")[len(PREFIX) :]
    segments = raw.split("/", 2)
    if len(segments) < 2 or not segments[0] or not segments[1]:
        return spring_error(404, request.url.path)
    # Spring decodes path variables but leaves `+`; its 404 text shows the name as given.
    shown_name = unquote(segments[0])
    version = unquote(segments[1])
    resource_path = ("/" + segments[2]) if len(segments) > 2 else ""
    # A `+` in the path stands for a space, as in Microcks' extractResourcePath.
    resource_path = resource_path.replace("+", "%20")
    service_name = shown_name.replace("+", " ")

    snapshot = store.snapshot_by_name(service_name, version)
    if snapshot is None:
        return _plain(
            f"The service {shown_name} with version {version} does not exist!", 404, request
        )
    try:
        operation = _find_operation(snapshot.service, request.method, resource_path)
        if operation is None:
            if request.method == "OPTIONS":
                return _cors_preflight(request)
            return HttpResponse(status_code=404)
        violation = _constraint_violation(operation, request)
        if violation is not None:
            return _plain(violation + ". Check parameter constraints.", 400, request)
        delay_ms = _delay_ms(request, operation)
        answer = await _invoke(snapshot, operation, resource_path, request)
    except _BadParameter:
        return spring_error(400, request.url.path)
    except (_Crash, ValueError):  # ValueError: java.net.URLDecoder refusing a malformed escape
        return spring_error(500, request.url.path)
    if delay_ms:
        remaining = delay_ms / 1000 - (time.monotonic() - started)
        if remaining > 0:
            await asyncio.sleep(remaining)
    if request.method == "HEAD":
        answer.body = b""
        answer.headers["content-length"] = "0"
    return answer


def _find_operation(service: Service, method: str, resource_path: str) -> Operation | None:
    trimmed = resource_path[:-1] if resource_path.endswith("/") else resource_path
    for operation in service.operations:
        if operation.method is None:
            raise _Crash("operation without method")  # Microcks: NullPointerException
        if operation.method == method and operation.resource_paths is not None:
            if resource_path in operation.resource_paths or trimmed in operation.resource_paths:
                return operation
        if operation.name == f"{method.upper()} {resource_path}":
            return operation
    # Not an exact resource path: match the verb and the operation's path pattern.
    for operation in service.operations:
        if operation.method == method and operation.resource_paths is not None:
            pattern = _uri_pattern(operation.name)
            pattern = re.sub(r"\{[\w-]+\}", "([^/])+", pattern)
            pattern = re.sub(r"(/:[^:^/]+)", lambda _m: "/([^/]+)", pattern)
            try:
                if re.fullmatch(pattern, resource_path):
                    return operation
            except re.error:
                continue
    return None


def _uri_pattern(operation_name: str) -> str:
    for verb in ("GET ", "POST ", "PUT ", "DELETE ", "PATCH ", "OPTIONS "):
        if operation_name.startswith(verb):
            return operation_name[operation_name.index(" ") + 1 :]
    return operation_name


def _cors_preflight(request: HttpRequest) -> HttpResponse:
    requested = request.headers.get("access-control-request-headers")
    headers = {
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Allow-Methods": "POST, PUT, GET, OPTIONS, DELETE, PATCH",
        "Access-Allow-Credentials": "false",
        "Access-Control-Max-Age": "3600",
        "Vary": "Accept-Encoding, Origin",
    }
    if requested:
        headers["Access-Control-Allow-Headers"] = requested
        headers["Access-Control-Expose-Headers"] = requested
    return HttpResponse(status_code=204, headers=headers)


def _constraint_violation(operation: Operation, request: HttpRequest) -> str | None:
    for constraint in operation.parameter_constraints or []:
        value: str | None = None
        if constraint.location == "header":
            value = request.headers.get(constraint.name)
        elif constraint.location == "query":
            value = request.query_params.get(constraint.name)
        elif constraint.location == "cookie":
            value = request.cookies.get(constraint.name)
        if value is not None:
            regexp = constraint.must_match_regexp
            if regexp is not None and not _full_match(regexp, value):
                return f"Parameter {constraint.name} should match {regexp}"
        elif constraint.required:
            return f"Parameter {constraint.name} is required"
    return None


def _full_match(regexp: str, value: str) -> bool:
    try:
        return re.fullmatch(regexp, value) is not None
    except re.error as exc:
        raise _Crash("bad constraint regexp") from exc


def _delay_ms(request: HttpRequest, operation: Operation) -> float:
    """x-microcks-delay header, else ?delay=, else the operation's default delay."""
    strategy = None
    delay: int | None = None
    header = request.headers.get("x-microcks-delay")
    if header is not None:
        try:
            delay = int(header)
            strategy = request.headers.get("x-microcks-delay-strategy")
        except ValueError:
            delay = None
    if delay is None and "delay" in request.query_params:
        try:
            delay = int(request.query_params["delay"])
        except ValueError as exc:
            raise _BadParameter("delay") from exc
        strategy = request.query_params.get("delayStrategy")
    if delay is None and operation.default_delay is not None:
        delay = operation.default_delay
        strategy = operation.default_delay_strategy
    if not delay or delay <= 0:
        return 0
    if strategy and strategy.startswith("random"):
        return random.uniform(0, delay)
    return float(delay)


def _criteria(
    dispatcher: str | None,
    rules: str | None,
    operation: Operation,
    resource_path: str,
    request: HttpRequest,
    body: str | None,
) -> str | None:
    if dispatcher is None:
        return None
    if dispatcher == d.JSON_BODY:
        return json_body_criteria(rules, body)
    decoded_path = unquote(resource_path)
    pattern = _uri_pattern(operation.name)
    full_uri = str(request.url.replace(query="")).rstrip("?") + "?" + (request.url.query or "null")
    if rules is None:
        raise _Crash("dispatcher without rules")
    if dispatcher == d.URI_PARTS:
        return d.extract_from_uri_pattern(rules, pattern, decoded_path)
    if dispatcher == d.URI_PARAMS:
        return d.extract_from_uri_params(rules, full_uri)
    if dispatcher == d.URI_ELEMENTS:
        return d.extract_from_uri_pattern(rules, pattern, decoded_path) + d.extract_from_uri_params(
            rules, full_uri
        )
    if dispatcher == d.QUERY_HEADER:
        return d.extract_from_param_map(rules, {k: v for k, v in request.headers.items()})
    # SCRIPT, GROOVY, JS, PROXY...: not evaluated here; Microcks would get no criteria.
    return None


def _by_media_type(responses: list[Response], request: HttpRequest) -> Response | None:
    if not responses:
        return None
    accept = request.headers.get("accept")
    if accept:
        for response in responses:
            if response.media_type == accept:
                return response
    return responses[0]


async def _invoke(
    snapshot: ServiceSnapshot, operation: Operation, resource_path: str, request: HttpRequest
) -> HttpResponse:
    pairs: list[Pair] = snapshot.pairs_of(operation.name)
    responses = [p.response for p in pairs if p.response is not None]
    fallback = (
        d.parse_fallback(operation.dispatcher_rules) if operation.dispatcher == d.FALLBACK else None
    )
    dispatcher, rules = operation.dispatcher, operation.dispatcher_rules
    if fallback is not None:
        dispatcher, rules = fallback.dispatcher, fallback.dispatcher_rules
    body = (await request.body()).decode("utf-8", "replace") if dispatcher == d.JSON_BODY else None
    criteria = _criteria(dispatcher, rules, operation, resource_path, request, body)

    response = _by_media_type([r for r in responses if r.dispatch_criteria == criteria], request)
    if response is None:
        response = _by_media_type([r for r in responses if r.name == criteria], request)
    if response is None and fallback is not None:
        response = _by_media_type([r for r in responses if r.name == fallback.fallback], request)
    if response is None:
        if dispatcher is not None:
            shown = "null" if criteria is None else criteria  # Java prints a null as "null"
            return _plain(f"The response {shown} does not exist!", 400, request)
        response = _by_media_type(responses, request)
    if response is None:
        return HttpResponse(status_code=400)

    status = 200
    if response.status is not None:
        try:
            status = int(response.status)
        except ValueError as exc:
            raise _Crash("status is not a number") from exc
        if status not in _VALID_STATUSES:
            raise _Crash("unknown HTTP status")
    headers: dict[str, str] = {}
    if response.media_type is not None:
        headers["content-type"] = f"{response.media_type};charset=UTF-8"
    for constraint in operation.parameter_constraints or []:
        if constraint.location == "header" and constraint.recopy:
            value = request.headers.get(constraint.name)
            if value is not None:
                headers[constraint.name] = value
    for header in response.headers or []:
        if header.name.lower() == "transfer-encoding" or not header.values:
            continue
        value = ",".join(header.values)
        if header.name == "Location" and not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", value):
            base = str(request.base_url).rstrip("/")
            service = snapshot.service
            value = f"{base}/rest/{d.encode_path(service.name)}/{service.version}{value}"
        headers[header.name] = value
    body = (response.content or "").encode("utf-8")
    answer = HttpResponse(body, status, headers=headers)
    if "content-type" not in {k.lower() for k in headers}:
        answer.headers["content-type"] = _negotiated_type(request)
    return answer
