"""OAuth2 client-credentials tokens for Microcks, discovered from Microcks' Keycloak config.

Discovery: `GET {base}/api/keycloak/config`; when `enabled` is false no token is needed (None).
Otherwise the token endpoint is `<auth-server-url>/realms/<realm>/protocol/openid-connect/token`
(Keycloak's convention) unless `token_url` is given, e.g. when the public Keycloak URL Microcks
advertises is not reachable from the pipeline. Tokens are cached until `refresh_margin` seconds
before they expire. The client secret never appears in a repr, a message or a log line.

`MicrocksAuth` is the `httpx.Auth` flow the Microcks client sends every request through: it
adds the bearer token and, on a 401, refreshes the token once and sends the request once more
(httpx "custom authentication": `auth_flow` yields the request, receives the response, and may
yield it again). A second 401 comes back to the client, which reports it as AuthError.

The discovered token endpoint is not secret and rarely changes: a provider given
`known_token_url` (remembered from an earlier run, keyed by the Microcks URL) skips discovery,
and `on_discovered` is told about every endpoint it does discover. A remembered endpoint that
fails is forgotten: discovery runs once and its answer is used instead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import httpx

from microcks_pipeline.core.errors import (
    AuthError,
    ConfigError,
    MicrocksUnreachable,
    PipelineError,
)
from microcks_pipeline.microcks.errors import safe_url, sanitize_text

_DEFAULT_EXPIRES_IN = 60.0


@dataclass(frozen=True)
class ClientCredentials:
    """A confidential client of Microcks' realm; the secret is left out of repr."""

    client_id: str
    client_secret: str = field(repr=False)


def check_base_url(base_url: str) -> str:
    """The base URL without trailing slash; refuses non-HTTP schemes and embedded credentials."""
    try:
        parts = httpx.URL(base_url)
    except (httpx.InvalidURL, TypeError):
        raise ConfigError("Microcks URL is not a valid URL", field="microcks.url") from None
    if parts.scheme not in ("http", "https") or not parts.host:
        raise ConfigError(
            f"Microcks URL must be http(s)://host[/prefix], got {safe_url(base_url)!r}",
            field="microcks.url",
        )
    if parts.userinfo:
        raise ConfigError(
            "Microcks URL must not carry credentials; configure a client id and secret instead",
            field="microcks.url",
        )
    return base_url.rstrip("/")


