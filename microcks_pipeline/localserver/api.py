"""Microcks' `/api` endpoints: artifact upload, services (list, count, search, get, delete, operation
override, metadata update), Keycloak config."""

from __future__ import annotations

import json
import re

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect
from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Message

from .config import MAX_REQUEST_BYTES
from .errors import spring_error
from .importers import ImportCrashed, ImportRejected
from .model import ParameterConstraint
from .store import OperationValues, Store

_TRUE = {"true", "on", "yes", "1"}
_FALSE = {"false", "off", "no", "0"}


class _BadParameter(Exception):
    """A request parameter Spring cannot convert: 400 with Spring Boot's error body."""


def _store(request: HttpRequest) -> Store:
    return request.app.state.store


def _bool_param(value: str | None, default: bool) -> bool:
    """Spring's String -> boolean conversion; an empty value takes the default."""
    if value is None or value.strip() == "":
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise _BadParameter(value)


def _int_param(value: str | None, default: int) -> int:
    if value is None or value.strip() == "":
        return default
    try:
        return int(value.strip())
    except ValueError as exc:
        raise _BadParameter(value) from exc


def text_response(body: str, status: int) -> Response:
    """A Spring ResponseEntity<String>: text/plain;charset=UTF-8."""
    return Response(body, status_code=status, media_type="text/plain;charset=UTF-8")


async def upload_artifact(request: HttpRequest) -> Response:
    path = request.url.path
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/"):
        # Spring: MultipartException "Current request is not a multipart request", unhandled.
        return spring_error(500, path)
    limit = request.app.state.config.max_upload_bytes
    body = bytearray()
    try:
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > max(MAX_REQUEST_BYTES, limit + 64 * 1024):
                return spring_error(413, path)
    except ClientDisconnect:
        return Response(status_code=400)
    payload = bytes(body)

    async def replay() -> Message:
        return {"type": "http.request", "body": payload, "more_body": False}

    # The body was read once (to cap its size); parse the form from that copy.
    form_request = HttpRequest(request.scope, replay)
    try:
        async with form_request.form(max_files=10, max_fields=100) as form:
            files = form.getlist("file")
            fields = form.getlist("mainArtifact")
            main_value = request.query_params.get("mainArtifact")
            if main_value is None and fields and isinstance(fields[0], str):
                main_value = fields[0]
            try:
                main = _bool_param(main_value, True)
            except _BadParameter:
                return spring_error(400, path)
            upload = next((f for f in files if isinstance(f, UploadFile)), None)
            if upload is None:
                return spring_error(400, path)  # MissingServletRequestPartException
            data = await upload.read()
            filename = upload.filename or ""
    except Exception:  # noqa: BLE001 - any multipart parse failure is Spring's MultipartException
        return spring_error(500, path)
    if len(data) > limit:
        return spring_error(413, path)  # MaxUploadSizeExceededException
    if not data:
        return Response(status_code=204)
    store = _store(request)
    try:
        names = await run_in_threadpool(store.import_artifact, data, filename, main)
    except ImportRejected as exc:
        return text_response(str(exc), 400)
    except ImportCrashed:
        return spring_error(500, path)
    if not names:
        return Response(status_code=204)
    return text_response(names[0], 201)


async def list_services(request: HttpRequest) -> Response:
    try:
        page = _int_param(request.query_params.get("page"), 0)
        size = _int_param(request.query_params.get("size"), 20)
    except _BadParameter:
        return spring_error(400, request.url.path)
    if page < 0 or size < 1:
        return spring_error(500, request.url.path)  # PageRequest.of throws IllegalArgumentException
    services = _store(request).services()[page * size : page * size + size]
    return JSONResponse([s.to_json() for s in services])


async def count_services(request: HttpRequest) -> Response:
    return JSONResponse({"counter": _store(request).count()})


async def search_services(request: HttpRequest) -> Response:
    params = request.query_params
    name = params.get("name")
    labels = {
        key[len("labels.") :]: params.get(key) or "" for key in params if key.startswith("labels.")
    }
    if not labels and name is None:
        return spring_error(500, request.url.path)  # Mongo: $regex has to be a string
    if labels and (name is None or not name.strip()):
        name = None
    try:
        services = _store(request).search(name, labels)
    except re.error:
        return spring_error(500, request.url.path)
    return JSONResponse([s.to_json() for s in services])


