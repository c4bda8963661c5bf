"""Ask a Microcks mock for one of its own examples and compare the answer (used by the check).

The example comes from Microcks' service view (`messagesMap`): the operation name gives the
method and path template, the response's dispatch criteria (`/part=value`, `?param=value`) and
the request's query parameters fill it in, and the response's status and body are what the mock
must answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from microcks_pipeline.core.errors import PipelineError
from microcks_pipeline.core.model import StatusRow
from microcks_pipeline.microcks import MicrocksClient
from microcks_pipeline.microcks.errors import safe_url

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


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    detail: str
    url: str | None = None


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


def mock_root(client: MicrocksClient, view: Mapping[str, Any], version: str) -> str:
    """The mock endpoint root of the service the view describes (no resource path)."""
    return client.mock_url(str((view.get("service") or {}).get("name", "")), version)


def example_url(client: MicrocksClient, service_id: str, version: str) -> str | None:
    """A mock URL that answers a browser's click: the mock's root plus the path of a GET
    example, a 2xx one if any (the root alone when there is none); None when Microcks has no
    such service."""
    view = client.get_service_view(service_id)
    return None if view is None else view_example_url(client, view, version)


def view_example_url(client: MicrocksClient, view: Mapping[str, Any], version: str) -> str:
    """`example_url` from a service view already read."""
    gets = sorted((e for e in examples(view) if e.method == "GET"), key=lambda e: e.status >= 300)
    example = next(iter(gets), None)
    base = mock_root(client, view, version)
    return base.rstrip("/") + example.path if example else base


def answering_urls(client: MicrocksClient, rows: Iterable[StatusRow]) -> dict[str, str]:
    """mock → example_url, for the rows whose mock Microcks serves now (one read each)."""
    urls: dict[str, str] = {}
    for row in rows:
        if row.desired_action != "reconcile" or row.status != "completed":
            continue
        if not row.microcks_service_id:
            continue
        try:
            url = example_url(client, row.microcks_service_id, row.microcks_version_id)
        except PipelineError:  # a courtesy for the asset view: never fail a sync over it
            continue
        if url:
            urls[row.mock_id] = url
    return urls


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
        return ProbeResult(False, f"{example.operation}: {type(exc).__name__}", safe_url(url))
    where = f"{example.operation} '{example.name}'"
    if response.status_code != example.status:
        return ProbeResult(
            False,
            f"{where}: HTTP {response.status_code}, expected {example.status}",
            safe_url(url),
        )
    if not _same_body(example.expected, response.text):
        return ProbeResult(False, f"{where}: body differs from the example", safe_url(url))
    return ProbeResult(True, f"{where}: answered as the example says", url)
