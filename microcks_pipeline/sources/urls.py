"""URL policy: which URLs may be fetched, how they are shown, and connections pinned to checked addresses."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpcore
import httpx

from microcks_pipeline.core.errors import ArtifactPolicyError, TransientError
from microcks_pipeline.sources.hosts import host_refusal

DEFAULT_MAX_BYTES = 2 * 1024 * 1024  # Microcks' own upload limit


@dataclass(frozen=True)
class UrlPolicy:
    """What URL artifacts may be fetched, and how much of them."""

    # `host` (any port) or `host:port` entries, see hosts.py; empty → no URL
    allowed_hosts: frozenset[str] = frozenset()
    allow_http: bool = False  # https only by default
    allow_private: bool = False  # loopback/private/link-local/reserved/multicast refused by default
    host_tokens: Mapping[str, str] = field(default_factory=dict)  # bearer token per host
    max_bytes: int = DEFAULT_MAX_BYTES
    timeout: float = 10.0  # seconds, per network operation and for a whole read
    max_redirects: int = 3
    # GitHub Enterprise hosts, whose `/blob/` file pages are read from `/raw/` (see scm.py).
    github_enterprise_hosts: frozenset[str] = frozenset()

    def __repr__(self) -> str:  # tokens must never reach a log line through a repr
        return (
            f"UrlPolicy(allowed_hosts={sorted(self.allowed_hosts)!r}, "
            f"allow_http={self.allow_http}, allow_private={self.allow_private}, "
            f"host_tokens=<{len(self.host_tokens)} hidden>, max_bytes={self.max_bytes}, "
            f"timeout={self.timeout}, max_redirects={self.max_redirects})"
        )


def safe_url(url: str) -> str:
    """The URL as it may appear in messages: no userinfo, no query, no fragment."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparseable URL>"
    if ":" in host:
        host = f"[{host}]"
    return urlunsplit((parts.scheme.lower(), host + port, parts.path, "", ""))


def url_folder(url: str) -> str:
    """The folder of a URL (with its trailing `/`), query and fragment dropped."""
    parts = urlsplit(url)
    folder = parts.path.rsplit("/", 1)[0] + "/"
    return urlunsplit((parts.scheme, parts.netloc, folder, "", ""))


def _address_refused(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    mapped = getattr(ip, "ipv4_mapped", None)
    if mapped is not None:
        ip = mapped
    return (
        not ip.is_global
        or ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_unspecified
        or ip.is_multicast
    )


def _checked_addresses(host: str, port: int, policy: UrlPolicy, shown: str) -> list[str]:
    """Every address `host` resolves to, refusing the lot if any one is not allowed."""
    try:
        literal = ipaddress.ip_address(host)
        addresses = [literal]
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError, OSError):
            raise TransientError(f"cannot resolve the host of artifact URL {shown}") from None
        addresses = [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]
    if not addresses:
        raise TransientError(f"cannot resolve the host of artifact URL {shown}")
    if not policy.allow_private:
        for ip in addresses:
            if _address_refused(ip):
                raise ArtifactPolicyError(
                    f"artifact URL {shown} refused: host resolves to a loopback, private or "
                    "reserved address"
                )
    return [str(ip) for ip in addresses]


def check_url(url: str, policy: UrlPolicy) -> tuple[str, int]:
    """Static policy checks (scheme, credentials, host allow-list); returns (host, port)."""
    shown = safe_url(url)
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        raise ArtifactPolicyError(f"artifact URL {shown} refused: malformed URL") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or (scheme == "http" and not policy.allow_http):
        raise ArtifactPolicyError(f"artifact URL {shown} refused: only https URLs are allowed")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ArtifactPolicyError(f"artifact URL {shown} refused: credentials inside URLs")
    if not host:
        raise ArtifactPolicyError(f"artifact URL {shown} refused: no host")
    port = port or (443 if scheme == "https" else 80)
    refusal = host_refusal(policy.allowed_hosts, host, port)
    if refusal is not None:
        raise ArtifactPolicyError(f"artifact URL {shown} refused: {refusal}")
    return host, port


class _PinnedBackend(httpcore.SyncBackend):
    """Connects only to addresses the policy accepts, checked at connect time (DNS rebinding)."""

    def __init__(self, policy: UrlPolicy) -> None:
        self._policy = policy

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        shown = f"{host}:{port}"
        last: Exception | None = None
        for ip in _checked_addresses(host, port, self._policy, shown):
            try:
                return super().connect_tcp(ip, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last


def _pinned_transport(policy: UrlPolicy) -> httpx.BaseTransport:
    transport = httpx.HTTPTransport(trust_env=False)
    # httpx has no public hook for the network backend; its pool is swapped for one that pins
    # connections to checked addresses. If httpx changes shape, the pre-connect check remains.
    if isinstance(getattr(transport, "_pool", None), httpcore.ConnectionPool):
        transport._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            network_backend=_PinnedBackend(policy),
        )
    return transport
