"""Remote files read at the cost of their repositories, not of their files.

What one long-lived reader (the catalog sensor's) remembers between passes, in memory (a
restart of the code location reads every remote file once more):
- every URL's content with its validators (ETag, Last-Modified): the next read asks again with
  `If-None-Match` (or `If-Modified-Since` when there is no ETag) and a 304 reuses the content;
- for files on GitHub, GitHub Enterprise and GitLab (see scm.repo_file): the commit each
  repository and ref pointed at, asked once per pass with a conditional request, and the blob id
  of every file at that commit (one tree listing per new commit). A file is read again only
  when its blob changed, and then at the commit itself (a raw URL at a branch may be served
  stale by a CDN; one at a commit cannot be);
- per-host rate-limit backoffs (429, or 403 with rate-limit headers), until the reset the host
  named: no request goes to that host before then, files already read keep their content
  (their entities keep their rows), and files never read fail as transient errors;
- a minimum interval between two checks of the same file or repository.

Counters of requests and bytes are kept by the servers in tests and benchmarks, not here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

from microcks_pipeline.core.errors import ConfigError, PipelineError, TransientError
from microcks_pipeline.sources.scm import GITHUB_SHA_MEDIA, RepoFile, raw_content_url, repo_file

# GitHub: "wait at least one minute" when a secondary limit names no time.
DEFAULT_BACKOFF_SECONDS = 60.0
MAX_BACKOFF_SECONDS = 3600.0  # a reset further away than GitHub's hour is not believed
MAX_TREE_PAGES = 200  # GitLab pages of 100 entries: 20,000 files per repository


@dataclass(frozen=True)
class Answer:
    """One HTTP answer the fetcher accepted: 2xx or 304, with the URL that gave it."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    url: str


# fetch(url, extra request headers) → Answer; raises PipelineError (RateLimited among them).
Fetch = Callable[[str, Mapping[str, str]], Answer]


class RateLimited(TransientError):
    """A host said to stop (429, or 403 with rate-limit headers) until `until` (epoch seconds)."""

    def __init__(self, message: str, *, host: str, until: float, now: float | None = None) -> None:
        wait = until - (time.time() if now is None else now)
        super().__init__(message, retry_after=max(0.0, round(wait, 3)))
        self.host = host
        self.until = until


def _number(headers: Mapping[str, str], name: str) -> float | None:
    raw = headers.get(name)
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


def _retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """`Retry-After` as an epoch time: seconds, or an HTTP date."""
    raw = (headers.get("retry-after") or "").strip()
    if not raw:
        return None
    if raw.isdigit():
        return now + float(raw)
    try:
        return parsedate_to_datetime(raw).timestamp()
    except (TypeError, ValueError):
        return None


def rate_limit_until(status: int, headers: Mapping[str, str], now: float) -> float | None:
    """When a rate-limited host may be asked again (epoch seconds), or None if not limited.

    GitHub: 403 or 429 with `x-ratelimit-remaining: 0` waits for `x-ratelimit-reset` (epoch
    seconds); a secondary limit sends `retry-after`, or nothing: then one minute. GitLab: 429
    with `ratelimit-reset` (epoch seconds) and `retry-after`. A 403 without any of these headers
    is a refusal, not a limit.
    """
    remaining = _number(headers, "x-ratelimit-remaining")
    if remaining is None:
        remaining = _number(headers, "ratelimit-remaining")
    retry = _retry_after(headers, now)
    exhausted = remaining is not None and remaining <= 0
    if status == 403 and not (exhausted or retry is not None):
        return None
    if status not in (403, 429):
        return None
    reset = _number(headers, "x-ratelimit-reset") or _number(headers, "ratelimit-reset")
    candidates = [t for t in (retry, reset if exhausted or status == 429 else None) if t]
    until = max(candidates) if candidates else now + DEFAULT_BACKOFF_SECONDS
    return min(max(until, now + 1.0), now + MAX_BACKOFF_SECONDS)


@dataclass
class _File:
    content: bytes
    fetched: str  # the URL that gave the content (validators belong to it)
    etag: str | None
    last_modified: str | None
    checked: float  # monotonic time of the last check against the host
    used: int  # last pass that read it
    commit: str | None = None  # repository files: the commit it was read at
    blob: str | None = None  # ... and its blob id there, when the tree was listed


@dataclass
class _Revision:
    commit: str | None  # None: the host's API could not tell; files are read conditionally
    etag: str | None
    checked: float
    checked_pass: int
    used: int
    blobs: dict[str, str] | None = None  # path → blob id at `commit`, once listed
    complete: bool = False  # the listing holds every file (a missing path does not exist)


@dataclass
class _Backoff:
    until: float  # epoch seconds
    reason: str


