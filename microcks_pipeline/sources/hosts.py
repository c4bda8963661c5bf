"""The URL host allow-list: entries are `host` or `host:port`, parsed once and matched exactly.

An entry with a port matches only that host on that port (the URL's explicit port, or its
scheme's default: `example.com:443` matches `https://example.com/...`). An entry without a port
matches the host on any port. IPv6 literals are written in brackets when they carry a port
(`[::1]:8900`). Anything else (a URL, `a:b:c`, a port out of range, an empty entry) is refused
with the entry named, so a typo fails loading instead of silently matching nothing.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOSTNAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*\.?$")
_WITH_PORT = re.compile(r"^(?P<host>\[[^\]]*\]|[^:\[\]]+):(?P<port>[^:]*)$")


def _host(text: str) -> str | None:
    """The canonical host of an entry's host part (IPv6 without brackets), or None if invalid."""
    if text.startswith("[") and text.endswith("]"):
        try:
            return str(ipaddress.IPv6Address(text[1:-1]))
        except ValueError:
            return None
    return text if _HOSTNAME.match(text) else None


def _shown(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def host_entry(entry: str) -> str:
    """The canonical form of one allow-list entry (`host` or `host:port`), or ValueError."""
    text = entry.strip().lower()
    if not text:
        raise ValueError("empty entry")
    if "/" in text or "@" in text:
        raise ValueError("write host or host:port, not a URL")
    try:  # a bare IPv6 literal carries no port
        return str(ipaddress.IPv6Address(text))
    except ValueError:
        pass
    match = _WITH_PORT.match(text)
    host_part, port = (match["host"], match["port"]) if match else (text, None)
    host = _host(host_part)
    if host is None:
        raise ValueError("not a host name or host:port (no scheme, path or extra ':')")
    if port is None:
        return host
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError("port must be a number from 1 to 65535")
    return f"{_shown(host)}:{int(port)}"


def parse_allowed_hosts(entries: Iterable[str], *, source: str) -> frozenset[str]:
    """Every entry in canonical form; a malformed one is a ValueError naming `source` and it
    (like every other bad setting: it stops the code location from loading)."""
    parsed = set()
    for entry in entries:
        try:
            parsed.add(host_entry(entry))
        except ValueError as exc:
            raise ValueError(f"{source}: entry {entry!r} is invalid: {exc}") from None
    return frozenset(parsed)


def host_refusal(allowed: Iterable[str], host: str, port: int) -> str | None:
    """Why `host` (lower-case, IPv6 unbracketed) on `port` matches no allow-list entry, or None
    when one matches."""
    entries = {e.lower() for e in allowed}
    if host in entries or f"{_shown(host)}:{port}" in entries:
        return None
    if any(e.startswith(f"{_shown(host)}:") for e in entries):
        return f"host {host} is not allowed on port {port}"
    return f"host {host} is not allowed"