async def services_labels(request: HttpRequest) -> Response:
    labels: dict[str, list[str]] = {}
    for service in _store(request).services():
        for key, value in (service.metadata.labels or {}).items():
            if value not in labels.setdefault(key, []):
                labels[key].append(value)
    return JSONResponse(labels)


async def services_map(request: HttpRequest) -> Response:
    counts: dict[str, int] = {}
    for service in _store(request).services():
        if service.type is not None:
            counts[service.type] = counts.get(service.type, 0) + 1
    return JSONResponse(counts)


async def get_service(request: HttpRequest) -> Response:
    try:
        messages = _bool_param(request.query_params.get("messages"), True)
    except _BadParameter:
        return spring_error(400, request.url.path)
    snapshot = _store(request).snapshot(request.path_params["service_id"])
    if snapshot is None:
        return Response(status_code=404)
    service = snapshot.service
    if not messages:
        return JSONResponse(service.to_json())
    messages_map = {
        op.name: [pair.to_json() for pair in snapshot.pairs_of(op.name)]
        for op in service.operations
    }
    return JSONResponse({"service": service.to_json(), "messagesMap": messages_map})


async def delete_service(request: HttpRequest) -> Response:
    # Role checks happen in the security layer; Microcks answers 200 even for an unknown id.
    _store(request).delete(request.path_params["service_id"])
    return Response(status_code=200)


async def _json_object(request: HttpRequest) -> dict | None:
    """A JSON object body, or None where Spring's HttpMessageNotReadableException answers 400."""
    try:
        body = json.loads(await request.body())
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _text_map(value: object) -> dict[str, str] | None:
    if not isinstance(value, dict):
        return None
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}


def _constraints(value: object) -> list[ParameterConstraint] | None:
    if not isinstance(value, list):
        return None
    return [
        ParameterConstraint(
            name=str(item.get("name")),
            location=str(item.get("in")),
            required=bool(item.get("required", False)),
            recopy=bool(item.get("recopy", False)),
            must_match_regexp=item.get("mustMatchRegexp"),
        )
        for item in value
        if isinstance(item, dict)
    ]


def _optional_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


async def override_operation(request: HttpRequest) -> Response:
    """PUT /api/services/{id}/operation?operationName=: OperationOverrideDTO, override = true."""
    name = request.query_params.get("operationName")
    body = await _json_object(request)
    if name is None or body is None:
        return spring_error(400, request.url.path)
    values = OperationValues(
        dispatcher=_optional_str(body.get("dispatcher")),
        dispatcher_rules=_optional_str(body.get("dispatcherRules")),
        default_delay=_optional_int(body.get("defaultDelay")),
        default_delay_strategy=_optional_str(body.get("defaultDelayStrategy")),
        parameter_constraints=_constraints(body.get("parameterConstraints")),
    )
    found = _store(request).update_operation(request.path_params["service_id"], name, values)
    # ServiceController answers 403 when the service or the operation is unknown.
    return Response(status_code=200 if found else 403)


async def update_metadata(request: HttpRequest) -> Response:
    """PUT /api/services/{id}/metadata: labels and annotations replaced as given."""
    body = await _json_object(request)
    if body is None:
        return spring_error(400, request.url.path)
    found = _store(request).update_metadata(
        request.path_params["service_id"],
        _text_map(body.get("labels")),
        _text_map(body.get("annotations")),
    )
    return Response(status_code=200 if found else 403)


async def keycloak_config(request: HttpRequest) -> Response:
    config = request.app.state.config
    return JSONResponse(
        {
            "enabled": config.auth_enabled,
            "realm": "microcks",
            "auth-server-url": str(request.base_url).rstrip("/") + "/auth",
            "ssl-required": "external",
            "public-client": True,
            "resource": "microcks-app-js",
        }
    )


routes = [
    Route("/api/artifact/upload", upload_artifact, methods=["POST"]),
    Route("/api/services", list_services, methods=["GET"]),
    Route("/api/services/count", count_services, methods=["GET"]),
    Route("/api/services/search", search_services, methods=["GET"]),
    Route("/api/services/labels", services_labels, methods=["GET"]),
    Route("/api/services/map", services_map, methods=["GET"]),
    Route("/api/services/{service_id}", get_service, methods=["GET"]),
    Route("/api/services/{service_id}", delete_service, methods=["DELETE"]),
    Route("/api/services/{service_id}/operation", override_operation, methods=["PUT"]),
    Route("/api/services/{service_id}/metadata", update_metadata, methods=["PUT"]),
    Route("/api/keycloak/config", keycloak_config, methods=["GET"]),
]
