"""Repository web URLs of GitHub and GitLab: where a repository starts, and where a file's
raw content is (pure).

Backstage names an entity's location by the page that shows its file
(`https://github.com/org/repo/blob/main/apis/petstore/catalog-info.yaml`) and reads it through
its own URL readers. That page is HTML, so files next to it are read from their raw form:
- github.com: `https://raw.githubusercontent.com/<owner>/<repo>/<ref>/<path>`;
- GitLab (any host, `/-/blob/`): the same URL with `/-/raw/`;
- a GitHub Enterprise host (named in the settings: a path with `blob` in it is not enough to
  tell one): `/<owner>/<repo>/raw/<ref>/<path>` on the same host.
Locations and fingerprints keep the page URL; only the read goes to the raw one.

`repo_file` names the repository, ref and path of such a URL, and the API endpoints that tell
whether anything changed in it: the commit a ref points at, and the tree of blob ids at that
commit (GitHub `GET /repos/{owner}/{repo}/commits/{ref}` with `Accept: application/vnd.github.sha`
and `GET /repos/{owner}/{repo}/git/trees/{sha}?recursive=1`; GitLab
`GET /api/v4/projects/{id}/repository/commits/{ref}` and `.../repository/tree?ref=&recursive=true`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, unquote, urlsplit

# `.../<group>/<sub>/<repo>/-/blob/<ref>/` (GitLab) before `.../<owner>/<repo>/blob/<ref>/`.
# A ref with a slash in it (`feature/x`) cannot be told from a folder; the first segment wins.
GITLAB_ROOT = re.compile(r"^(https?://[^/]+/(?:[^/]+/)+?-/)(blob|tree)(/[^/]+/)")
GITHUB_ROOT = re.compile(r"^(https?://[^/]+/[^/]+/[^/]+/)(blob|tree)(/[^/]+/)")

GITHUB_HOSTS = frozenset({"github.com", "www.github.com"})
GITHUB_RAW_HOST = "raw.githubusercontent.com"
GITHUB_API = "https://api.github.com"
# The commit endpoint answers with the bare SHA under this media type (no file list, no diff).
GITHUB_SHA_MEDIA = "application/vnd.github.sha"

# File URLs `repo_file` understands: (prefix up to the repository, owner/repo or project path,
# "blob"/"raw", ref, path). A query or fragment makes a URL something else: read it as it is.
_GITLAB_FILE = re.compile(
    r"^(https?://[^/?#]+)/((?:[^/?#]+/)+?[^/?#]+)/-/(blob|raw)/([^/?#]+)/([^?#]+)$"
)
_GITHUB_FILE = re.compile(r"^(https?://[^/?#]+)/([^/?#]+/[^/?#]+)/(blob|raw)/([^/?#]+)/([^?#]+)$")
_GITHUB_RAW_FILE = re.compile(
    r"^https://raw\.githubusercontent\.com/([^/?#]+/[^/?#]+)/([^/?#]+)/([^?#]+)$"
)


@dataclass(frozen=True)
class RepoFile:
    """A file of a Git repository on GitHub, GitHub Enterprise or GitLab, and the endpoints that
    say whether it changed. `repo`, `ref` and `path` are as written in the URL (%-encoded)."""

    flavor: Literal["github", "gitlab"]
    api: str  # https://api.github.com, https://<ghe>/api/v3 or https://<gitlab>/api/v4
    repo: str  # "owner/repo", or GitLab's "group/sub/project"
    ref: str  # branch, tag or commit SHA
    path: str  # the file's path inside the repository
    raw_base: str  # raw content URL up to the ref (ends with "/")

    @property
    def repository(self) -> str:
        """One key per repository and ref: files sharing it are checked with one request."""
        return f"{self.api}/{self.repo}@{self.ref}"

    @property
    def tree_path(self) -> str:
        """The path as tree listings spell it (decoded)."""
        return unquote(self.path)

    def commit_url(self) -> str:
        if self.flavor == "github":
            return f"{self.api}/repos/{self.repo}/commits/{self.ref}"
        return f"{self.api}/projects/{_project_id(self.repo)}/repository/commits/{self.ref}"

    def tree_url(self, commit: str) -> str:
        """The first page of the recursive tree at `commit` (GitLab pages on through `Link`)."""
        if self.flavor == "github":
            return f"{self.api}/repos/{self.repo}/git/trees/{commit}?recursive=1"
        return (
            f"{self.api}/projects/{_project_id(self.repo)}/repository/tree"
            f"?ref={commit}&recursive=true&per_page=100"
        )

    def raw_url(self, commit: str) -> str:
        """The file's raw content at `commit`: content-addressed, so no cache can serve it stale."""
        return f"{self.raw_base}{commit}/{self.path}"


def _project_id(path: str) -> str:
    # GitLab takes a project's full path, URL-encoded as one segment, where its id goes.
    return quote(unquote(path), safe="")


def repo_file(url: str, enterprise_hosts: frozenset[str] = frozenset()) -> RepoFile | None:
    """The repository file a file page or raw URL names, or None for any other URL."""
    gitlab = _GITLAB_FILE.match(url)
    if gitlab:
        origin, project, _, ref, path = gitlab.groups()
        raw_base = f"{origin}/{project}/-/raw/"
        return RepoFile("gitlab", f"{origin}/api/v4", project, ref, path, raw_base)
    raw = _GITHUB_RAW_FILE.match(url)
    if raw:
        repo, ref, path = raw.groups()
        raw_base = f"https://{GITHUB_RAW_HOST}/{repo}/"
        return RepoFile("github", GITHUB_API, repo, ref, path, raw_base)
    github = _GITHUB_FILE.match(url)
    if github is None:
        return None
    origin, repo, kind, ref, path = github.groups()
    host = (urlsplit(url).hostname or "").lower()
    if host in GITHUB_HOSTS and kind == "blob":
        raw_base = f"https://{GITHUB_RAW_HOST}/{repo}/"
        return RepoFile("github", GITHUB_API, repo, ref, path, raw_base)
    if host in enterprise_hosts:
        return RepoFile("github", f"{origin}/api/v3", repo, ref, path, f"{origin}/{repo}/raw/")
    return None


def raw_content_url(url: str, enterprise_hosts: frozenset[str] = frozenset()) -> str:
    """Where the raw content of the file a `blob` page URL shows is; any other URL unchanged.
    `enterprise_hosts`: GitHub Enterprise host names, lower-case."""
    gitlab = GITLAB_ROOT.match(url)
    if gitlab:
        return with_segment(url, gitlab, "raw") if gitlab.group(2) == "blob" else url
    github = GITHUB_ROOT.match(url)
    if github is None or github.group(2) != "blob":
        return url
    host = (urlsplit(url).hostname or "").lower()
    if host in GITHUB_HOSTS:
        owner_repo = urlsplit(github.group(1)).path  # "/<owner>/<repo>/"
        return f"https://{GITHUB_RAW_HOST}{owner_repo.rstrip('/')}{url[github.end(2) :]}"
    return with_segment(url, github, "raw") if host in enterprise_hosts else url


def with_segment(url: str, match: re.Match[str], segment: str) -> str:
    """`url` with the `blob`/`tree` segment a GITLAB_ROOT or GITHUB_ROOT `match` found replaced."""
    return match.group(1) + segment + url[match.end(2) :]
