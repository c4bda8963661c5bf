"""Keycloak stand-in (client-credentials tokens, HS256 JWTs) and Microcks' Spring Security role rules."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import unquote_plus

REALM = "microcks"
CLIENT_RESOURCE = "microcks-app"
ERROR_URI = "https://tools.ietf.org/html/rfc6750#section-3.1"

USER, MANAGER, ADMIN = "user", "manager", "admin"

# SecurityConfiguration: first matching rule wins; (method or None, path pattern, roles).
_RULES: tuple[tuple[str | None, str, frozenset[str]], ...] = (
    ("GET", "/api/services/*", frozenset({USER})),
    (None, "/api/services", frozenset({USER, MANAGER, ADMIN})),
    (None, "/api/jobs", frozenset({USER, MANAGER, ADMIN})),
    (None, "/api/jobs/*", frozenset({USER, MANAGER, ADMIN})),
    (None, "/api/services/*", frozenset({MANAGER, ADMIN})),
    (None, "/api/services/*/*", frozenset({MANAGER, ADMIN})),
    (None, "/api/jobs/*/*", frozenset({MANAGER, ADMIN})),
    (None, "/api/artifact/*", frozenset({MANAGER, ADMIN})),
    (None, "/api/import", frozenset({ADMIN})),
    (None, "/api/export", frozenset({ADMIN})),
    ("GET", "/api/secrets", frozenset({USER, MANAGER, ADMIN})),
    ("GET", "/api/secrets/*", frozenset({USER, MANAGER, ADMIN})),
    ("POST", "/api/secrets", frozenset({ADMIN})),
    ("PUT", "/api/secrets/*", frozenset({ADMIN})),
    ("DELETE", "/api/secrets/*", frozenset({ADMIN})),
)
_COMPILED = tuple(
    (method, re.compile(re.escape(pattern).replace(r"\*", "[^/]*")), roles)
    for method, pattern, roles in _RULES
)


def required_roles(method: str, path: str) -> frozenset[str] | None:
    """Roles any one of which the request needs; None when Microcks permits it to anyone."""
    for rule_method, pattern, roles in _COMPILED:
        if (rule_method is None or rule_method == method) and pattern.fullmatch(path):
            return roles
    return None


def www_authenticate(error: str | None = None, description: str | None = None) -> str:
    """Spring Security's BearerTokenAuthenticationEntryPoint / AccessDeniedHandler header."""
    if error is None:
        return "Bearer"
    parts = [f'error="{error}"']
    if description:
        parts.append(f'error_description="{description}"')
    parts.append(f'error_uri="{ERROR_URI}"')
    return "Bearer " + ", ".join(parts)


_BEARER = re.compile(r"^Bearer (?P<token>[a-zA-Z0-9\-._~+/]+=*)$", re.IGNORECASE)


class TokenRejected(Exception):
    """The bearer token cannot be trusted; the text is safe to show (no token content)."""


def bearer_token(authorization: str | None) -> str | None:
    """DefaultBearerTokenResolver: the token, None without one; TokenRejected when malformed."""
    if not authorization or not authorization.lower().startswith("bearer"):
        return None
    match = _BEARER.match(authorization)
    if match is None:
        raise TokenRejected("Bearer token is malformed")
    return match.group("token")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Client:
    client_id: str
    secret: str
    roles: tuple[str, ...]


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int


class TokenService:
    """Issues and checks signed, expiring tokens; the key lives only in this process."""

    def __init__(
        self, clients: dict[str, Client], ttl_seconds: int, clock_skew_seconds: int
    ) -> None:
        self._clients = dict(clients)
        self._key = os.urandom(32)
        self._kid = uuid.uuid4().hex
        self._lock = threading.Lock()
        self._ttl = ttl_seconds
        self._skew = clock_skew_seconds
        self._issued: set[str] = set()
        self._revoked: set[str] = set()

    def client(self, client_id: str) -> Client | None:
        return self._clients.get(client_id)

    def set_ttl(self, seconds: int) -> None:
        with self._lock:
            self._ttl = seconds

    def expire_all(self) -> None:
        """Every token issued so far is treated as expired from now on."""
        with self._lock:
            self._revoked |= self._issued
            self._issued = set()

    def issue(self, client: Client, issuer: str) -> IssuedToken:
        now = int(time.time())
        jti = str(uuid.uuid4())
        with self._lock:
            ttl = self._ttl
            self._issued.add(jti)
        claims = {
            "exp": now + ttl,
            "iat": now,
            "jti": jti,
            "iss": issuer,
            "aud": "account",
            "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, client.client_id)),
            "typ": "Bearer",
            "azp": client.client_id,
            "scope": "profile email",
            "clientId": client.client_id,
            "preferred_username": f"service-account-{client.client_id}",
            "resource_access": {CLIENT_RESOURCE: {"roles": list(client.roles)}},
        }
        header = {"alg": "HS256", "typ": "JWT", "kid": self._kid}
        signing_input = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())
        signature = hmac.new(self._key, signing_input.encode("ascii"), hashlib.sha256).digest()
        return IssuedToken(signing_input + "." + _b64(signature), ttl)

    def roles_of(self, token: str, issuer: str) -> frozenset[str]:
        """Verify the token (signature, expiry, issuer); its microcks-app roles."""
        pieces = token.split(".")
        if len(pieces) != 3:
            raise TokenRejected(
                "An error occurred while attempting to decode the Jwt: Malformed token"
            )
        try:
            header = json.loads(_unb64(pieces[0]))
            claims = json.loads(_unb64(pieces[1]))
            signature = _unb64(pieces[2])
        except (ValueError, UnicodeDecodeError) as exc:
            raise TokenRejected(
                "An error occurred while attempting to decode the Jwt: Malformed token"
            ) from exc
        if (
            not isinstance(header, dict)
            or header.get("alg") != "HS256"
            or not isinstance(claims, dict)
        ):
            raise TokenRejected(
                "An error occurred while attempting to decode the Jwt: Signed JWT rejected: "
                "Another algorithm expected, or no matching key(s) found"
            )
        expected = hmac.new(
            self._key, (pieces[0] + "." + pieces[1]).encode("ascii"), hashlib.sha256
        ).digest()
        if not hmac.compare_digest(expected, signature):
            raise TokenRejected(
                "An error occurred while attempting to decode the Jwt: Signed JWT rejected: Invalid signature"
            )
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)):
            raise TokenRejected(
                "An error occurred while attempting to decode the Jwt: exp claim missing"
            )
        with self._lock:
            revoked = claims.get("jti") in self._revoked
        if revoked or time.time() > exp + self._skew:
            when = datetime.fromtimestamp(exp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            raise TokenRejected(f"Jwt expired at {when}")
        if claims.get("iss") != issuer:
            raise TokenRejected("The iss claim is not valid")
        access = claims.get("resource_access")
        resource = access.get(CLIENT_RESOURCE) if isinstance(access, dict) else None
        roles = resource.get("roles") if isinstance(resource, dict) else None
        return (
            frozenset(r for r in roles if isinstance(r, str))
            if isinstance(roles, list)
            else frozenset()
        )


def client_credentials(
    authorization: str | None, form: dict[str, str]
) -> tuple[str | None, str | None]:
    """client_id/client_secret from HTTP Basic (form-encoded inside, RFC 6749) or the form."""
    if authorization and authorization.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
        except ValueError:
            return None, None
        if ":" not in decoded:
            return None, None
        client_id, secret = decoded.split(":", 1)
        return unquote_plus(client_id), unquote_plus(secret)
    return form.get("client_id"), form.get("client_secret")
