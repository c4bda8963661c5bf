"""REST mocks (OpenAPI, Swagger, Postman, HAR, SoapUI REST services): the URL that answers one
of the service's own examples, and the probe that calls it as a client would.

The example comes from Microcks' service view (`messagesMap`): the operation name gives the
method and path template, the response's dispatch criteria (`/part=value`, `?param=value`) and
the request's query parameters fill it in, and the response's status and body are what the mock
must answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from microcks_pipeline.kinds.base import Endpoints, ProbeResult, Serving, http_path

_TEMPLATE = re.compile(r"\{([^}/]+)\}|:([A-Za-z0-9_]+)")
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


@dataclass(frozen=True)
class Example:
    """One request/response pair made concrete: what to send and what must come back."""

    operation: str
    name: str
    method: str
    path: str  # resource path after the mock base URL, query string included
    body: str | None
    status: int
    media_type: str | None
    expected: str


def _criteria(text: str | None) -> tuple[dict[str, str], dict[str, str]]:
    """(path parts, query params) encoded in Microcks dispatch criteria."""
    parts: dict[str, str] = {}
    params: dict[str, str] = {}
    if not text:
        return parts, params
    path_text, _, query_text = text.partition("?")
    for chunk in path_text.split("/"):
        key, eq, value = chunk.partition("=")
        if eq and key:
            parts[key.strip()] = value
    for chunk in query_text.split("?"):
        for pair in chunk.split("&"):
            key, eq, value = pair.partition("=")
            if eq and key:
                params[key.strip()] = value
    return parts, params


def _fill(template: str, parts: Mapping[str, str]) -> str | None:
    missing = False

    def sub(m: re.Match[str]) -> str:
        nonlocal missing
        key = m.group(1) or m.group(2)
        if key not in parts:
            missing = True
            return ""
        return quote(parts[key], safe="")

    path = _TEMPLATE.sub(sub, template)
    return None if missing else path


def examples(view: Mapping[str, Any]) -> Iterator[Example]:
    """Every example of the service view that can be turned into a concrete call, GETs first."""
    found: list[Example] = []
    messages = view.get("messagesMap") or {}
    for operation, pairs in messages.items():
        method, _, template = str(operation).partition(" ")
        method = method.upper()
        if method not in _METHODS or not template.startswith("/"):
            continue
        for pair in pairs or []:
            request = pair.get("request") or {}
            response = pair.get("response") or {}
            if "response" not in pair:
                continue
            parts, params = _criteria(response.get("dispatchCriteria"))
            for q in request.get("queryParameters") or []:
                if isinstance(q, dict) and "name" in q:
                    params.setdefault(str(q["name"]), str(q.get("value", "")))
            path = _fill(template, parts)
            if path is None:
                continue
            if params:
                path += "?" + "&".join(
                    f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in sorted(params.items())
                )
            try:
                status = int(response.get("status") or 200)
            except ValueError:
                continue
            found.append(
                Example(
                    operation=str(operation),
                    name=str(pair.get("name") or response.get("name") or request.get("name")),
                    method=method,
                    path=path,
                    body=request.get("content"),
                    status=status,
                    media_type=response.get("mediaType"),
                    expected=response.get("content") or "",
                )
            )
    found.sort(key=lambda e: (e.method != "GET", e.operation))
    yield from found


def _same_body(expected: str, actual: str) -> bool:
    try:
        return json.loads(expected) == json.loads(actual)
    except ValueError:
        return expected.strip() == actual.strip()


def probe(view: Mapping[str, Any], mock_base_url: str, http: httpx.Client) -> ProbeResult:
    """Call the mock with its first usable example; ok when status and body match it."""
    example = next(examples(view), None)
    if example is None:
        return ProbeResult(False, "the service has no example that can be called")
    url = mock_base_url.rstrip("/") + example.path
    headers = {"Accept": example.media_type} if example.media_type else {}
    if example.body is not None:
        headers["Content-Type"] = example.media_type or "application/json"
    try:
        response = http.request(example.method, url, headers=headers, content=example.body)
    except httpx.HTTPError as exc:
        return ProbeResult(False, f"{example.operation}: {type(exc).__name__}", url)
    where = f"{example.operation} '{example.name}'"
    if response.status_code != example.status:
        return ProbeResult(
            False,
            f"{where}: HTTP {response.status_code}, expected {example.status}",
            url,
        )
    if not _same_body(example.expected, response.text):
        return ProbeResult(False, f"{where}: body differs from the example", url)
    return ProbeResult(True, f"{where}: answered as the example says", url)


class RestServing(Serving):
    service_type = "REST"

    def root(self, endpoints: Endpoints, name: str, version: str) -> str:
        return http_path(endpoints, "rest", name, version)

    def address(self, endpoints: Endpoints, view: Mapping[str, Any]) -> str:
        """The mock root plus the path of a GET example, a 2xx one if any."""
        gets = sorted(
            (e for e in examples(view) if e.method == "GET"), key=lambda e: e.status >= 300
        )
        example = next(iter(gets), None)
        base = self.root(endpoints, *_identity(view))
        return base.rstrip("/") + example.path if example else base

    def probe(
        self, endpoints: Endpoints, view: Mapping[str, Any], http: httpx.Client, **_: Any
    ) -> ProbeResult:
        return probe(view, self.root(endpoints, *_identity(view)), http)


def _identity(view: Mapping[str, Any]) -> tuple[str, str]:
    service = view.get("service") or {}
    return str(service.get("name", "")), str(service.get("version", ""))


REST = RestServing()
