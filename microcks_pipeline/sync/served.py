"""What a successful sync leaves served, as the status row records it: kind, includeInSwagger,
service name and mock URL (the one place deciding them; per-kind URLs plug in here)."""

from __future__ import annotations

from microcks_pipeline.core.desired import DesiredMock
from microcks_pipeline.core.model import ServedMock

# The stamped main artifact starts with its version key (stamp.render_main), so the first
# bytes tell OpenAPI 3 from Swagger 2 without parsing the document again.
_SNIFF_BYTES = 64


def api_kind(mock: DesiredMock) -> str:
    """`swagger` for a Swagger 2.0 main, else the main artifact's kind (`openapi`, ...)."""
    if mock.main.kind == "openapi":
        head = mock.main.content[:_SNIFF_BYTES].lstrip(b"\xef\xbb\xbf{ \t\r\n\"'")
        if head.startswith(b"swagger"):
            return "swagger"
    return mock.main.kind


def served_mock(mock: DesiredMock, mock_url: str | None) -> ServedMock | None:
    """The row's record of a mock a reconcile just completed; None without a mock URL.

    `mock_url`: where Microcks serves it, as the reconcile outcome (and the asset's metadata)
    gives it: the REST mock's root, `<microcks>/rest/<name>/<version>`."""
    if not mock_url:
        return None
    return ServedMock(
        kind=api_kind(mock),
        include_in_swagger=mock.include_in_swagger,
        service_name=mock.service_name,
        mock_url=mock_url,
    )
