"""Microcks-specific branches of the pipeline's error tree, plus message sanitising.

    PipelineError
    ├── PermanentError
    │   ├── MicrocksRejected     Microcks answered 400 to an upload (carries Microcks' short text)
    │   └── MicrocksNoService    Microcks answered 204: it imported no service from the file
    ├── TransientError
    │   ├── MicrocksUnreachable  no connection at all: Microcks-wide, stop the whole run
    │   ├── MicrocksBusy         429 (retry_after from Retry-After) or 5xx
    │   └── MicrocksTimeout      the request was sent but no answer came in time
    └── AuthError                401 after one token refresh, 403, or a refused token request

Callers branch on the class; `status` holds the HTTP status when there was one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

from microcks_pipeline.errors import PermanentError, TransientError

_MAX_TEXT = 300
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
# A credential-bearing URL (`scheme://user:pass@host`) inside free text.
_URL_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@]+@")


class MicrocksRejected(PermanentError):
    """Microcks refused an artifact (HTTP 400); `text` is Microcks' own explanation, shortened."""

    def __init__(self, message: str, *, text: str = "", status: int = 400) -> None:
        super().__init__(message)
        self.text = text
        self.status = status


class MicrocksNoService(PermanentError):
    """Microcks accepted the upload but imported no service from it (HTTP 204)."""


class MicrocksUnreachable(TransientError):
    """Microcks (or its token endpoint) could not be reached: every later call would fail too."""


class MicrocksBusy(TransientError):
    """Microcks answered 429 or 5xx; `status` and (for 429) `retry_after` say what and how long."""

    def __init__(self, message: str, *, status: int, retry_after: float | None = None) -> None:
        super().__init__(message, retry_after=retry_after)
        self.status = status


class MicrocksTimeout(TransientError):
    """The request reached Microcks but the answer did not arrive within the timeout."""


def safe_url(url: str) -> str:
    """The URL without user info, query or fragment: safe to put in a message."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def sanitize_text(text: str, secrets: Iterable[str] = ()) -> str:
    """One short line of server text with control characters, URL credentials and secrets removed."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = _URL_USERINFO.sub(r"\g<scheme>***@", text)
    text = " ".join(_CONTROL.sub(" ", text).split())
    if len(text) > _MAX_TEXT:
        text = text[: _MAX_TEXT - 1] + "…"
    return text
