"""Ask a Microcks mock for one of its own examples and compare the answer (used by the check),
and find the address that answers for the asset view; the kind serving the service's type
(kinds.serving) knows how a client calls it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from microcks_pipeline.core.errors import PipelineError
from microcks_pipeline.core.model import StatusRow
from microcks_pipeline.kinds import serving
from microcks_pipeline.kinds.base import ProbeResult
from microcks_pipeline.kinds.rest import Example, examples, probe
from microcks_pipeline.microcks import MicrocksClient

__all__ = ["Example", "ProbeResult", "answering_urls", "example_url", "examples", "probe"]


def _type(view: Mapping[str, Any]) -> str:
    return str((view.get("service") or {}).get("type") or "REST")


def example_url(client: MicrocksClient, service_id: str, version: str = "") -> str | None:
    """An address that answers one of the service's examples (a REST URL a browser can click,
    the SOAP or GraphQL endpoint, gRPC host:port/method, the WebSocket URL of an event); None
    when Microcks has no such service."""
    view = client.get_service_view(service_id)
    if view is None:
        return None
    return serving(_type(view)).address(client.endpoints(ws=_type(view) == "EVENT"), view)


def view_example_url(client: MicrocksClient, view: Mapping[str, Any]) -> str | None:
    """`example_url` from a service view already read (a run's own read-back), when it costs no
    call: None for an event mock while the WebSocket endpoint is not known yet (asking Microcks
    for it is left to the asset view's own lookup, outside the reconcile's call budget)."""
    endpoints = client.endpoints()
    if _type(view) == "EVENT" and not endpoints.ws:
        return None
    return serving(_type(view)).address(endpoints, view)


def answering_urls(client: MicrocksClient, rows: Iterable[StatusRow]) -> dict[str, str]:
    """mock → example_url, for the rows whose mock Microcks serves now (one read each)."""
    urls: dict[str, str] = {}
    for row in rows:
        if row.desired_action != "reconcile" or row.status != "completed":
            continue
        if not row.microcks_service_id:
            continue
        try:
            url = example_url(client, row.microcks_service_id)
        except PipelineError:  # a courtesy for the asset view: never fail a sync over it
            continue
        if url:
            urls[row.mock_id] = url
    return urls


def probe_service(
    client: MicrocksClient, view: Mapping[str, Any], http: httpx.Client, timeout: float
) -> ProbeResult:
    """Call the mock of `view` with one of its examples as a client of its type would."""
    return serving(_type(view)).probe(
        client.endpoints(ws=_type(view) == "EVENT"),
        view,
        http,
        timeout=timeout,
        resources=client.service_resources,
    )
