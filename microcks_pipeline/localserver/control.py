"""`/_faults/...` JSON endpoints driving fault injection over HTTP (404 unless faults are enabled)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .faults import Faults

PREFIX = "/_faults"


class _BadBody(Exception):
    pass


def _field(body: dict[str, Any], name: str, kind: type | tuple[type, ...], default: Any) -> Any:
    value = body.get(name, default)
    if value is default:
        return value
    if isinstance(value, bool) or not isinstance(value, kind):
        raise _BadBody(f"field {name!r} has the wrong type")
    return value


def _endpoint(
    action: Callable[[Faults, dict[str, Any]], Any],
) -> Callable[[HttpRequest], Awaitable[Response]]:
    async def handle(request: HttpRequest) -> Response:
        faults: Faults = request.app.state.faults
        if not faults.enabled:
            return Response(status_code=404)
        raw = await request.body()
        try:
            body = json.loads(raw) if raw.strip() else {}
            if not isinstance(body, dict):
                raise _BadBody("the body must be a JSON object")
            result = action(faults, body)
        except (ValueError, _BadBody) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(result if result is not None else {"ok": True})

    return handle


def _fail(faults: Faults, body: dict[str, Any]) -> None:
    faults.fail_next(
        _field(body, "count", int, 1),
        _field(body, "status", int, 500),
        method=_field(body, "method", str, None),
        path_prefix=_field(body, "path_prefix", str, "/"),
        body=_field(body, "body", str, ""),
    )


def _throttle(faults: Faults, body: dict[str, Any]) -> None:
    faults.throttle_next(
        _field(body, "count", int, 1),
        _field(body, "retry_after", int, 1),
        method=_field(body, "method", str, None),
        path_prefix=_field(body, "path_prefix", str, "/"),
    )


def _latency(faults: Faults, body: dict[str, Any]) -> None:
    faults.add_latency(
        float(_field(body, "seconds", (int, float), 0.0)),
        method=_field(body, "method", str, None),
        path_prefix=_field(body, "path_prefix", str, "/"),
        count=_field(body, "count", int, None),
    )


def _expire(faults: Faults, body: dict[str, Any]) -> None:
    faults.expire_tokens()


def _ttl(faults: Faults, body: dict[str, Any]) -> None:
    faults.set_token_ttl(_field(body, "seconds", int, 300))


def _clear(faults: Faults, body: dict[str, Any]) -> None:
    faults.clear()


def _state(faults: Faults, body: dict[str, Any]) -> Any:
    return {"rules": faults.active()}


async def _calls(request: HttpRequest) -> Response:
    if not request.app.state.faults.enabled:
        return Response(status_code=404)
    log = request.app.state.calls
    if request.method == "DELETE":
        log.clear()
        return JSONResponse({"ok": True})
    return JSONResponse({"calls": [asdict(call) for call in log.calls()]})


routes = [
    Route(PREFIX, _endpoint(_state), methods=["GET"]),
    Route(f"{PREFIX}/fail", _endpoint(_fail), methods=["POST"]),
    Route(f"{PREFIX}/throttle", _endpoint(_throttle), methods=["POST"]),
    Route(f"{PREFIX}/latency", _endpoint(_latency), methods=["POST"]),
    Route(f"{PREFIX}/expire-tokens", _endpoint(_expire), methods=["POST"]),
    Route(f"{PREFIX}/token-ttl", _endpoint(_ttl), methods=["POST"]),
    Route(f"{PREFIX}/clear", _endpoint(_clear), methods=["POST"]),
    Route(f"{PREFIX}/calls", _calls, methods=["GET", "DELETE"]),
]