@dataclass
class RemoteFiles:
    """Conditional, per-repository reads of remote files (see the module docstring)."""

    fetch: Fetch
    interval: float = 0.0  # seconds between two checks of one file or repository
    enterprise_hosts: frozenset[str] = frozenset()
    usable: Callable[[str], bool] = lambda url: True  # may this URL be fetched (policy)?
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    _files: dict[str, _File] = field(default_factory=dict)
    _revisions: dict[str, _Revision] = field(default_factory=dict)
    _backoffs: dict[str, _Backoff] = field(default_factory=dict)
    _pass: int = 0

    def begin_pass(self) -> None:
        """A new catalog pass: each repository may be asked again (once); memory of files and
        repositories no longer read during the last pass is dropped."""
        keep = self._pass
        self._files = {u: f for u, f in self._files.items() if f.used >= keep}
        self._revisions = {k: r for k, r in self._revisions.items() if r.used >= keep}
        self._pass += 1

    def backoffs(self) -> tuple[str, ...]:
        """The hosts in backoff now, for the catalog sensor's tick message."""
        now = self.wall()
        return tuple(
            f"{host} rate limited until "
            f"{datetime.fromtimestamp(b.until, UTC):%Y-%m-%d %H:%M:%S} UTC ({b.reason})"
            for host, b in sorted(self._backoffs.items())
            if b.until > now
        )

    def read(self, url: str) -> bytes:
        """The content of `url`, from memory when it provably did not change."""
        known = self._files.get(url)
        if known is not None:
            known.used = self._pass
            if self.clock() - known.checked < self.interval:
                return known.content
        try:
            return self._read(url, known)
        except RateLimited:
            if known is not None:  # keep what we have: its entity's rows stay as they are
                return known.content
            raise

    def _read(self, url: str, known: _File | None) -> bytes:
        repo = repo_file(url, self.enterprise_hosts)
        revision = self._revision(repo) if repo is not None else None
        if repo is None or revision is None or revision.commit is None:
            raw = raw_content_url(url, self.enterprise_hosts)
            return self._conditional(url, raw, known)
        commit = revision.commit
        if known is not None and known.commit == commit:
            known.checked = self.clock()
            return known.content
        blob = self._blob(repo, revision)
        if known is not None and blob is not None and known.blob == blob:
            known.commit, known.checked = commit, self.clock()
            return known.content
        if blob is None and revision.complete:
            raise ConfigError(
                f"artifact not found: {repo.tree_path} is not in {repo.repo}@{repo.ref} "
                f"(commit {commit[:12]})"
            )
        raw = repo.raw_url(commit)
        answer = self._get(raw, {})
        self._remember(url, raw, answer, commit=commit, blob=blob)
        return answer.body

    def _conditional(self, url: str, fetch_url: str, known: _File | None) -> bytes:
        headers: dict[str, str] = {}
        if known is not None and known.fetched == fetch_url:
            # With an ETag, If-None-Match alone: a server that only knows If-Modified-Since
            # would answer 304 to an edit made within the second of the last read.
            if known.etag:
                headers["If-None-Match"] = known.etag
            elif known.last_modified:
                headers["If-Modified-Since"] = known.last_modified
        answer = self._get(fetch_url, headers)
        if answer.status == 304:
            if known is None or not headers:
                raise TransientError(f"{_shown(fetch_url)} answered 304 to a plain request")
            known.checked = self.clock()
            return known.content
        self._remember(url, fetch_url, answer)
        return answer.body

    def _remember(
        self,
        url: str,
        fetched: str,
        answer: Answer,
        *,
        commit: str | None = None,
        blob: str | None = None,
    ) -> None:
        # The validators are kept with the URL asked for, the one they are sent to next time.
        self._files[url] = _File(
            content=answer.body,
            fetched=fetched,
            etag=answer.headers.get("etag"),
            last_modified=_strong_last_modified(answer.headers),
            checked=self.clock(),
            used=self._pass,
            commit=commit,
            blob=blob,
        )

    # ---- repositories -----------------------------------------------------------------------

    def _revision(self, repo: RepoFile) -> _Revision | None:
        """The commit `repo`'s ref points at; asked at most once a pass and once an interval."""
        key = repo.repository
        known = self._revisions.get(key)
        if known is not None:
            known.used = self._pass
            recent = self.clock() - known.checked < self.interval
            if known.checked_pass == self._pass or recent:
                return known
        url = repo.commit_url()
        if not self.usable(url):
            return None  # the API host is not allowed: every file is read conditionally
        headers = {"Accept": GITHUB_SHA_MEDIA if repo.flavor == "github" else "application/json"}
        if known is not None and known.etag:
            headers["If-None-Match"] = known.etag
        try:
            answer = self._get(url, headers)
        except RateLimited:
            raise
        except PipelineError:
            # An unknown ref (a branch name with a "/" in it, say) or an API refusal: fall back
            # to conditional reads of each file, which report their own errors.
            answer = None
        revision = self._next_revision(repo, known, answer)
        self._revisions[key] = revision
        return revision

    def _next_revision(
        self, repo: RepoFile, known: _Revision | None, answer: Answer | None
    ) -> _Revision:
        now = self.clock()
        if answer is not None and answer.status == 304 and known is not None:
            known.checked, known.checked_pass = now, self._pass
            return known
        commit = _commit_of(repo, answer) if answer is not None else None
        etag = answer.headers.get("etag") if answer is not None else None
        if known is not None and commit is not None and known.commit == commit:
            known.etag, known.checked, known.checked_pass = etag, now, self._pass
            return known
        return _Revision(commit, etag, now, self._pass, self._pass)

    def _blob(self, repo: RepoFile, revision: _Revision) -> str | None:
        """The file's blob id at the revision's commit, listing the tree once per commit."""
        if revision.blobs is None:
            assert revision.commit is not None
            revision.blobs, revision.complete = self._tree(repo, revision.commit)
        return revision.blobs.get(repo.tree_path)

    def _tree(self, repo: RepoFile, commit: str) -> tuple[dict[str, str], bool]:
        blobs: dict[str, str] = {}
        url: str | None = repo.tree_url(commit)
        pages = 0
        complete = False
        try:
            while url is not None and pages < MAX_TREE_PAGES:
                pages += 1
                answer = self._get(url, {"Accept": "application/json"})
                complete = _add_tree_page(repo, answer, blobs)
                url = _next_link(answer)
        except RateLimited:
            raise
        except (PipelineError, ValueError):
            return {}, False  # no listing: the files are read at the commit instead
        return blobs, complete and url is None

    # ---- requests ---------------------------------------------------------------------------

    def _get(self, url: str, headers: Mapping[str, str]) -> Answer:
        host = (urlsplit(url).hostname or "").lower()
        now = self.wall()
        backoff = self._backoffs.get(host)
        if backoff is not None and backoff.until > now:
            raise RateLimited(
                f"{host} is rate limited until "
                f"{datetime.fromtimestamp(backoff.until, UTC):%H:%M:%S} UTC; not asked",
                host=host,
                until=backoff.until,
            )
        try:
            return self.fetch(url, headers)
        except RateLimited as exc:
            self._backoffs[exc.host] = _Backoff(exc.until, str(exc))
            raise


