"""What a successful sync leaves served, as the status row records it: kind, includeInSwagger,
service name and mock URL (the kind's own address of the mock, as the reconcile outcome gives it)."""

from __future__ import annotations

from microcks_pipeline.core.desired import DesiredMock
from microcks_pipeline.core.model import ServedMock


def api_kind(mock: DesiredMock) -> str | None:
    """The main artifact's kind as detected when it was loaded (openapi, swagger, asyncapi, ...)."""
    kind = mock.main.facts.kind
    return None if kind == "other" else kind


def served_mock(mock: DesiredMock, mock_url: str | None) -> ServedMock | None:
    """The row's record of a mock a reconcile just completed; None without a mock URL.

    `mock_url`: where Microcks serves it, as the reconcile outcome (and the asset's metadata)
    gives it: the root its kind serves it at (`<microcks>/rest/<name>/<version>` for REST,
    the GraphQL or SOAP endpoint, `grpc://host:port/<service>`, the WebSocket base)."""
    if not mock_url:
        return None
    return ServedMock(
        kind=api_kind(mock),
        include_in_swagger=mock.include_in_swagger,
        service_name=mock.service_name,
        mock_url=mock_url,
    )
