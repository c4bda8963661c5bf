"""Wires the Starlette app: request log, fault injection, Microcks' security rules, then the routes."""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request as HttpRequest
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import api, control, mock_events, oidc
from .auth import (
    Client,
    TokenRejected,
    TokenService,
    bearer_token,
    required_roles,
    www_authenticate,
)
from .config import ServerConfig
from .errors import spring_error
from .faults import Call, Faults, RequestLog
from .mock_graphql import serve_graphql
from .mock_soap import serve_soap
from .mocks import serve_mock
from .store import Store


class RequestLogMiddleware:
    """Records method, path and final status of every request except the fault controls."""

    def __init__(self, app: ASGIApp, log: RequestLog) -> None:
        self.app = app
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(control.PREFIX):
            await self.app(scope, receive, send)
            return
        status = {"code": 500}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            query = scope.get("query_string", b"").decode("latin-1")
            self.log.record(Call(scope["method"], scope["path"], query, status["code"]))


class FaultMiddleware:
    """Applies injected latency and failures before the request reaches Microcks' logic."""

    def __init__(self, app: ASGIApp, faults: Faults) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(control.PREFIX):
            await self.app(scope, receive, send)
            return
        injected = self.faults.apply(scope["method"], scope["path"])
        if injected.delay_seconds:
            await asyncio.sleep(injected.delay_seconds)
        if injected.status is None:
            await self.app(scope, receive, send)
            return
        response = Response(
            injected.body, status_code=injected.status, headers=dict(injected.headers)
        )
        await response(scope, receive, send)


class SecurityMiddleware:
    """Spring Security as Microcks configures it with Keycloak enabled (`/api/**` only)."""

    def __init__(self, app: ASGIApp, config: ServerConfig, tokens: TokenService) -> None:
        self.app = app
        self.config = config
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or not self.config.auth_enabled
            or not scope["path"].startswith("/api/")
        ):
            await self.app(scope, receive, send)
            return
        request = HttpRequest(scope, receive)
        roles: frozenset[str] | None = None
        try:
            token = bearer_token(request.headers.get("authorization"))
            if token is not None:
                roles = self.tokens.roles_of(token, oidc.issuer_for(request))
        except TokenRejected as exc:
            # An invalid token is refused even where anonymous access is permitted.
            await _deny(401, www_authenticate("invalid_token", str(exc)), scope, receive, send)
            return
        needed = required_roles(scope["method"], scope["path"])
        if needed is not None:
            if roles is None:
                await _deny(401, www_authenticate(), scope, receive, send)
                return
            if not roles & needed:
                header = www_authenticate(
                    "insufficient_scope",
                    "The request requires higher privileges than provided by the access token.",
                )
                await _deny(403, header, scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _deny(status: int, header: str, scope: Scope, receive: Receive, send: Send) -> None:
    response = Response(status_code=status, headers={"WWW-Authenticate": header})
    await response(scope, receive, send)


async def _rest(request: HttpRequest) -> Response:
    return await serve_mock(request, request.app.state.store)


async def _http_error(request: HttpRequest, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return spring_error(status, request.url.path)


def create_app(config: ServerConfig | None = None) -> Starlette:
    """A fresh server: empty store, its own signing key; app.state has store, faults, calls, tokens."""
    config = config if config is not None else ServerConfig()
    clients = {
        client_id: Client(client_id, secret, tuple(roles))
        for client_id, (secret, roles) in config.clients.items()
    }
    tokens = TokenService(clients, config.token_ttl_seconds, config.jwt_clock_skew_seconds)
    faults = Faults(config.faults_enabled, tokens.expire_all, tokens.set_ttl)
    calls = RequestLog()
    mock_methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    app = Starlette(
        routes=[
            *api.routes,
            *mock_events.routes,
            *oidc.routes,
            *control.routes,
            Route("/rest/{rest:path}", _rest, methods=mock_methods),
            Route("/graphql/{service}/{version}", serve_graphql, methods=["GET", "POST"]),
            Route(
                "/graphql/{service}/{version}/{rest:path}", serve_graphql, methods=["GET", "POST"]
            ),
            Route("/soap/{service}/{version}", serve_soap, methods=["POST"]),
            Route("/soap/{service}/{version}/{rest:path}", serve_soap, methods=["POST"]),
        ],
        middleware=[
            Middleware(RequestLogMiddleware, log=calls),
            Middleware(FaultMiddleware, faults=faults),
            Middleware(SecurityMiddleware, config=config, tokens=tokens),
        ],
        exception_handlers={404: _http_error, 405: _http_error, 500: _http_error},
    )
    app.state.config = config
    app.state.store = Store()
    app.state.tokens = tokens
    app.state.faults = faults
    app.state.calls = calls
    return app
