"""A Backstage catalog whose entities live in Git repositories: what an unchanged, an edited and
a rate-limited pass cost and record. Fake Backstage and the Git host stand-in over real HTTP;
the real status store and, for the sensor, a real Dagster sensor evaluation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from catalog_fixtures import TOKEN, FakeBackstage, api_entity, serve
from dagster_fixtures import make_world
from githost import GitHost

from microcks_pipeline.defs.resources import CatalogResource
from microcks_pipeline.sources.artifacts import ArtifactReader
from microcks_pipeline.sources.catalog import BackstageCatalog
from microcks_pipeline.sources.urls import UrlPolicy
from microcks_pipeline.store import StatusStore
from microcks_pipeline.sync.processor import ScanCache, process_catalog

REPO = "org/apis"
NAMES = ("alpha", "beta", "gamma")
MICROCKS_YAML = """spec:
  mocks:
    - mockId: default
      artifacts:
        - kind: examples
          path: ./examples.yaml
"""
EXAMPLES = """apiVersion: mocks.microcks.io/v1alpha1
kind: APIExamples
metadata: {{name: {name}, version: '1'}}
operations:
  GET /things:
    one:
      request: {{}}
      response: {{status: '200', body: '{name}'}}
"""


def repository_files(names: tuple[str, ...]) -> dict[str, str]:
    files: dict[str, str] = {}
    for name in names:
        files[f"apis/{name}/catalog-info.yaml"] = f"# {name}\n"
        files[f"apis/{name}/microcks.yaml"] = MICROCKS_YAML
        files[f"apis/{name}/examples.yaml"] = EXAMPLES.format(name=name)
    return files


@pytest.fixture
def host() -> GitHost:
    host = GitHost()
    host.push(REPO, repository_files(NAMES))
    return host


@pytest.fixture
def host_url(host: GitHost) -> Iterator[str]:
    with serve(host.app()) as url:
        yield url


@pytest.fixture
def backstage(host_url: str) -> FakeBackstage:
    location = f"url:{host_url}/{REPO}/blob/main/apis/{{name}}/catalog-info.yaml"
    return FakeBackstage(entities=[api_entity(n, location=location) for n in NAMES])


@pytest.fixture
def backstage_url(backstage: FakeBackstage) -> Iterator[str]:
    with serve(backstage.app()) as url:
        yield url


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StatusStore]:
    store = StatusStore(f"sqlite:///{tmp_path / 'status.db'}")
    store.migrate()
    yield store
    store.dispose()


def policy() -> UrlPolicy:
    return UrlPolicy(
        allowed_hosts=frozenset({"127.0.0.1"}),
        allow_http=True,
        allow_private=True,
        github_enterprise_hosts=frozenset({"127.0.0.1"}),
    )


def fingerprints(store: StatusStore) -> dict[str, str]:
    return {r.entity_ref: r.fingerprint_hash for r in store.rows()}


def test_an_unchanged_remote_pass_asks_the_repository_once_and_an_edit_replans_one_entity(
    host, backstage_url, store
):
    source = BackstageCatalog(backstage_url, token=TOKEN)
    reader, cache = ArtifactReader(policy()), ScanCache()
    first = process_catalog(source, reader, store, cache=cache)
    before = fingerprints(store)
    host.reset_stats()

    unchanged = process_catalog(source, reader, store, cache=cache)

    assert first.rows_written == 3 and unchanged.rows_written == 0
    assert host.stats.total() == {"requests": 1, "200": 0, "304": 1, "bytes": 0, "raw_bytes": 0}

    host.push(REPO, {"apis/beta/examples.yaml": EXAMPLES.format(name="beta v2")})
    host.reset_stats()
    edited = process_catalog(source, reader, store, cache=cache)

    after = fingerprints(store)
    assert edited.rows_written == 1
    assert {ref for ref in after if after[ref] != before[ref]} == {"api:default/beta"}
    assert host.raw_paths == [f"/{REPO}/raw/{host.repos[REPO].head}/apis/beta/examples.yaml"]


def test_a_rate_limit_is_shown_in_the_catalog_tick_and_nothing_is_deleted_or_flaps(
    tmp_path, host, host_url, backstage, backstage_url
):
    catalog = CatalogResource(
        backstage_url=backstage_url,
        token=TOKEN,
        allowed_hosts=["127.0.0.1"],
        github_enterprise_hosts=["127.0.0.1"],
        allow_http=True,
        allow_private=True,
        remote_interval=0.001,
    )
    with make_world(tmp_path) as base:
        world = base.using(catalog=catalog)
        world.tick_catalog()
        rows = world.store.rows()
        assert {r.entity_ref for r in rows} == {f"api:default/{n}" for n in NAMES}

        # The host runs out of requests; meanwhile a file changes and an entity is added.
        host.limit(0, reset_in=600)
        host.push(REPO, {"apis/beta/examples.yaml": EXAMPLES.format(name="beta v2")})
        host.push(REPO, repository_files(("delta",)))
        location = f"url:{host_url}/{REPO}/blob/main/apis/{{name}}/catalog-info.yaml"
        backstage.entities.append(api_entity("delta", location=location))
        limited = world.tick_catalog()
        again = world.tick_catalog()

        assert "rate limited until" in limited.skip_message
        assert "remote reads held back" in again.skip_message and "127.0.0.1" in again.skip_message
        assert world.store.rows() == rows  # no delete, no requeue, no row for the new entity

        # Once the reset has passed, the next tick catches up.
        host.limit(None)
        _, reader, _ = catalog.scanner()
        reader.remote.wall = lambda: 10**10
        caught_up = world.tick_catalog()

        assert "rate limited" not in (caught_up.skip_message or "")
        changed = {r.entity_ref for r in world.store.rows() if r not in rows}
        assert changed == {"api:default/beta", "api:default/delta"}
