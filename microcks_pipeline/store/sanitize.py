"""One short, single-line, secret-free message from any error text, fit to store and show."""

from __future__ import annotations

import re

_TRACEBACK_HEAD = "Traceback (most recent call last)"
_CHAINED = ("During handling of the above exception", "The above exception was the direct cause")

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_SPACES = re.compile(r"\s{2,}")

# (pattern, replacement), applied in order; each keeps the label and masks only the secret.
_REDACTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization / Proxy-Authorization headers, whatever the scheme.
    (
        re.compile(
            r"""(\b(?:proxy-)?authorization\b["']?\s*[:=]\s*["']?)"""
            r"""(?:(?:bearer|basic|token|digest|negotiate)\s+)?[^\s"',;]+""",
            re.IGNORECASE,
        ),
        r"\1***",
    ),
    # A bearer token anywhere else.
    (re.compile(r"\b(bearer)\s+[A-Za-z0-9\-._~+/]+=*", re.IGNORECASE), r"\1 ***"),
    # Credentials inside URLs: scheme://user:pw@host -> scheme://***@host.
    (re.compile(r"\b([a-z][a-z0-9+.\-]*://)[^/\s@]+@", re.IGNORECASE), r"\1***@"),
    # Query parameters named like secrets.
    (
        re.compile(
            r"([?&;][^=&#\s]*?(?:token|secret|key|password|passwd|pwd|auth|signature|sig"
            r"|credential)[^=&#\s]*=)[^&#\s]*",
            re.IGNORECASE,
        ),
        r"\1***",
    ),
    # key=value / "key": "value" pairs named like secrets, in free text, JSON or form bodies.
    (
        re.compile(
            r"""(\b[\w-]*(?:token|secret|password|passwd|pwd|api[_-]?key|access[_-]?key"""
            r"""|private[_-]?key|credentials?)[\w-]*["']?\s*[=:]\s*)"""
            r"""("[^"]*"|'[^']*'|[^\s,;&}]+)""",
            re.IGNORECASE,
        ),
        r"\1***",
    ),
    # JSON Web Tokens and well-known personal access token formats, wherever they appear.
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), "***"),
    (
        re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr|github_pat|glpat|xox[abpr])[_-][A-Za-z0-9_-]{10,}"),
        "***",
    ),
)


def _single_line(message: str) -> str:
    """The line an operator needs: the first one, or for a traceback its final exception line."""
    lines = [line for line in message.splitlines() if line.strip()]
    if not lines:
        return ""
    if not lines[0].lstrip().startswith(_TRACEBACK_HEAD):
        return lines[0]
    # Exception lines are the unindented ones; the last of them is what was finally raised.
    candidates = [
        line
        for line in lines
        if not line[0].isspace()
        and not line.startswith(_TRACEBACK_HEAD)
        and not line.startswith(_CHAINED)
    ]
    return candidates[-1] if candidates else "error (traceback without a message)"


def sanitize_error(message: str, limit: int = 500) -> str:
    """`message` as one line of at most `limit` characters, with tokens and credentials masked.

    Keeps the first line (for a Python traceback: the exception line, never the frames); masks
    Authorization headers, bearer tokens, `user:password@` in URLs, secret-named query
    parameters and key=value pairs, JWTs and personal access tokens.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    text = _single_line(str(message))
    text = _SPACES.sub(" ", _CONTROL.sub(" ", text)).strip()
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text
