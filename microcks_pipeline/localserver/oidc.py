"""Keycloak-like OpenID Connect endpoints of the `microcks` realm: discovery, certs, client-credentials token."""

from __future__ import annotations

import hmac

from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .auth import REALM, TokenService, client_credentials

REALM_PATH = f"/auth/realms/{REALM}"
TOKEN_PATH = f"{REALM_PATH}/protocol/openid-connect/token"
CERTS_PATH = f"{REALM_PATH}/protocol/openid-connect/certs"
DISCOVERY_PATH = f"{REALM_PATH}/.well-known/openid-configuration"

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def issuer_for(request: HttpRequest) -> str:
    return str(request.base_url).rstrip("/") + REALM_PATH


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": description}, status_code=status, headers=_NO_STORE
    )


def _disabled(request: HttpRequest) -> bool:
    # Keycloak-disabled Microcks has no Keycloak at all: these endpoints do not exist.
    return not request.app.state.config.auth_enabled


async def discovery(request: HttpRequest) -> Response:
    if _disabled(request):
        return Response(status_code=404)
    issuer = issuer_for(request)
    base = str(request.base_url).rstrip("/")
    return JSONResponse(
        {
            "issuer": issuer,
            "token_endpoint": base + TOKEN_PATH,
            "jwks_uri": base + CERTS_PATH,
            "grant_types_supported": ["client_credentials"],
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["HS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        }
    )


async def certs(request: HttpRequest) -> Response:
    if _disabled(request):
        return Response(status_code=404)
    # HS256 keys are secret: nothing to publish.
    return JSONResponse({"keys": []})


async def token(request: HttpRequest) -> Response:
    if _disabled(request):
        return Response(status_code=404)
    tokens: TokenService = request.app.state.tokens
    try:
        async with request.form(max_files=0, max_fields=50) as form:
            fields = {key: value for key, value in form.items() if isinstance(value, str)}
    except Exception:  # noqa: BLE001 - unreadable form: Keycloak answers invalid_request
        return _oauth_error(400, "invalid_request", "Invalid form")
    grant_type = fields.get("grant_type")
    if not grant_type:
        return _oauth_error(400, "invalid_request", "Missing form parameter: grant_type")
    client_id, secret = client_credentials(request.headers.get("authorization"), fields)
    client = tokens.client(client_id) if client_id else None
    if client is None:
        return _oauth_error(401, "invalid_client", "Invalid client or Invalid client credentials")
    if secret is None or not hmac.compare_digest(client.secret.encode(), secret.encode()):
        return _oauth_error(
            401, "unauthorized_client", "Invalid client or Invalid client credentials"
        )
    if grant_type != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", "Unsupported grant_type")
    issued = tokens.issue(client, issuer_for(request))
    return JSONResponse(
        {
            "access_token": issued.access_token,
            "expires_in": issued.expires_in,
            "refresh_expires_in": 0,
            "token_type": "Bearer",
            "not-before-policy": 0,
            "scope": "profile email",
        },
        headers=_NO_STORE,
    )


routes = [
    Route(DISCOVERY_PATH, discovery, methods=["GET"]),
    Route(CERTS_PATH, certs, methods=["GET"]),
    Route(TOKEN_PATH, token, methods=["POST"]),
]