class TokenProvider:
    """Hands out a valid bearer token for Microcks, or None when Microcks runs without Keycloak."""

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        refresh_margin: float = 30.0,
        token_url: str | None = None,
        known_token_url: str | None = None,
        on_discovered: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._base = check_base_url(base_url)
        self._credentials = ClientCredentials(client_id, client_secret)
        self._explicit_token_url = check_base_url(token_url) if token_url else None
        # A remembered endpoint stands in for discovery until it fails once.
        self._remembered = None if self._explicit_token_url else _usable(known_token_url)
        self._on_discovered = on_discovered
        self._token_url: str | None = self._explicit_token_url or self._remembered
        self._discovered = self._token_url is not None
        self._refresh_margin = refresh_margin
        self._clock = clock
        self._http = httpx.Client(timeout=timeout, transport=transport, follow_redirects=False)
        self._lock = threading.Lock()
        self._token: str | None = None
        self._valid_until = 0.0
        self.calls = 0  # discovery + token requests made so far

    def __repr__(self) -> str:
        return (
            f"TokenProvider(base_url={safe_url(self._base)!r}, "
            f"client_id={self._credentials.client_id!r})"
        )

    def token(self) -> str | None:
        """A token valid for at least `refresh_margin` more seconds, or None if auth is off."""
        with self._lock:
            if not self._discovered:
                self._discover()
            if self._token_url is None:
                return None
            if self._token is None or self._clock() >= self._valid_until:
                self._fetch_fresh_token(self._token_url)
            return self._token

    def invalidate(self) -> None:
        """Forget the cached token (after a 401); a disabled-auth answer is re-checked too."""
        with self._lock:
            self._token = None
            self._valid_until = 0.0
            if self._token_url is None:
                self._discovered = False

    def redactions(self) -> tuple[str, ...]:
        """Strings that must never reach a message: the secret and the current token."""
        return tuple(s for s in (self._credentials.client_secret, self._token) if s)

    def close(self) -> None:
        self._http.close()

    @property
    def token_url(self) -> str | None:
        """The token endpoint in use (given, remembered or discovered); None when auth is off."""
        return self._token_url

    # -- internals ---------------------------------------------------------------------------

    def _fetch_fresh_token(self, token_url: str) -> None:
        if token_url != self._remembered:
            self._fetch_token(token_url)
            return
        try:
            self._fetch_token(token_url)
        except PipelineError:
            # Keycloak may have moved since the endpoint was remembered: ask Microcks again.
            self._remembered = None
            self._discover()
            if self._token_url == token_url:
                raise  # the same endpoint: the failure is not a stale one
            if self._token_url is not None:
                self._fetch_token(self._token_url)

    def _discover(self) -> None:
        url = f"{self._base}/api/keycloak/config"
        response = self._send("GET", url, what="Microcks Keycloak config")
        if response.status_code != 200:
            raise AuthError(
                f"Microcks Keycloak config at {safe_url(url)} answered HTTP {response.status_code}"
            )
        config = _json_object(response, f"Microcks Keycloak config at {safe_url(url)}")
        if config.get("enabled") is not True:
            self._token_url = None
        else:
            server = config.get("auth-server-url")
            realm = config.get("realm")
            if not isinstance(server, str) or not isinstance(realm, str) or not realm:
                raise AuthError(
                    f"Microcks Keycloak config at {safe_url(url)} lacks auth-server-url or realm"
                )
            try:
                server = check_base_url(server)
            except ConfigError:
                raise AuthError(
                    f"Microcks Keycloak config at {safe_url(url)} has an unusable auth-server-url"
                ) from None
            self._token_url = f"{server}/realms/{realm}/protocol/openid-connect/token"
            if self._on_discovered is not None:
                self._on_discovered(self._token_url)
        self._discovered = True

    def _fetch_token(self, token_url: str) -> None:
        creds = self._credentials
        response = self._send(
            "POST",
            token_url,
            what="token endpoint",
            data={
                "grant_type": "client_credentials",
                "client_id": creds.client_id,
                "client_secret": creds.client_secret,
            },
        )
        where = f"token endpoint {safe_url(token_url)}"
        if response.status_code in (400, 401, 403):
            raise AuthError(
                f"{where} refused client {creds.client_id!r} "
                f"(HTTP {response.status_code}{_oauth_error(response, self.redactions())})"
            )
        if response.status_code != 200:
            # The token endpoint (Keycloak) is shared by every run: its 5xx or 429 stops them
            # all, like Microcks down, never one entity's own failure.
            raise MicrocksUnreachable(
                f"{where} answered HTTP {response.status_code}",
                retry_after=retry_after_seconds(response),
            )
        body = _json_object(response, where)
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise AuthError(f"{where} returned no access_token")
        expires_in = body.get("expires_in")
        ttl = float(expires_in) if isinstance(expires_in, int | float) else _DEFAULT_EXPIRES_IN
        # Refresh `margin` early, but never cache a short-lived token for less than half its life.
        self._token = token
        self._valid_until = self._clock() + max(ttl - self._refresh_margin, ttl / 2)

    def _send(self, method: str, url: str, *, what: str, **kwargs: Any) -> httpx.Response:
        self.calls += 1
        try:
            return self._http.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            if isinstance(exc, httpx.ConnectTimeout):
                raise MicrocksUnreachable(f"cannot connect to {what} {safe_url(url)}") from None
            # Shared by every run, like a connection failure: Microcks-wide.
            raise MicrocksUnreachable(f"{what} {safe_url(url)} did not answer in time") from None
        except httpx.TransportError as exc:
            raise MicrocksUnreachable(
                f"cannot connect to {what} {safe_url(url)} ({type(exc).__name__})"
            ) from None


class MicrocksAuth(httpx.Auth):
    """Bearer token on every request; after a 401 one refresh and one retry (then the 401
    stands). Only the status of the first answer is needed, so its body is never read here."""

    requires_request_body = True  # the retry re-sends the same body (uploads are bytes)
    requires_response_body = False

    def __init__(self, tokens: TokenProvider) -> None:
        self._tokens = tokens

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self._authorize(request)
        response = yield request
        if response.status_code == 401:
            self._tokens.invalidate()
            self._authorize(request)
            yield request

    def _authorize(self, request: httpx.Request) -> None:
        token = self._tokens.token()
        if token is None:
            request.headers.pop("Authorization", None)
        else:
            request.headers["Authorization"] = f"Bearer {token}"


def _usable(url: str | None) -> str | None:
    """A remembered endpoint when it is still a well-formed http(s) URL, else None."""
    if not url:
        return None
    try:
        return check_base_url(url)
    except ConfigError:
        return None


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Seconds from a Retry-After header given in seconds (HTTP dates are ignored)."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        return None


def _json_object(response: httpx.Response, where: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise AuthError(f"{where} did not answer JSON") from None
    if not isinstance(body, dict):
        raise AuthError(f"{where} did not answer a JSON object")
    return body


def _oauth_error(response: httpx.Response, redactions: tuple[str, ...]) -> str:
    """`, invalid_client` from an OAuth2 error body, sanitised; empty when there is none."""
    try:
        body = response.json()
    except ValueError:
        return ""
    code = body.get("error") if isinstance(body, dict) else None
    if not isinstance(code, str):
        return ""
    return ", " + sanitize_text(code, redactions)[:60]
