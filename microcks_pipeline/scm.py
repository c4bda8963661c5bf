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
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# `.../<group>/<sub>/<repo>/-/blob/<ref>/` (GitLab) before `.../<owner>/<repo>/blob/<ref>/`.
# A ref with a slash in it (`feature/x`) cannot be told from a folder; the first segment wins.
GITLAB_ROOT = re.compile(r"^(https?://[^/]+/(?:[^/]+/)+?-/)(blob|tree)(/[^/]+/)")
GITHUB_ROOT = re.compile(r"^(https?://[^/]+/[^/]+/[^/]+/)(blob|tree)(/[^/]+/)")

GITHUB_HOSTS = frozenset({"github.com", "www.github.com"})
GITHUB_RAW_HOST = "raw.githubusercontent.com"


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