def _strong_last_modified(headers: Mapping[str, str]) -> str | None:
    """Last-Modified, if usable for If-Modified-Since: at least a second before the answer's
    Date (RFC 9110 §8.8.2.2). A file changed within the second it was served may change again
    within that second, and a server comparing whole seconds would then answer 304 to it."""
    modified, date = headers.get("last-modified"), headers.get("date")
    if not modified or not date:
        return None
    try:
        gap = parsedate_to_datetime(date).timestamp() - parsedate_to_datetime(modified).timestamp()
    except (TypeError, ValueError):
        return None
    return modified if gap >= 1.0 else None


def _shown(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}{parts.path}"


def _commit_of(repo: RepoFile, answer: Answer) -> str | None:
    """The commit SHA in a commit endpoint's answer (GitHub: the bare SHA; GitLab: JSON `id`)."""
    try:
        if repo.flavor == "github":
            text = answer.body.decode("ascii").strip()
        else:
            text = json.loads(answer.body).get("id", "")
    except (UnicodeDecodeError, ValueError, AttributeError):
        return None
    return text if isinstance(text, str) and _is_sha(text) else None


def _is_sha(text: str) -> bool:
    return 7 <= len(text) <= 64 and all(c in "0123456789abcdef" for c in text)


def _add_tree_page(repo: RepoFile, answer: Answer, blobs: dict[str, str]) -> bool:
    """Add one tree page's blobs; False when the host says the listing is cut short."""
    body = json.loads(answer.body)
    if repo.flavor == "github":
        entries, complete = body.get("tree", []), not body.get("truncated", False)
    else:
        entries, complete = body, True
    for entry in entries:
        if entry.get("type") == "blob":
            blobs[entry["path"]] = entry["sha"] if repo.flavor == "github" else entry["id"]
    return complete


def _next_link(answer: Answer) -> str | None:
    """The `rel="next"` target of a `Link` header (GitLab paging), absolute."""
    for part in (answer.headers.get("link") or "").split(","):
        target, _, params = part.partition(";")
        if 'rel="next"' in params.replace(" ", ""):
            return urljoin(answer.url, target.strip().strip("<>"))
    return None
