"""Message sanitising for Microcks answers, and the Microcks branches of the error tree.

The error classes live in `microcks_pipeline.core.errors` (the one tree, drawn there); they are
re-exported here so `from microcks_pipeline.microcks.errors import MicrocksUnreachable` keeps
working.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

# Re-exported: the classes live in the one tree of microcks_pipeline.core.errors.
from microcks_pipeline.core.errors import MicrocksBusy as MicrocksBusy
from microcks_pipeline.core.errors import MicrocksNoService as MicrocksNoService
from microcks_pipeline.core.errors import MicrocksRejected as MicrocksRejected
from microcks_pipeline.core.errors import MicrocksTimeout as MicrocksTimeout
from microcks_pipeline.core.errors import MicrocksUnreachable as MicrocksUnreachable

_MAX_TEXT = 300
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
# A credential-bearing URL (`scheme://user:pass@host`) inside free text.
_URL_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@]+@")


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
