"""Spring Boot's default error body, which Microcks answers for framework-level failures (404, 405, 413, 500)."""

from __future__ import annotations

from datetime import UTC, datetime
from http import HTTPStatus

from starlette.responses import JSONResponse

# Spring 6.1+ names 413 "Content Too Large" (RFC 9110).
_REASONS = {413: "Content Too Large"}


def spring_error(status: int, path: str) -> JSONResponse:
    reason = _REASONS.get(status) or HTTPStatus(status).phrase
    now = datetime.now(UTC)
    timestamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+00:00"
    return JSONResponse(
        {"timestamp": timestamp, "status": status, "error": reason, "path": path},
        status_code=status,
    )
