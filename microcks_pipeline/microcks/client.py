"""HTTP client for the part of Microcks' REST API the pipeline uses, with error classification.

Every answer maps onto the error tree (see errors.py): connection failures →
MicrocksUnreachable, timeouts → MicrocksTimeout, 429/5xx → MicrocksBusy (all transient);
401 → one token refresh and one retry (the `MicrocksAuth` flow of token.py), then AuthError;
403 → AuthError; 400 → MicrocksRejected
with Microcks' own text; 204 on upload → MicrocksNoService. Messages never carry tokens,
secrets or URL credentials. `calls` counts HTTP requests to Microcks (token requests are
counted apart, in `token_calls`).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from microcks_pipeline.core.errors import AuthError, PermanentError, TransientError
from microcks_pipeline.core.identity import owned_by_entity
from microcks_pipeline.kinds.base import Endpoints
from microcks_pipeline.microcks.errors import (
    MicrocksBusy,
    MicrocksNoService,
    MicrocksRejected,
    MicrocksTimeout,
    MicrocksUnreachable,
    safe_url,
    sanitize_text,
)
from microcks_pipeline.microcks.token import (
    MicrocksAuth,
    TokenProvider,
    check_base_url,
    retry_after_seconds,
)

_UPLOAD_CONTENT_TYPE = "application/octet-stream"  # Microcks sniffs the type from the content
DEFAULT_WS_ENDPOINT_PORT = 8081  # features.feature.async-api.endpoint-WS=localhost:8081
DEFAULT_GRPC_PORT = 9090  # grpc.server.port


def default_grpc_endpoint(base_url: str) -> str:
    """service-detail.page.ts#formatMockUrl: localhost:8080 -> localhost:9090, any other host
    gets `-grpc` after its first label (host:port, the scheme's port when none is written)."""
    parts = urlsplit(base_url)
    host = parts.hostname or "localhost"
    if host == "localhost" and parts.port == 8080:
        return f"localhost:{DEFAULT_GRPC_PORT}"
    first, dot, rest = host.partition(".")
    first, dash, tail = first.partition("-")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{first}-grpc{dash}{tail}{dot}{rest}:{port}"


def default_ws_endpoint(base_url: str) -> str:
    """Microcks' shipped default endpoint-WS, on the host Microcks is reached at."""
    return f"{urlsplit(base_url).hostname or 'localhost'}:{DEFAULT_WS_ENDPOINT_PORT}"


class MicrocksClient:
    """Synchronous Microcks API client; safe to share between threads."""

    def __init__(
        self,
        base_url: str,
        *,
        token_provider: TokenProvider | None = None,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        grpc_endpoint: str | None = None,
        ws_endpoint: str | None = None,
    ) -> None:
        self.base_url = check_base_url(base_url)
        self._grpc_endpoint = grpc_endpoint or None
        self._ws_endpoint = ws_endpoint or None
        self._tokens = token_provider
        self._http = httpx.Client(
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
            auth=MicrocksAuth(token_provider) if token_provider is not None else None,
            # A hook sees every request sent, the auth flow's retry included.
            event_hooks={"request": [self._count]},
        )
        self._lock = threading.Lock()
        self.calls = 0

    def __repr__(self) -> str:
        return f"MicrocksClient(base_url={safe_url(self.base_url)!r})"

    @property
    def token_calls(self) -> int:
        """Requests made to the Keycloak config and token endpoints so far."""
        return self._tokens.calls if self._tokens is not None else 0

    # -- artifacts ---------------------------------------------------------------------------

    def upload(self, file_name: str, content: bytes, *, main: bool) -> str:
        """Upload one artifact; returns Microcks' `name:version` of the service it imported.

        mainArtifact is always sent explicitly: Microcks defaults it to true, which would turn a
        secondary artifact into a (broken) replacement of the service.
        """
        response = self._request(
            "POST",
            "/api/artifact/upload",
            params={"mainArtifact": "true" if main else "false"},
            files={"file": (file_name, content, _UPLOAD_CONTENT_TYPE)},
            what=f"upload of {file_name}",
        )
        if response.status_code == 204:
            raise MicrocksNoService(f"Microcks imported no service from {file_name}")
        self._expect(response, (200, 201), f"upload of {file_name}")
        imported = response.text.strip()
        if imported.startswith("{"):  # the /download sibling answers {"name": "..."}
            try:
                imported = str(response.json().get("name", ""))
            except ValueError:
                pass
        if not imported:
            raise MicrocksNoService(f"Microcks imported no service from {file_name}")
        return imported

    # -- services ----------------------------------------------------------------------------

    def get_service(self, name: str, version: str) -> dict[str, Any] | None:
        """The service `name:version` without its messages, or None when Microcks has none."""
        return self._get_optional(
            f"/api/services/{_service_ref(name, version)}", {"messages": "false"}
        )

    def get_service_view(self, service_id: str) -> dict[str, Any] | None:
        """`{"service": ..., "messagesMap": ...}` for a service id or `name:version`, or None."""
        return self._get_optional(
            f"/api/services/{quote(service_id, safe=':')}", {"messages": "true"}
        )

    def read_service(self, name: str, version: str) -> dict[str, Any] | None:
        """The view of `name:version` with its messages (example sources, operations with
        dispatchers, labels), or None when Microcks has no such service."""
        return self._get_optional(
            f"/api/services/{_service_ref(name, version)}", {"messages": "true"}
        )

    def override_operation(self, service_id: str, operation: str, values: dict[str, Any]) -> None:
        """PUT an operation's dispatcher, rules, delay and constraints (ServiceService.
        updateOperation: every absent value becomes null, and Microcks flags it `override`)."""
        what = f"override of {operation} in {service_id}"
        response = self._request(
            "PUT",
            f"/api/services/{quote(service_id, safe=':')}/operation",
            params={"operationName": operation},
            json=values,
            what=what,
        )
        self._expect(response, (200,), what)

    def update_metadata(
        self, service_id: str, labels: dict[str, str], annotations: dict[str, str]
    ) -> None:
        """Set a service's labels and annotations exactly (ServiceService.updateMetadata)."""
        what = f"metadata update of {service_id}"
        response = self._request(
            "PUT",
            f"/api/services/{quote(service_id, safe=':')}/metadata",
            json={"labels": labels, "annotations": annotations},
            what=what,
        )
        self._expect(response, (200,), what)

    def search(self, name_regex: str) -> list[dict[str, Any]]:
        """Services whose name matches `name_regex` (Microcks matches case-insensitively)."""
        response = self._request(
            "GET", "/api/services/search", params={"name": name_regex}, what="service search"
        )
        self._expect(response, (200,), "service search")
        return _json_list(response, "service search")

    def search_labelled(self, key: str, value: str) -> list[dict[str, Any]]:
        """Services whose label `key` is exactly `value` (ServiceController.searchServices)."""
        response = self._request(
            "GET", "/api/services/search", params={f"labels.{key}": value}, what="service search"
        )
        self._expect(response, (200,), "service search")
        return _json_list(response, "service search")

    def services_of_entity(self, entity_name: str, ref_hash: str) -> list[dict[str, Any]]:
        """The entity's services in one call: exact name (any case), version owned by the hash."""
        found = self.search(f"^{re.escape(entity_name)}$")
        return [
            s
            for s in found
            if isinstance(s.get("version"), str) and owned_by_entity(s["version"], ref_hash)
        ]

    def delete_service(self, service_id: str) -> None:
        """Delete a service by id; succeeds when it is already gone (Microcks answers 200)."""
        what = f"delete of service {service_id}"
        response = self._request(
            "DELETE", f"/api/services/{quote(service_id, safe=':')}", what=what
        )
        if response.status_code == 404:
            return
        self._expect(response, (200, 204), what)

    def list_services(self, *, page_size: int = 200) -> Iterator[dict[str, Any]]:
        """Every service, page by page. Costs one call per page: for audits only."""
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        page = 0
        while True:
            response = self._request(
                "GET",
                "/api/services",
                params={"page": str(page), "size": str(page_size)},
                what="service listing",
            )
            self._expect(response, (200,), "service listing")
            batch = _json_list(response, "service listing")
            yield from batch
            if len(batch) < page_size:
                return
            page += 1

    def endpoints(self, *, ws: bool = False) -> Endpoints:
        """Where Microcks serves its mocks. gRPC: the setting, else as Microcks' UI derives it
        from its own URL. WebSocket (asked for with `ws`): the setting, else the `endpoint-WS`
        Microcks advertises in /api/features/config (read once), else its default."""
        if ws and self._ws_endpoint is None:
            self._ws_endpoint = self._advertised_ws() or default_ws_endpoint(self.base_url)
        return Endpoints(
            http=self.base_url,
            grpc=self._grpc_endpoint or default_grpc_endpoint(self.base_url),
            ws=self._ws_endpoint or "",
        )

    def _advertised_ws(self) -> str | None:
        try:
            response = self._request("GET", "/api/features/config", what="features config")
        except (TransientError, MicrocksUnreachable):
            return None
        body = _optional_json(response)
        feature = body.get("async-api") if isinstance(body, dict) else None
        value = feature.get("endpoint-WS") if isinstance(feature, dict) else None
        return value.strip() if isinstance(value, str) and value.strip() else None

    def service_resources(self, service_id: str) -> list[dict[str, Any]] | None:
        """The resources Microcks keeps for a service (schemas, gRPC descriptor), or None."""
        response = self._request(
            "GET", f"/api/resources/service/{quote(service_id, safe='')}", what="resources"
        )
        body = _optional_json(response)
        return [r for r in body if isinstance(r, dict)] if isinstance(body, list) else None

    def mock_url(self, name: str, version: str) -> str:
        """Where Microcks serves the REST mock of `name:version` (spaces as %20)."""
        return f"{self.base_url}/rest/{quote(name, safe='')}/{quote(version, safe='')}"

    def close(self) -> None:
        self._http.close()
        if self._tokens is not None:
            self._tokens.close()

    def __enter__(self) -> MicrocksClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------------

    def _get_optional(self, path: str, params: dict[str, str]) -> dict[str, Any] | None:
        what = f"read of {path.removeprefix('/api/services/')}"
        response = self._request("GET", path, params=params, what=what)
        if response.status_code == 404:
            return None
        self._expect(response, (200,), what)
        return _json_body(response, what, dict)

    def _count(self, request: httpx.Request) -> None:
        with self._lock:
            self.calls += 1

    def _request(self, method: str, path: str, *, what: str, **kwargs: Any) -> httpx.Response:
        """Send through the auth flow; a 401 still standing after its refresh is AuthError."""
        response = self._send(method, path, what=what, **kwargs)
        if response.status_code in (401, 403):
            raise AuthError(
                f"Microcks refused {what} (HTTP {response.status_code}"
                + (", after a token refresh)" if response.status_code == 401 else ")")
            )
        return response

    def _send(self, method: str, path: str, *, what: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, self.base_url + path, **kwargs)
        except httpx.TimeoutException as exc:
            if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
                raise MicrocksUnreachable(
                    f"cannot connect to Microcks at {safe_url(self.base_url)} for {what}"
                ) from None
            raise MicrocksTimeout(f"Microcks did not answer {what} in time") from None
        except httpx.TransportError as exc:
            raise MicrocksUnreachable(
                f"cannot connect to Microcks at {safe_url(self.base_url)} for {what} "
                f"({type(exc).__name__})"
            ) from None

    def _expect(self, response: httpx.Response, ok: tuple[int, ...], what: str) -> None:
        status = response.status_code
        if status in ok:
            return
        if status == 429 or status >= 500:
            raise MicrocksBusy(
                f"Microcks answered HTTP {status} to {what}",
                status=status,
                retry_after=retry_after_seconds(response),
            )
        text = sanitize_text(response.text, self._redactions())
        if status == 400:
            raise MicrocksRejected(
                f"Microcks rejected {what}: {text}" if text else f"Microcks rejected {what}",
                text=text,
            )
        # Anything else (404 on an upload, 405, 3xx, ...) is a wrong URL or version mismatch:
        # repeating the same request cannot help.
        raise PermanentError(f"Microcks answered HTTP {status} to {what}")

    def _redactions(self) -> tuple[str, ...]:
        return self._tokens.redactions() if self._tokens is not None else ()


def _service_ref(name: str, version: str) -> str:
    # Microcks splits the id at the first ':' and reads '+' in the name as a space.
    return quote(f"{name}:{version}", safe=":")


_JSON_KIND = {dict: "object", list: "list"}


def _json_body(response: httpx.Response, what: str, kind: type[dict] | type[list]) -> Any:
    """The response's JSON, which must be a `kind` (dict or list); anything else is transient."""
    try:
        body = response.json()
    except ValueError:
        raise MicrocksBusy(f"Microcks answered non-JSON to {what}", status=200) from None
    if not isinstance(body, kind):
        raise MicrocksBusy(f"Microcks answered a non-{_JSON_KIND[kind]} to {what}", status=200)
    return body


def _json_list(response: httpx.Response, what: str) -> list[dict[str, Any]]:
    return [item for item in _json_body(response, what, list) if isinstance(item, dict)]


def _optional_json(response: httpx.Response) -> Any:
    """The JSON body of a 200 answer; None for another status or a body that is not JSON
    (for reads Microcks may not offer, whose absence is not an error)."""
    if response.status_code != 200:
        return None
    try:
        return response.json()
    except ValueError:
        return None
