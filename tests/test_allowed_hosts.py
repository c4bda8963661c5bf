"""Allowed hosts may carry a port: `host:port` matches that host on that port only, `host` any
port; a malformed entry fails loading with the variable and the entry named."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from artifacts_fixtures import LocalServer, Reply
from dagster_fixtures import World, make_world

from microcks_pipeline.core.errors import ArtifactPolicyError, ConfigError
from microcks_pipeline.core.identity import service_version
from microcks_pipeline.defs import settings as s
from microcks_pipeline.defs.resources import CatalogResource, resources_from_env
from microcks_pipeline.sources.artifacts import ArtifactReader, Source
from microcks_pipeline.sources.hosts import parse_allowed_hosts
from microcks_pipeline.sources.urls import UrlPolicy, check_url

PETSTORE = "api:default/petstore"
REMOTE_EXAMPLES = b"""apiVersion: mocks.microcks.io/v1alpha1
kind: APIExamples
metadata: {name: petstore, version: 1.0.0}
operations:
  "GET /pets/{petId}":
    remote:
      request: {parameters: {petId: "3"}}
      response:
        status: 200
        mediaType: application/json
        body: {id: 3, name: Remote Spike, tag: hedgehog}
"""


@pytest.fixture
def examples_server() -> Iterator[LocalServer]:
    with LocalServer() as server:
        server.routes["/petstore-examples.yaml"] = Reply(200, REMOTE_EXAMPLES)
        yield server


def read(policy: UrlPolicy, url: str) -> bytes:
    with ArtifactReader(policy) as reader:
        return reader.read(Source("url", url, url=url))


def local(*entries: str) -> UrlPolicy:
    hosts = parse_allowed_hosts(entries, source="test")
    return UrlPolicy(allowed_hosts=hosts, allow_http=True, allow_private=True)


# ---- matching -------------------------------------------------------------------------------


def test_a_host_with_a_port_is_read_on_that_port(examples_server: LocalServer) -> None:
    url = examples_server.url("/petstore-examples.yaml")
    assert read(local(f"127.0.0.1:{examples_server.port}"), url) == REMOTE_EXAMPLES


def test_a_host_with_another_port_is_refused_before_any_request(
    examples_server: LocalServer,
) -> None:
    url = examples_server.url("/petstore-examples.yaml")
    refused = f"127.0.0.1 is not allowed on port {examples_server.port}"
    with pytest.raises(ArtifactPolicyError, match=refused):
        read(local(f"127.0.0.1:{examples_server.port + 1}"), url)
    assert examples_server.seen == []


def test_a_host_without_a_port_matches_it_on_any_port(examples_server: LocalServer) -> None:
    url = examples_server.url("/petstore-examples.yaml")
    assert read(local("127.0.0.1"), url) == REMOTE_EXAMPLES


def test_a_port_entry_matches_the_schemes_default_port() -> None:
    policy = UrlPolicy(allowed_hosts=parse_allowed_hosts(["raw.example.com:443"], source="t"))
    assert check_url("https://raw.example.com/a.yaml", policy) == ("raw.example.com", 443)
    with pytest.raises(ArtifactPolicyError):
        check_url("https://raw.example.com:8443/a.yaml", policy)


@pytest.mark.parametrize(
    ("entry", "canonical"),
    [
        ("RAW.example.com", "raw.example.com"),
        (" raw.example.com:8443 ", "raw.example.com:8443"),
        ("[::1]:8900", "[::1]:8900"),
        ("::1", "::1"),
        ("10.0.0.1:80", "10.0.0.1:80"),
    ],
)
def test_entries_are_read_in_one_canonical_form(entry: str, canonical: str) -> None:
    assert parse_allowed_hosts([entry], source="t") == {canonical}


# ---- malformed entries fail loading ---------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "entry"),
    [
        ("http://x", "http://x"),
        ("a:b:c", "a:b:c"),
        ("ok.example.com, host:99999", "host:99999"),
        ("host:0", "host:0"),
        ("host:", "host:"),
        ("raw.example.com,,b.example.com", ""),
        ("a b", "a b"),
    ],
)
def test_a_malformed_entry_fails_loading_naming_the_variable_and_the_entry(
    value: str, entry: str
) -> None:
    with pytest.raises(ValueError) as caught:
        resources_from_env({s.ALLOWED_HOSTS: value})
    assert f"{s.ALLOWED_HOSTS}: entry {entry!r} is invalid" in str(caught.value)


def test_an_unset_or_blank_variable_allows_no_host_and_loads() -> None:
    for env in ({}, {s.ALLOWED_HOSTS: ""}, {s.ALLOWED_HOSTS: "  "}):
        assert resources_from_env(env)["catalog"].url_policy().allowed_hosts == frozenset()


def test_a_resource_built_with_a_malformed_entry_refuses_to_build_its_policy() -> None:
    with pytest.raises(ConfigError, match="'a:b:c'"):
        CatalogResource(root=".", allowed_hosts=["a:b:c"]).url_policy()


# ---- end to end: a URL artifact on a host:port entry syncs ----------------------------------


def _point_default_mock_at(world: World, url: str) -> None:
    path = world.catalog_dir / "petstore" / "microcks.yaml"
    text = path.read_text()
    old = "path: ./mocks/default/petstore-examples.yaml"
    assert old in text
    path.write_text(text.replace(old, f"path: {url}"))


def _sync_with_hosts(world: World, hosts: list[str]) -> World:
    catalog = CatalogResource(
        root=str(world.catalog_dir), allowed_hosts=hosts, allow_http=True, allow_private=True
    )
    world = world.using(catalog=catalog)
    world.sync()
    return world


@pytest.fixture
def remote_world(tmp_path: Path, examples_server: LocalServer) -> Iterator[World]:
    """The sample world, petstore's default mock taking its examples from examples_server."""
    with make_world(tmp_path) as world:
        _point_default_mock_at(world, examples_server.url("/petstore-examples.yaml"))
        yield world


def test_an_artifact_url_on_an_allowed_host_and_port_is_served_by_the_mock(
    remote_world: World, examples_server: LocalServer
) -> None:
    world = _sync_with_hosts(remote_world, [f"127.0.0.1:{examples_server.port}"])

    mock = f"{world.server.base_url}/rest/petstore/{service_version(PETSTORE, 'default')}"
    assert world.get(mock + "/pets/3").json()["name"] == "Remote Spike"
    assert {r.mock_id: r.status for r in world.store.rows(PETSTORE)} == {
        "default": "completed",
        "fallback": "completed",
    }


def test_an_artifact_url_on_another_port_fails_that_mock_only(
    remote_world: World, examples_server: LocalServer
) -> None:
    world = _sync_with_hosts(remote_world, [f"127.0.0.1:{examples_server.port + 1}"])

    rows = {r.mock_id: r for r in world.store.rows(PETSTORE)}
    assert rows["default"].status == "error"
    assert "127.0.0.1 is not allowed" in (rows["default"].last_error or "")
    assert rows["fallback"].status == "completed"
    assert examples_server.seen == []


def test_the_code_location_does_not_load_with_a_malformed_entry() -> None:
    env = {**os.environ, s.ALLOWED_HOSTS: "127.0.0.1:8900,a:b:c"}
    loaded = subprocess.run(
        [sys.executable, "-c", "import microcks_pipeline.definitions"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert loaded.returncode != 0
    assert f"{s.ALLOWED_HOSTS}: entry 'a:b:c' is invalid" in loaded.stderr
