"""ArtifactReader on URLs: the policy refuses before connecting; allowed reads use real servers."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from artifacts_fixtures import LocalServer, RecordingTransport, Reply, Seen, url_entity

from microcks_pipeline.core.errors import (
    ArtifactPolicyError,
    ConfigError,
    PermanentError,
    TransientError,
)
from microcks_pipeline.sources.artifacts import ArtifactReader, Source
from microcks_pipeline.sources.urls import UrlPolicy, _pinned_transport

TOKEN = "s3cret-token-value"


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as s:
        yield s


@pytest.fixture
def other_server() -> Iterator[LocalServer]:
    with LocalServer() as s:
        yield s


def local_policy(**overrides: object) -> UrlPolicy:
    """The policy that lets tests reach their own 127.0.0.1 server."""
    values: dict[str, object] = {
        "allowed_hosts": frozenset({"127.0.0.1"}),
        "allow_http": True,
        "allow_private": True,
    }
    values.update(overrides)
    return UrlPolicy(**values)  # type: ignore[arg-type]


def fetch(reader: ArtifactReader, url: str) -> bytes:
    return reader.read(Source("url", url, url=url))


# ---- refusals before any connection ---------------------------------------------------------


def test_url_to_a_host_not_allowed_is_refused_without_a_request() -> None:
    transport = RecordingTransport()
    reader = ArtifactReader(
        UrlPolicy(allowed_hosts=frozenset({"raw.example.org"})), transport=transport
    )

    with pytest.raises(ArtifactPolicyError) as err:
        fetch(reader, "https://evil.example.com/openapi.yaml")

    assert "evil.example.com is not allowed" in str(err.value)
    assert transport.requests == []


def test_no_url_is_allowed_by_the_default_policy() -> None:
    transport = RecordingTransport()

    with pytest.raises(ArtifactPolicyError):
        fetch(ArtifactReader(transport=transport), "https://raw.example.org/openapi.yaml")

    assert transport.requests == []


def test_plain_http_is_refused_unless_allowed() -> None:
    transport = RecordingTransport()
    reader = ArtifactReader(
        UrlPolicy(allowed_hosts=frozenset({"raw.example.org"})), transport=transport
    )

    with pytest.raises(ArtifactPolicyError) as err:
        fetch(reader, "http://raw.example.org/openapi.yaml")

    assert "only https" in str(err.value)
    assert transport.requests == []


def test_loopback_literal_is_refused_before_connecting(server: LocalServer) -> None:
    server.routes["/openapi.yaml"] = Reply(200, b"openapi: 3.0.0\n")
    reader = ArtifactReader(local_policy(allow_private=False))

    with pytest.raises(ArtifactPolicyError) as err:
        fetch(reader, server.url("/openapi.yaml"))

    assert "loopback, private or reserved" in str(err.value)
    assert server.seen == []


@pytest.mark.parametrize(
    "host",
    [
        "10.0.0.1",
        "192.168.1.10",
        "169.254.169.254",
        "0.0.0.0",
        "[::1]",
        "[::ffff:10.0.0.1]",
        "224.0.0.1",
    ],
)
def test_private_and_reserved_addresses_are_refused_before_connecting(host: str) -> None:
    transport = RecordingTransport()
    bare = host.strip("[]")
    policy = UrlPolicy(allowed_hosts=frozenset({bare}), allow_http=True)
    reader = ArtifactReader(policy, transport=transport)

    with pytest.raises(ArtifactPolicyError):
        fetch(reader, f"http://{host}/openapi.yaml")

    assert transport.requests == []


def test_host_name_resolving_to_loopback_is_refused_before_connecting(server: LocalServer) -> None:
    server.routes["/openapi.yaml"] = Reply(200, b"openapi: 3.0.0\n")
    policy = UrlPolicy(allowed_hosts=frozenset({"localhost"}), allow_http=True)

    with pytest.raises(ArtifactPolicyError):
        fetch(ArtifactReader(policy), server.url("/openapi.yaml", host="localhost"))

    assert server.seen == []


def test_credentials_inside_a_url_are_refused_and_not_echoed() -> None:
    transport = RecordingTransport()
    reader = ArtifactReader(local_policy(), transport=transport)

    with pytest.raises(ArtifactPolicyError) as err:
        fetch(reader, "http://user:hunter2@127.0.0.1/openapi.yaml")

    assert "credentials" in str(err.value)
    assert "hunter2" not in str(err.value) and "user" not in str(err.value)
    assert transport.requests == []


def test_the_connection_layer_itself_refuses_private_addresses() -> None:
    # The reader checks before sending; the pinned transport checks again at connect time so a
    # DNS answer that changes in between cannot reach a private address.
    policy = UrlPolicy(allowed_hosts=frozenset({"127.0.0.1"}), allow_http=True)
    with httpx.Client(transport=_pinned_transport(policy)) as client:
        with pytest.raises(ArtifactPolicyError):
            client.get("http://127.0.0.1:9/never")


def test_policy_repr_hides_tokens() -> None:
    policy = UrlPolicy(host_tokens={"raw.example.org": TOKEN})

    assert TOKEN not in repr(policy)


# ---- allowed reads --------------------------------------------------------------------------


def test_url_artifact_is_read_with_the_hosts_bearer_token(server: LocalServer) -> None:
    def guarded(seen: Seen) -> Reply:
        ok = seen.headers.get("authorization") == f"Bearer {TOKEN}"
        return Reply(200, b"openapi: 3.0.0\n") if ok else Reply(401)

    server.routes["/openapi.yaml"] = guarded
    reader = ArtifactReader(local_policy(host_tokens={"127.0.0.1": TOKEN}))

    assert fetch(reader, server.url("/openapi.yaml")) == b"openapi: 3.0.0\n"


def test_wrong_or_missing_token_gives_a_permanent_error_without_the_token(
    server: LocalServer,
) -> None:
    server.routes["/openapi.yaml"] = lambda seen: Reply(401)
    reader = ArtifactReader(local_policy(host_tokens={"127.0.0.1": TOKEN}))

    with pytest.raises(ConfigError) as err:
        fetch(reader, server.url("/openapi.yaml?sig=query-secret"))

    assert "401" in str(err.value)
    assert TOKEN not in str(err.value) and "query-secret" not in str(err.value)


@pytest.mark.parametrize(
    ("page", "raw", "enterprise"),
    [
        ("/group/repo/-/blob/main/apis/x.yaml", "/group/repo/-/raw/main/apis/x.yaml", set()),
        ("/org/repo/blob/main/apis/x.yaml", "/org/repo/raw/main/apis/x.yaml", {"127.0.0.1"}),
    ],
)
def test_a_repository_file_page_is_read_from_its_raw_content(
    server: LocalServer, page: str, raw: str, enterprise: set[str]
) -> None:
    server.routes[page] = Reply(200, b"<!DOCTYPE html><html>the page around the file</html>")
    server.routes[raw] = Reply(200, b"openapi: 3.0.0\n")
    reader = ArtifactReader(local_policy(github_enterprise_hosts=frozenset(enterprise)))

    assert fetch(reader, server.url(page)) == b"openapi: 3.0.0\n"
    # The host's API is asked for the ref's commit first; this one has none (404), so the file
    # is read from its raw URL at the ref. The HTML page itself is never fetched.
    paths = [s.path for s in server.seen]
    assert paths[-1] == raw and page not in paths


def test_a_github_file_page_needs_its_raw_host_allowed_and_nothing_is_sent_before() -> None:
    transport = RecordingTransport()
    reader = ArtifactReader(UrlPolicy(allowed_hosts=frozenset({"github.com"})), transport=transport)

    with pytest.raises(ArtifactPolicyError, match="raw.githubusercontent.com"):
        fetch(reader, "https://github.com/org/repo/blob/main/apis/microcks.yaml")

    assert transport.requests == []


def test_redirect_within_allowed_hosts_is_followed(server: LocalServer) -> None:
    server.routes["/old.yaml"] = Reply(302, headers={"Location": "/new.yaml"})
    server.routes["/new.yaml"] = Reply(200, b"moved here\n")

    content = fetch(ArtifactReader(local_policy()), server.url("/old.yaml"))

    assert content == b"moved here\n"
    assert [s.path for s in server.seen] == ["/old.yaml", "/new.yaml"]


def test_redirect_to_a_host_not_allowed_is_refused_before_following(
    server: LocalServer, other_server: LocalServer
) -> None:
    other_server.routes["/x.yaml"] = Reply(200, b"should never be read\n")
    server.routes["/x.yaml"] = Reply(
        302, headers={"Location": other_server.url("/x.yaml", host="localhost")}
    )

    with pytest.raises(ArtifactPolicyError) as err:
        fetch(ArtifactReader(local_policy()), server.url("/x.yaml"))

    assert "localhost is not allowed" in str(err.value)
    assert other_server.seen == []


def test_token_is_not_forwarded_when_a_redirect_changes_host(
    server: LocalServer, other_server: LocalServer
) -> None:
    other_server.routes["/x.yaml"] = Reply(200, b"content\n")
    server.routes["/x.yaml"] = Reply(
        302, headers={"Location": other_server.url("/x.yaml", host="localhost")}
    )
    policy = local_policy(
        allowed_hosts=frozenset({"127.0.0.1", "localhost"}), host_tokens={"127.0.0.1": TOKEN}
    )

    content = fetch(ArtifactReader(policy), server.url("/x.yaml"))

    assert content == b"content\n"
    assert server.seen[0].headers.get("authorization") == f"Bearer {TOKEN}"
    assert "authorization" not in other_server.seen[0].headers


def test_too_many_redirects_are_refused(server: LocalServer) -> None:
    server.routes["/loop"] = Reply(302, headers={"Location": "/loop"})

    with pytest.raises(ArtifactPolicyError) as err:
        fetch(ArtifactReader(local_policy(max_redirects=2)), server.url("/loop"))

    assert "too many redirects" in str(err.value)
    assert len(server.seen) == 3


def test_not_found_is_permanent(server: LocalServer) -> None:
    with pytest.raises(ConfigError) as err:
        fetch(ArtifactReader(local_policy()), server.url("/missing.yaml"))

    assert "404" in str(err.value)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_transient(server: LocalServer, status: int) -> None:
    server.routes["/x.yaml"] = Reply(status)

    with pytest.raises(TransientError) as err:
        fetch(ArtifactReader(local_policy()), server.url("/x.yaml"))

    assert str(status) in str(err.value)


def test_rate_limit_is_transient_with_retry_after(server: LocalServer) -> None:
    server.routes["/x.yaml"] = Reply(429, headers={"Retry-After": "7"})

    with pytest.raises(TransientError) as err:
        fetch(ArtifactReader(local_policy()), server.url("/x.yaml"))

    assert err.value.retry_after == 7.0


def test_slow_server_is_a_transient_timeout(server: LocalServer) -> None:
    server.routes["/slow.yaml"] = Reply(200, b"late\n", delay=2.0)

    with pytest.raises(TransientError) as err:
        fetch(ArtifactReader(local_policy(timeout=0.2)), server.url("/slow.yaml"))

    assert "timeout" in str(err.value)


def test_connection_refused_is_transient() -> None:
    with LocalServer() as gone:
        url = gone.url("/x.yaml")
    with pytest.raises(TransientError):
        fetch(ArtifactReader(local_policy()), url)


def test_declared_length_over_the_limit_is_refused(server: LocalServer) -> None:
    server.routes["/big.yaml"] = Reply(200, b"x" * 200)

    with pytest.raises(ArtifactPolicyError) as err:
        fetch(ArtifactReader(local_policy(max_bytes=100)), server.url("/big.yaml"))

    assert "200 bytes" in str(err.value)


def test_undeclared_length_over_the_limit_is_refused_while_streaming(server: LocalServer) -> None:
    server.routes["/big.yaml"] = Reply(200, b"x" * 5000, send_length=False)

    with pytest.raises(ArtifactPolicyError) as err:
        fetch(ArtifactReader(local_policy(max_bytes=1000)), server.url("/big.yaml"))

    assert "over the 1000 byte limit" in str(err.value)


def test_urls_with_query_strings_never_show_the_query(server: LocalServer) -> None:
    server.routes["/x.yaml"] = Reply(503)
    url = server.url("/x.yaml?access_token=query-secret")
    reader = ArtifactReader(local_policy())

    source = reader.resolve(url, base_dir="/unused", location=url_entity("http://h/", "a").location)
    with pytest.raises(TransientError) as err:
        reader.read(source)

    assert "query-secret" not in source.location
    assert "query-secret" not in str(err.value)


def test_distinct_queries_keep_distinct_locations() -> None:
    reader = ArtifactReader(local_policy())
    loc = url_entity("http://h/", "a").location

    a = reader.resolve("http://127.0.0.1/x.yaml?ref=a", base_dir="/unused", location=loc)
    b = reader.resolve("http://127.0.0.1/x.yaml?ref=b", base_dir="/unused", location=loc)

    assert a.location != b.location


# ---- relative references from an entity located by URL --------------------------------------


REPO = "https://git.example.org/org/repo/raw/main/"


def url_reader() -> ArtifactReader:
    return ArtifactReader(
        UrlPolicy(allowed_hosts=frozenset({"git.example.org"})), transport=RecordingTransport()
    )


def test_relative_ref_under_a_url_location_becomes_a_url_in_the_repository() -> None:
    entity = url_entity(REPO, "apis/pet")

    source = url_reader().resolve(
        "./examples/ex.yaml", base_dir=entity.location.base_dir, location=entity.location
    )

    assert source.kind == "url"
    assert source.url == REPO + "apis/pet/examples/ex.yaml"


@pytest.mark.parametrize(
    "ref", ["../../../../etc/x.yaml", "%2e%2e/%2e%2e/%2e%2e/%2e%2e/x.yaml", "/org/other/x.yaml"]
)
def test_relative_ref_leaving_the_url_repository_is_refused(ref: str) -> None:
    entity = url_entity(REPO, "apis/pet")

    with pytest.raises(PermanentError):
        url_reader().resolve(ref, base_dir=entity.location.base_dir, location=entity.location)
