"""Remote files cost their repositories, not their files: conditional reads, one commit check per
repository and pass, blob-level change detection, per-host rate-limit backoff, remote interval.
Against tests/githost.py, a local stand-in of GitHub Enterprise's and GitLab's endpoints, served
over real HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from email.utils import formatdate

import pytest
from artifacts_fixtures import LocalServer, Reply, Seen
from catalog_fixtures import serve
from githost import GitHost

from microcks_pipeline.core.errors import ConfigError, TransientError
from microcks_pipeline.sources.artifacts import ArtifactReader, Source
from microcks_pipeline.sources.remote import rate_limit_until
from microcks_pipeline.sources.urls import UrlPolicy

FILES = {
    "apis/pets/microcks.yaml": "spec: {mocks: [{mockId: default}]}\n",
    "apis/pets/openapi.yaml": "openapi: 3.0.3\n",
    "apis/pets/examples.yaml": "kind: APIExamples\n",
}


@pytest.fixture
def host() -> GitHost:
    return GitHost(tree_page_size=2)


@pytest.fixture
def base(host: GitHost) -> Iterator[str]:
    with serve(host.app()) as url:
        yield url


def reader_for(**kw: object) -> ArtifactReader:
    """A reader allowed to reach the stand-in, which it takes for a GitHub Enterprise host."""
    policy = UrlPolicy(
        allowed_hosts=frozenset({"127.0.0.1"}),
        allow_http=True,
        allow_private=True,
        github_enterprise_hosts=frozenset({"127.0.0.1"}),
    )
    return ArtifactReader(policy, **kw)  # type: ignore[arg-type]


def page(base: str, path: str, repo: str = "org/pets", flavor: str = "github") -> str:
    """The file page URL Backstage records for a file (GitHub's /blob/, GitLab's /-/blob/)."""
    blob = "-/blob" if flavor == "gitlab" else "blob"
    return f"{base}/{repo}/{blob}/main/{path}"


def read_all(reader: ArtifactReader, urls: list[str]) -> list[bytes]:
    reader.begin_pass()
    return [reader.read(Source("url", u, url=u)) for u in urls]


def test_an_unchanged_repository_costs_one_commit_request_and_downloads_nothing(host, base):
    host.push("org/pets", FILES)
    urls = [page(base, p) for p in FILES]
    reader = reader_for()
    first = read_all(reader, urls)
    host.reset_stats()

    again = read_all(reader, urls)

    assert again == first == [c.encode() for c in FILES.values()]
    assert host.stats.total() == {"requests": 1, "200": 0, "304": 1, "bytes": 0, "raw_bytes": 0}


def test_the_first_pass_asks_the_commit_and_tree_once_for_all_files_of_a_repository(host, base):
    host.push("org/pets", FILES)
    reader = reader_for()

    read_all(reader, [page(base, p) for p in FILES])

    assert host.stats.requests == {"commit": 1, "tree": 1, "raw": 3}


def test_a_changed_file_is_read_again_at_the_new_commit_and_its_neighbours_are_not(host, base):
    host.push("org/pets", FILES)
    urls = [page(base, p) for p in FILES]
    reader = reader_for()
    read_all(reader, urls)
    commit = host.push("org/pets", {"apis/pets/examples.yaml": "kind: APIExamples # v2\n"})
    host.reset_stats()

    contents = read_all(reader, urls)

    assert contents == [c.encode() for c in FILES.values()][:2] + [b"kind: APIExamples # v2\n"]
    assert host.stats.requests == {"commit": 1, "tree": 1, "raw": 1}
    # Read at the commit, not at the branch (which a CDN may serve stale for minutes).
    assert host.raw_paths == [f"/org/pets/raw/{commit}/apis/pets/examples.yaml"]


def test_a_commit_that_leaves_a_file_as_it_was_costs_no_download_of_it(host, base):
    host.push("org/pets", FILES)
    urls = [page(base, p) for p in FILES]
    reader = reader_for()
    read_all(reader, urls)
    host.push("org/pets", {"README.md": "unrelated change\n"})
    host.reset_stats()

    read_all(reader, urls)

    assert host.stats.requests == {"commit": 1, "tree": 1}
    assert host.stats.total()["raw_bytes"] == 0


def test_a_file_deleted_from_its_repository_is_not_found_without_asking_for_it(host, base):
    host.push("org/pets", FILES)
    urls = [page(base, p) for p in FILES]
    reader = reader_for()
    read_all(reader, urls)
    del host.repos["org/pets"].files["apis/pets/examples.yaml"]
    host.repos["org/pets"].commit()
    host.reset_stats()

    with pytest.raises(ConfigError, match="artifact not found: apis/pets/examples.yaml"):
        read_all(reader, urls)

    assert "raw" not in host.stats.requests


def test_gitlab_repositories_are_checked_by_commit_and_listed_page_by_page(host, base):
    host.push("group/sub/pets", FILES, flavor="gitlab")
    urls = [page(base, p, "group/sub/pets", "gitlab") for p in FILES]
    reader = reader_for()

    first = read_all(reader, urls)
    assert host.stats.requests == {"commit": 1, "tree": 2, "raw": 3}  # 3 files, pages of 2
    host.push("group/sub/pets", {"apis/pets/openapi.yaml": "openapi: 3.1.0\n"}, flavor="gitlab")
    host.reset_stats()

    second = read_all(reader, urls)
    assert second[1] == b"openapi: 3.1.0\n" and second[0] == first[0]
    assert host.stats.requests == {"commit": 1, "tree": 2, "raw": 1}
    host.reset_stats()

    read_all(reader, urls)  # GitLab's commit endpoint has no ETag: a 200, and nothing else
    assert host.stats.requests == {"commit": 1}
    assert host.stats.total()["raw_bytes"] == 0


def test_a_plain_url_is_asked_again_with_its_etag_and_a_304_reuses_the_content(host, base):
    host.put_plain("mocks/openapi.yaml", "openapi: 3.0.3\n")
    url = f"{base}/plain/mocks/openapi.yaml"
    reader = reader_for()
    read_all(reader, [url])
    host.reset_stats()

    assert read_all(reader, [url]) == [b"openapi: 3.0.3\n"]
    assert host.stats.total() == {"requests": 1, "200": 0, "304": 1, "bytes": 0, "raw_bytes": 0}

    host.put_plain("mocks/openapi.yaml", "openapi: 3.1.0\n")
    assert read_all(reader, [url]) == [b"openapi: 3.1.0\n"]


def read_twice(reply: Callable[[Seen], Reply]) -> tuple[list[bytes], Seen]:
    """Two passes reading one URL answered by `reply`: the contents, and the second request."""
    with LocalServer() as server:
        server.routes["/openapi.yaml"] = reply
        url = server.url("/openapi.yaml")
        reader = reader_for()
        contents = read_all(reader, [url]) + read_all(reader, [url])
        return contents, server.seen[-1]


def test_without_an_etag_a_plain_url_is_asked_again_with_if_modified_since():
    modified = "Tue, 01 Dec 2020 10:00:00 GMT"

    def reply(seen: Seen) -> Reply:
        if seen.headers.get("if-modified-since") == modified:
            return Reply(304)
        return Reply(200, b"openapi: 3.0.3\n", headers={"Last-Modified": modified})

    contents, second = read_twice(reply)

    assert contents == [b"openapi: 3.0.3\n"] * 2
    assert second.headers.get("if-modified-since") == modified


def test_a_last_modified_within_the_second_it_was_served_is_not_trusted_as_a_validator():
    # The file may change again within that second; a server comparing whole seconds would
    # then answer 304 to If-Modified-Since and the edit would be missed.
    def reply(seen: Seen) -> Reply:
        return Reply(200, b"openapi: 3.0.3\n", headers={"Last-Modified": formatdate(usegmt=True)})

    _, second = read_twice(reply)

    assert "if-modified-since" not in second.headers


def test_without_the_api_files_are_read_conditionally_one_by_one(host, base):
    host.push("org/pets", FILES)
    urls = [page(base, p) for p in FILES]
    reader = reader_for()
    reader.remote.usable = lambda url: "/api/" not in url  # as if the API host were not allowed
    read_all(reader, urls)
    host.reset_stats()

    read_all(reader, urls)

    assert host.stats.requests == {"raw": 3} and host.stats.status == {304: 3}


def test_a_rate_limited_host_is_left_alone_until_its_reset_and_files_keep_their_content(host, base):
    host.push("org/pets", FILES)
    urls = [page(base, p) for p in FILES]
    reader = reader_for()
    first = read_all(reader, urls)
    host.push("org/pets", {"apis/pets/openapi.yaml": "openapi: 3.1.0\n"})
    host.limit(0, reset_in=120)

    assert read_all(reader, urls) == first  # the limit answered: the known content stays
    (backoff,) = reader.remote.backoffs()
    assert backoff.startswith("127.0.0.1 rate limited until ") and "403" in backoff
    host.reset_stats()

    assert read_all(reader, urls) == first
    assert host.stats.total()["requests"] == 0  # not asked before the reset
    with pytest.raises(TransientError, match="rate limited"):
        read_all(reader, [page(base, "apis/pets/new.yaml")])  # never read: nothing to keep

    host.limit(None)
    reader.remote.wall = lambda: 10**10  # past the reset
    assert read_all(reader, urls)[1] == b"openapi: 3.1.0\n"
    assert reader.remote.backoffs() == ()


def test_gitlab_429_sets_a_backoff_until_its_ratelimit_reset(host, base):
    host.push("group/pets", FILES, flavor="gitlab")
    reader = reader_for()
    host.limit(0, reset_in=30)

    with pytest.raises(TransientError) as err:
        read_all(reader, [page(base, "apis/pets/openapi.yaml", "group/pets", "gitlab")])

    assert 25 <= err.value.retry_after <= 32
    assert "429" in reader.remote.backoffs()[0]


def test_within_the_remote_interval_nothing_is_asked(host, base):
    host.push("org/pets", FILES)
    urls = [page(base, p) for p in FILES]
    now = [1000.0]
    reader = reader_for(remote_interval=300)
    reader.remote.clock = lambda: now[0]
    read_all(reader, urls)
    host.push("org/pets", {"apis/pets/openapi.yaml": "openapi: 3.1.0\n"})
    host.reset_stats()

    now[0] += 299
    assert read_all(reader, urls)[1] == b"openapi: 3.0.3\n"
    assert host.stats.total()["requests"] == 0

    now[0] += 2
    assert read_all(reader, urls)[1] == b"openapi: 3.1.0\n"
    assert host.stats.requests == {"commit": 1, "tree": 1, "raw": 1}


@pytest.mark.parametrize(
    ("status", "headers", "wait"),
    [
        (403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1100"}, 100),
        (429, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1100"}, 100),
        (403, {"retry-after": "30"}, 30),  # GitHub's secondary limit
        (429, {"ratelimit-reset": "1040", "retry-after": "40"}, 40),  # GitLab
        (429, {}, 60),  # no time given: one minute
        (403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "999999"}, 3600),  # capped
    ],
)
def test_rate_limit_answers_give_the_time_the_host_names(status, headers, wait):
    assert rate_limit_until(status, headers, now=1000.0) == 1000.0 + wait


@pytest.mark.parametrize(
    ("status", "headers"),
    [(403, {}), (403, {"x-ratelimit-remaining": "12"}), (500, {"retry-after": "5"}), (200, {})],
)
def test_a_refusal_or_a_server_error_is_not_a_rate_limit(status, headers):
    assert rate_limit_until(status, headers, now=1000.0) is None
