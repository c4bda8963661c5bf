"""Safe reading of repository files and URLs: the only place that opens artifacts.

Every reference goes through `ArtifactReader.resolve` (turns a ref into a Source, refusing
absolute paths, `..` escapes and URLs the policy forbids) and `ArtifactReader.read` (re-checks,
then reads into memory with a size cap). Nothing is written to disk.

URL safety (DESIGN §9, §10 "SSRF"): https only by default, exact host allow-list, every address
of the host checked before connecting (and the connection pinned to a checked address, so a DNS
answer that changes between check and connect cannot reach a private address), redirects
followed by hand and re-checked hop by hop, per-host bearer tokens sent to that host only.
Error messages show URLs without userinfo or query string and never carry a token.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

import httpx

from microcks_pipeline.core.errors import ArtifactPolicyError, ConfigError, TransientError
from microcks_pipeline.core.model import EntityLocation
from microcks_pipeline.sources.remote import Answer, RateLimited, RemoteFiles, rate_limit_until
from microcks_pipeline.sources.urls import (
    DEFAULT_MAX_BYTES,
    UrlPolicy,
    _checked_addresses,
    _pinned_transport,
    check_url,
    safe_url,
    url_folder,
)

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_HTTP_REF = re.compile(r"^https?://", re.IGNORECASE)


@dataclass(frozen=True)
class Source:
    """A resolved reference. `location` is what fingerprints and messages show: a repo-relative
    POSIX path, or the URL without userinfo, fragment and query (a query is replaced by a short
    hash of itself so distinct queries stay distinct without showing their values)."""

    kind: Literal["file", "url"]
    location: str
    path: Path | None = None  # absolute, lexically normalized (symlinks not yet resolved)
    url: str | None = None  # the full URL to fetch
    root: Path | None = None  # files: the repository root no real path may leave


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def url_location(url: str) -> str:
    """The fingerprint/message form of a URL (see Source)."""
    query = urlsplit(url).query
    base = safe_url(url)
    return f"{base}?sha256={sha256_hex(query.encode())[:12]}" if query else base


class ArtifactReader:
    """Resolves and reads artifact references under a file-size cap and a URL policy."""

    def __init__(
        self,
        policy: UrlPolicy = UrlPolicy(),  # noqa: B008 - frozen value, safe to share
        *,
        max_file_bytes: int = DEFAULT_MAX_BYTES,
        transport: httpx.BaseTransport | None = None,
        remote_interval: float = 0.0,
    ) -> None:
        """`remote_interval`: seconds before a remote file or repository is asked again."""
        self.policy = policy
        self.max_file_bytes = max_file_bytes
        self._transport = transport
        self._client: httpx.Client | None = None
        self._tokens = {h.lower(): t for h, t in policy.host_tokens.items()}
        self._real_roots: dict[str, str] = {}
        self.remote = RemoteFiles(
            self._fetch,
            interval=remote_interval,
            enterprise_hosts=policy.github_enterprise_hosts,
            usable=self._fetchable,
        )

    def __enter__(self) -> ArtifactReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # ---- resolution -------------------------------------------------------------------------

    def resolve(self, ref: str, *, base_dir: str, location: EntityLocation) -> Source:
        """Turn `ref` (URL or path relative to `base_dir`) into a Source, or refuse it."""
        if not isinstance(ref, str) or not ref.strip():
            raise ArtifactPolicyError("artifact reference is empty")
        ref = ref.strip()
        if _HTTP_REF.match(ref):
            check_url(ref, self.policy)
            return Source("url", url_location(ref), url=ref)
        shown = ref if len(ref) <= 200 else ref[:200] + "…"
        if "\x00" in ref or "\\" in ref:
            raise ArtifactPolicyError(f"artifact path {shown!r} refused: use plain '/' paths")
        if ref.startswith("/") or ref.startswith("~"):
            raise ArtifactPolicyError(
                f"artifact path {shown!r} refused: absolute paths are not allowed"
            )
        if _SCHEME.match(ref):
            raise ArtifactPolicyError(
                f"artifact reference {shown!r} refused: only relative paths and http(s) URLs"
            )
        if _HTTP_REF.match(base_dir):
            return self._resolve_under_url(ref, shown, base_dir, location)
        return self._resolve_file(ref, shown, base_dir, location)

    def _resolve_file(
        self, ref: str, shown: str, base_dir: str, location: EntityLocation
    ) -> Source:
        if location.kind != "file":
            raise ArtifactPolicyError(f"artifact path {shown!r} refused: no file repository")
        root = os.path.abspath(location.repo_root)
        path = os.path.normpath(os.path.join(os.path.abspath(base_dir), ref))
        if not _inside(path, root):
            raise ArtifactPolicyError(f"artifact path {shown!r} refused: it leaves the repository")
        rel = Path(os.path.relpath(path, root)).as_posix()
        return Source("file", rel, path=Path(path), root=Path(root))

    def _resolve_under_url(
        self, ref: str, shown: str, base_dir: str, location: EntityLocation
    ) -> Source:
        if not base_dir.endswith("/"):
            base_dir += "/"
        root = location.repo_root if location.kind == "url" else ""
        if not (root and base_dir.startswith(root)):
            # base came from an absolute `url:` annotation: stay on that host at least
            parts = urlsplit(base_dir)
            root = urlunsplit((parts.scheme, parts.netloc, "/", "", ""))
        if not root.endswith("/"):
            root += "/"
        # check the decoded form too: a server may decode %2e%2e into `..`
        for candidate in (ref, unquote(ref)):
            joined = urljoin(base_dir, candidate)
            if not joined.startswith(root):
                raise ArtifactPolicyError(
                    f"artifact path {shown!r} refused: it leaves the repository"
                )
        url = urljoin(base_dir, ref)
        check_url(url, self.policy)
        return Source("url", url_location(url), url=url)

    # ---- reading ----------------------------------------------------------------------------

    def read(self, source: Source) -> bytes:
        """The whole content, in memory; raises ConfigError, ArtifactPolicyError or TransientError."""
        if source.kind == "file":
            return self._read_file(source)
        assert source.url is not None
        return self._read_url(source.url)

    def _read_file(self, source: Source) -> bytes:
        assert source.path is not None and source.root is not None
        shown = source.location
        root = self._real_root(source.root)
        flags = os.O_RDONLY | os.O_NONBLOCK  # O_NONBLOCK: opening a FIFO must not hang
        try:
            # Fast path: open what was named (no final symlink) and ask the kernel where the
            # opened file really is; checking the open file itself leaves no race to exploit.
            fd = os.open(source.path, flags | _NOFOLLOW)
        except (FileNotFoundError, NotADirectoryError):
            raise ConfigError(f"artifact not found: {shown}") from None
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise TransientError(f"cannot read artifact {shown}: {exc.strerror}") from None
            fd = self._open_resolved(source, root, flags)
        real = _opened_path(fd) or os.path.realpath(source.path)
        if not _inside(real, root):
            os.close(fd)
            raise ArtifactPolicyError(
                f"artifact path {shown!r} refused: a symlink leads outside the repository"
            )
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise ArtifactPolicyError(f"artifact path {shown!r} refused: not a regular file")
            if info.st_size > self.max_file_bytes:
                raise ArtifactPolicyError(
                    f"artifact {shown} refused: {info.st_size} bytes, over the "
                    f"{self.max_file_bytes} byte limit"
                )
            chunks: list[bytes] = []
            total = 0
            while chunk := os.read(fd, 1 << 16):
                total += len(chunk)
                if total > self.max_file_bytes:  # the file grew after fstat
                    raise ArtifactPolicyError(
                        f"artifact {shown} refused: over the {self.max_file_bytes} byte limit"
                    )
                chunks.append(chunk)
            return b"".join(chunks)
        except OSError as exc:
            raise TransientError(f"cannot read artifact {shown}: {exc.strerror}") from None
        finally:
            os.close(fd)

    def _real_root(self, root: str | os.PathLike[str]) -> str:
        key = os.fspath(root)
        real = self._real_roots.get(key)
        if real is None:
            real = self._real_roots[key] = os.path.realpath(key)
        return real

    def _open_resolved(self, source: Source, root: str, flags: int) -> int:
        """Slow path for a symlinked file: resolve it, check it, open the final path."""
        shown = source.location
        real = os.path.realpath(source.path)  # type: ignore[arg-type]
        if not _inside(real, root):
            raise ArtifactPolicyError(
                f"artifact path {shown!r} refused: a symlink leads outside the repository"
            )
        try:
            return os.open(real, flags | _NOFOLLOW)
        except (FileNotFoundError, NotADirectoryError):
            raise ConfigError(f"artifact not found: {shown}") from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise ArtifactPolicyError(f"artifact path {shown!r} refused: symlink") from None
            raise TransientError(f"cannot read artifact {shown}: {exc.strerror}") from None

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                transport=self._transport or _pinned_transport(self.policy),
                follow_redirects=False,
                trust_env=False,  # no proxies or .netrc from the environment
                timeout=httpx.Timeout(self.policy.timeout),
            )
        return self._client

    def _read_url(self, url: str) -> bytes:
        # Conditional, per-repository reads (remote.py); requests go through _fetch.
        return self.remote.read(url)

    def begin_pass(self) -> None:
        """A new catalog pass: remote repositories may be asked again (see remote.py)."""
        self.remote.begin_pass()

    def _fetchable(self, url: str) -> bool:
        try:
            check_url(url, self.policy)
        except ArtifactPolicyError:
            return False
        return True

    def _fetch(self, url: str, extra: Mapping[str, str]) -> Answer:
        """GET `url` under the policy, redirects re-checked hop by hop; a 2xx or 304 Answer."""
        policy = self.policy
        deadline = time.monotonic() + policy.timeout
        hops = 0
        while True:
            shown = safe_url(url)
            host, port = check_url(url, policy)
            _checked_addresses(host, port, policy, shown)  # refuse before any connection
            # identity: the size cap counts what we hold; no decompression bombs
            headers = {"Accept": "*/*", **extra, "Accept-Encoding": "identity"}
            token = self._tokens.get(host)
            if token:
                headers["Authorization"] = f"Bearer {token}"
            try:
                with self._http().stream("GET", url, headers=headers) as response:
                    status = response.status_code
                    if status in _REDIRECTS and response.headers.get("location"):
                        target = urljoin(url, response.headers["location"])
                    elif status == 304:
                        return Answer(304, response.headers, b"", url)
                    else:
                        _raise_if_rate_limited(status, response.headers, host, shown)
                        _raise_for_status(status, response.headers, shown)
                        body = _bounded_body(response, policy.max_bytes, deadline, shown)
                        return Answer(status, response.headers, body, url)
            except httpx.TimeoutException:
                raise TransientError(f"timeout reading artifact URL {shown}") from None
            except httpx.HTTPError as exc:
                raise TransientError(
                    f"cannot read artifact URL {shown}: {type(exc).__name__}"
                ) from None
            hops += 1
            if hops > policy.max_redirects:
                raise ArtifactPolicyError(f"artifact URL {shown} refused: too many redirects")
            if urlsplit(url).scheme == "https" and urlsplit(target).scheme.lower() != "https":
                raise ArtifactPolicyError(
                    f"artifact URL {shown} refused: redirect from https to {safe_url(target)}"
                )
            url = target


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_FD_LINKS = "/proc/self/fd"


def _opened_path(fd: int) -> str | None:
    """The real path of an open file, from the kernel (Linux); None elsewhere."""
    try:
        return os.readlink(f"{_FD_LINKS}/{fd}")
    except OSError:
        return None


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _raise_if_rate_limited(status: int, headers: httpx.Headers, host: str, shown: str) -> None:
    until = rate_limit_until(status, headers, time.time())
    if until is not None:
        raise RateLimited(
            f"artifact URL {shown} answered {status}: rate limited", host=host, until=until
        )


def _raise_for_status(status: int, headers: httpx.Headers, shown: str) -> None:
    if 200 <= status < 300:
        return
    if status == 429 or status >= 500:
        retry_after = headers.get("retry-after")
        seconds = float(retry_after) if retry_after and retry_after.isdigit() else None
        raise TransientError(f"artifact URL {shown} answered {status}", retry_after=seconds)
    if status == 404:
        raise ConfigError(f"artifact not found: {shown} answered 404")
    raise ConfigError(f"artifact URL {shown} answered {status}")


def _bounded_body(response: httpx.Response, limit: int, deadline: float, shown: str) -> bytes:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ArtifactPolicyError(
            f"artifact URL {shown} refused: {declared} bytes, over the {limit} byte limit"
        )
    chunks: list[bytes] = []
    total = 0
    stream: Iterator[bytes] = response.iter_bytes()
    for chunk in stream:
        total += len(chunk)
        if total > limit:
            raise ArtifactPolicyError(f"artifact URL {shown} refused: over the {limit} byte limit")
        if time.monotonic() > deadline:  # a slow drip must not hold the run
            raise TransientError(f"timeout reading artifact URL {shown}")
        chunks.append(chunk)
    return b"".join(chunks)


__all__ = [
    "ArtifactReader",
    "Source",
    "UrlPolicy",
    "check_url",
    "safe_url",
    "sha256_hex",
    "url_folder",
    "url_location",
]
