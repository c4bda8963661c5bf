"""A local stand-in for the Git hosts whose endpoints the remote reader calls, for tests and
bench/remote_scan.py. One Starlette app serves, for each repository:

GitHub Enterprise shape (`/api/v3`, `/<owner>/<repo>/raw/<ref>/<path>`; github.com differs only
in host names: api.github.com, raw.githubusercontent.com):
  GET /api/v3/repos/{owner}/{repo}/commits/{ref}   `Accept: application/vnd.github.sha` → the
      bare SHA (text/plain), else JSON {sha, commit: {tree: {sha}}}; ETag, 304 on If-None-Match
  GET /api/v3/repos/{owner}/{repo}/git/trees/{sha}?recursive=1   {sha, tree: [...], truncated}
  GET /{owner}/{repo}/raw/{ref}/{path}   raw content, ETag, 304 on If-None-Match
GitLab shape (`/api/v4`, `/<group>/<project>/-/raw/<ref>/<path>`):
  GET /api/v4/projects/{url-encoded path}/repository/commits/{ref}   JSON {id, short_id, ...}
  GET /api/v4/projects/{id}/repository/tree?ref=&recursive=true&per_page=&page=   a JSON list
      of {id, name, type, path, mode}, `Link: <...>; rel="next"` and `X-Next-Page` while more
  GET /{group}/{project}/-/raw/{ref}/{path}
Plain files: GET /plain/{path} with ETag and Last-Modified (If-None-Match, If-Modified-Since).

Commit SHAs and blob ids are git's own (sha1 of "blob <size>\\0<content>"); every commit stays
readable. Rate limits: `limit(remaining, reset_in)` makes requests beyond `remaining` answer
GitHub's 403 + `x-ratelimit-remaining: 0` + `x-ratelimit-reset`, or GitLab's 429 +
`ratelimit-reset` + `retry-after`. `stats` counts requests, 200s, 304s and body bytes, per kind.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from email.utils import formatdate
from urllib.parse import quote, unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def blob_id(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


@dataclass
class Repo:
    """One repository: its branch `main`, and every commit it ever had."""

    name: str  # "owner/repo" or "group/sub/project"
    flavor: str  # "github" | "gitlab"
    files: dict[str, bytes] = field(default_factory=dict)
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)
    head: str = ""

    def commit(self) -> str:
        """Record the current files as a new commit on `main`."""
        listing = "".join(f"{p}\0{blob_id(c)}\n" for p, c in sorted(self.files.items()))
        sha = hashlib.sha1(f"{self.head}\n{listing}".encode()).hexdigest()
        self.commits[sha] = dict(self.files)
        self.head = sha
        return sha

    def at(self, ref: str) -> dict[str, bytes] | None:
        sha = self.head if ref == "main" else ref
        return self.commits.get(sha)


@dataclass
class Stats:
    requests: Counter = field(default_factory=Counter)  # by kind: commit, tree, raw, plain
    status: Counter = field(default_factory=Counter)  # by status code
    body_bytes: Counter = field(default_factory=Counter)  # by kind
    raw_paths: list[str] = field(default_factory=list)  # raw file requests, in order

    def total(self) -> dict[str, int]:
        return {
            "requests": sum(self.requests.values()),
            "200": self.status[200],
            "304": self.status[304],
            "bytes": sum(self.body_bytes.values()),
            "raw_bytes": self.body_bytes["raw"] + self.body_bytes["plain"],
        }


class GitHost:
    """The stand-in's state; `app()` serves it (see the module docstring)."""

    def __init__(self, tree_page_size: int = 100) -> None:
        self.repos: dict[str, Repo] = {}
        self.plain: dict[str, tuple[bytes, float]] = {}  # path → (content, mtime)
        self.stats = Stats()
        self.tree_page_size = tree_page_size
        self._remaining: int | None = None
        self._reset = 0.0
        self._lock = threading.Lock()

    # ---- state ------------------------------------------------------------------------------

    def repo(self, name: str, flavor: str = "github") -> Repo:
        return self.repos.setdefault(name, Repo(name, flavor))

    def push(self, name: str, files: dict[str, str | bytes], flavor: str = "github") -> str:
        """Write `files` into repository `name` (created if new) as one commit; its SHA."""
        repo = self.repo(name, flavor)
        for path, content in files.items():
            repo.files[path] = content.encode() if isinstance(content, str) else content
        return repo.commit()

    def put_plain(self, path: str, content: str | bytes, mtime: float | None = None) -> None:
        data = content.encode() if isinstance(content, str) else content
        self.plain[path] = (data, time.time() if mtime is None else mtime)

    def limit(self, remaining: int | None, reset_in: float = 60.0) -> None:
        """Allow `remaining` more requests (None: no limit) until `reset_in` seconds from now."""
        self._remaining, self._reset = remaining, time.time() + reset_in

    def reset_stats(self) -> None:
        self.stats = Stats()

    @property
    def raw_paths(self) -> list[str]:
        return self.stats.raw_paths

    # ---- HTTP -------------------------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self._dispatch)])

    async def _dispatch(self, request: Request) -> Response:
        path = request.url.path
        kind, flavor = _kind(path)
        with self._lock:
            self.stats.requests[kind] += 1
            if kind == "raw":
                self.stats.raw_paths.append(path)
            limited = self._limited(flavor)
            response = limited or self._answer(kind, request)
            self.stats.status[response.status_code] += 1
            self.stats.body_bytes[kind] += len(response.body)
        return response

    def _limited(self, flavor: str) -> Response | None:
        if self._remaining is None:
            return None
        if time.time() >= self._reset:
            self._remaining = None
            return None
        if self._remaining > 0:
            self._remaining -= 1
            return None
        reset = str(int(self._reset) + 1)
        if flavor == "gitlab":
            wait = str(max(1, int(self._reset - time.time()) + 1))
            return Response(
                "Retry later",
                429,
                headers={"ratelimit-remaining": "0", "ratelimit-reset": reset, "retry-after": wait},
            )
        body = json.dumps({"message": "API rate limit exceeded"})
        return Response(
            body,
            403,
            media_type="application/json",
            headers={
                "x-ratelimit-limit": "5000",
                "x-ratelimit-remaining": "0",
                "x-ratelimit-reset": reset,
            },
        )

    def _answer(self, kind: str, request: Request) -> Response:
        path = request.url.path
        if kind == "plain":
            return self._plain(request, path.removeprefix("/plain/"))
        if kind == "commit":
            return self._commit(request)
        if kind == "tree":
            return self._tree(request)
        if kind == "raw":
            return self._raw(request)
        return Response("not found", 404)

    def _find(self, name: str) -> Repo | None:
        return self.repos.get(unquote(name))

    def _commit(self, request: Request) -> Response:
        path = request.url.path
        if path.startswith("/api/v3/repos/"):
            owner, repo, _, ref = path.removeprefix("/api/v3/repos/").split("/", 3)
            found = self._find(f"{owner}/{repo}")
        else:
            project, _, ref = path.removeprefix("/api/v4/projects/").partition(
                "/repository/commits/"
            )
            found = self._find(project)
        files = found.at(unquote(ref)) if found else None
        if found is None or files is None:
            return Response(
                json.dumps({"message": "Not Found"}), 404, media_type="application/json"
            )
        sha = found.head if unquote(ref) == "main" else unquote(ref)
        if found.flavor == "gitlab":  # GitLab's commit endpoint has no ETag
            body = {"id": sha, "short_id": sha[:8], "title": "commit", "parent_ids": []}
            return Response(json.dumps(body), 200, media_type="application/json")
        etag = f'"{sha}"'
        if request.headers.get("if-none-match") == etag:
            return Response(b"", 304, headers={"etag": etag})
        if request.headers.get("accept") == "application/vnd.github.sha":
            return Response(sha, 200, media_type="text/plain", headers={"etag": etag})
        body = {"sha": sha, "commit": {"tree": {"sha": hashlib.sha1(sha.encode()).hexdigest()}}}
        return Response(
            json.dumps(body), 200, media_type="application/json", headers={"etag": etag}
        )

    def _tree(self, request: Request) -> Response:
        path = request.url.path
        if path.startswith("/api/v3/repos/"):
            owner, repo, _, _, sha = path.removeprefix("/api/v3/repos/").split("/", 4)
            found = self._find(f"{owner}/{repo}")
            files = found.commits.get(sha) if found else None
            if files is None:
                return Response(json.dumps({"message": "Not Found"}), 404)
            tree = [
                {"path": p, "mode": "100644", "type": "blob", "sha": blob_id(c), "size": len(c)}
                for p, c in sorted(files.items())
            ]
            tree += [
                {"path": d, "mode": "040000", "type": "tree", "sha": "0" * 40} for d in _dirs(files)
            ]
            body = {"sha": sha, "tree": tree, "truncated": False}
            return Response(json.dumps(body), 200, media_type="application/json")
        project = path.removeprefix("/api/v4/projects/").removesuffix("/repository/tree")
        found = self._find(project)
        ref = request.query_params.get("ref", "main")
        files = found.at(ref) if found else None
        if files is None:
            return Response(json.dumps({"message": "404 Tree Not Found"}), 404)
        entries = [
            {
                "id": blob_id(c),
                "name": p.rsplit("/", 1)[-1],
                "type": "blob",
                "path": p,
                "mode": "100644",
            }
            for p, c in sorted(files.items())
        ]
        # GitLab caps per_page (at 100); the stand-in's cap is tree_page_size.
        size = min(int(request.query_params.get("per_page", "20")), self.tree_page_size)
        page = int(request.query_params.get("page", "1"))
        chunk = entries[(page - 1) * size : page * size]
        headers = {}
        if page * size < len(entries):
            following = (
                f"{request.url.scheme}://{request.url.netloc}{path}?ref={quote(ref)}"
                f"&recursive=true&per_page={size}&page={page + 1}"
            )
            headers = {"link": f'<{following}>; rel="next"', "x-next-page": str(page + 1)}
        return Response(json.dumps(chunk), 200, media_type="application/json", headers=headers)

    def _raw(self, request: Request) -> Response:
        path = request.url.path.lstrip("/")
        if "/-/raw/" in path:
            name, _, rest = path.partition("/-/raw/")
        else:
            owner, repo, _, rest = path.split("/", 3)
            name = f"{owner}/{repo}"
        ref, _, file_path = rest.partition("/")
        found = self._find(name)
        files = found.at(unquote(ref)) if found else None
        content = files.get(unquote(file_path)) if files is not None else None
        if content is None:
            return Response("404: Not Found", 404, media_type="text/plain")
        etag = f'"{blob_id(content)}"'
        if request.headers.get("if-none-match") == etag:
            return Response(b"", 304, headers={"etag": etag})
        return Response(content, 200, media_type="text/plain", headers={"etag": etag})

    def _plain(self, request: Request, path: str) -> Response:
        found = self.plain.get(path)
        if found is None:
            return Response("not found", 404)
        content, mtime = found
        etag = f'"{hashlib.sha256(content).hexdigest()[:16]}"'
        modified = formatdate(int(mtime), usegmt=True)
        headers = {"etag": etag, "last-modified": modified}
        if request.headers.get("if-none-match") == etag:
            return Response(b"", 304, headers=headers)
        since = request.headers.get("if-modified-since")
        if since is not None and "if-none-match" not in request.headers and since == modified:
            return Response(b"", 304, headers=headers)
        return Response(content, 200, media_type="text/plain", headers=headers)


def _kind(path: str) -> tuple[str, str]:
    """(commit | tree | raw | plain | other, github | gitlab) of a request path."""
    if path.startswith("/plain/"):
        return "plain", "github"
    if path.startswith("/api/v3/"):
        return ("tree" if "/git/trees/" in path else "commit"), "github"
    if path.startswith("/api/v4/"):
        return ("tree" if path.endswith("/repository/tree") else "commit"), "gitlab"
    if "/-/raw/" in path:
        return "raw", "gitlab"
    if "/raw/" in path:
        return "raw", "github"
    return "other", "github"


def _dirs(files: dict[str, bytes]) -> list[str]:
    found = set()
    for path in files:
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            found.add("/".join(parts[:i]))
    return sorted(found)
