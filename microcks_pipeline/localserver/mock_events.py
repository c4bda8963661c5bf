"""Event mocks as Microcks' async minion serves them over WebSocket (WebSocketProducerManager,
ProducerManager, ProducerScheduler), and `/api/features/config` (FeaturesConfigController)."""

from __future__ import annotations

import asyncio
from urllib.parse import quote_plus, unquote, unquote_plus

from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from .config import ServerConfig
from .model import EventMessage, Operation, Service
from .store import Store

WS_PREFIX = "/api/ws/"
# minion.supported-bindings=KAFKA,WS: WS is the one a client can receive from this server.
SUPPORTED_BINDINGS = ("KAFKA", "WS")
CANNOT_ACCEPT = 1003  # javax.websocket CloseReason.CloseCodes.CANNOT_ACCEPT


def operation_part(operation: Operation, event: EventMessage) -> str:
    """ProducerManager.getDestinationOperationPart: the operation name without its action, or
    for URI_PARTS the templated address with this message's parts filled in."""
    name = operation.name
    part = name[name.index(" ") + 1 :] if " " in name else name
    if operation.dispatcher == "URI_PARTS":
        part = next((p for p in operation.resource_paths or [] if "{" in p), part)
        for criterion in (event.dispatch_criteria or "").split("/"):
            if "=" in criterion:
                key, value = criterion.split("=", 1)
                part = part.replace("{" + key + "}", quote_plus(value))
    return part


def produced_operations(service: Service, config: ServerConfig) -> list[Operation]:
    """Operations the minion produces for: EVENT service, restricted frequency, supported binding."""
    if service.type not in ("EVENT", "GENERIC_EVENT"):
        return []
    return [
        op
        for op in service.operations
        if op.default_delay in config.async_frequencies
        and any(b in SUPPORTED_BINDINGS for b in (op.bindings or {}))
    ]


async def features_config(request: HttpRequest) -> Response:
    """features.properties as Microcks ships it, async-api enabled with this server as WS endpoint."""
    config: ServerConfig = request.app.state.config
    return JSONResponse(
        {
            "microcks-hub": {
                "enabled": "true",
                "endpoint": "https://hub.microcks.io/api",
                "allowed-roles": "admin,manager,manager-any",
            },
            "repository-filter": {
                "enabled": "true",
                "label-key": "domain",
                "label-label": "Domain",
                "label-list": "domain,status",
            },
            "repository-tenancy": {
                "enabled": "false",
                "artifact-import-allowed-roles": "admin,manager,manager-any",
            },
            "async-api": {
                "enabled": "true",
                "frequencies": ",".join(str(f) for f in config.async_frequencies),
                "default-binding": "KAFKA",
                "endpoint-WS": request.url.netloc,
            },
            "ai-copilot": {"enabled": "false"},
        }
    )


async def event_socket(websocket: WebSocket) -> None:
    """One subscriber of `/api/ws/{service}/{version}/{operation part}`.

    Microcks' minion publishes every message of an operation each `frequency` seconds to the
    sessions opened on that URI; a session on a service without mocks is closed (CANNOT_ACCEPT).
    `async_frequency_override_seconds` shortens the period (tests, demo).
    """
    store: Store = websocket.app.state.store
    config: ServerConfig = websocket.app.state.config
    raw = websocket.scope.get("raw_path", websocket.url.path.encode()).decode("latin-1")
    segments = raw[len(WS_PREFIX) :].split("/", 2)
    await websocket.accept()
    if len(segments) < 3:
        await websocket.close(CANNOT_ACCEPT, f"No mock available on {raw}")
        return
    name = unquote(segments[0].replace("+", " "))
    version = unquote(segments[1].replace("+", " "))
    channel = unquote_plus(segments[2])
    snapshot = store.snapshot_by_name(name, version)
    operations = produced_operations(snapshot.service, config) if snapshot else []
    if not operations:
        await websocket.close(CANNOT_ACCEPT, f"No mock available on {raw}")
        return
    try:
        while True:
            period = config.async_frequency_override_seconds or min(
                op.default_delay or 0 for op in operations
            )
            try:
                message = await asyncio.wait_for(websocket.receive(), timeout=period)
                if message["type"] == "websocket.disconnect":
                    return
                continue  # onMessage: nothing to do
            except TimeoutError:
                pass
            await _publish(websocket, store, name, version, channel, config)
    except (WebSocketDisconnect, RuntimeError):
        return


async def _publish(
    websocket: WebSocket, store: Store, name: str, version: str, channel: str, config: ServerConfig
) -> None:
    snapshot = store.snapshot_by_name(name, version)
    if snapshot is None:
        return
    for operation in produced_operations(snapshot.service, config):
        if "WS" not in (operation.bindings or {}):
            continue
        for pair in snapshot.pairs_of(operation.name):
            event = pair.event
            if event is not None and unquote_plus(operation_part(operation, event)) == channel:
                await websocket.send_text(event.content or "")


routes = [
    Route("/api/features/config", features_config, methods=["GET"]),
    WebSocketRoute(WS_PREFIX + "{service}/{version}/{path:path}", event_socket),
]
