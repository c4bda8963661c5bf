"""The pipeline against a real Backstage catalog backend (see backstage_fixtures.py), end to end:
real catalog sensor ticks and real sync runs against the local Microcks-compatible server, with
the sample catalog registered as a `url` location and its files read over http.

One Backstage serves the whole module (it starts in seconds, its npm install takes minutes);
each test gets a fresh Microcks, status store and Dagster instance, and puts back what it
changed in the served catalog.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from backstage_fixtures import ORPHAN, TOKEN, Backstage, running_backstage
from dagster_fixtures import MANAGED, World, make_world, services

from microcks_pipeline.core.identity import entity_ref, service_version
from microcks_pipeline.defs import settings as s
from microcks_pipeline.defs.resources import CatalogResource

PETSTORE = entity_ref("petstore")
ORDERS = entity_ref("orders-api")


@pytest.fixture(scope="module")
def backstage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backstage]:
    with running_backstage(tmp_path_factory.mktemp("backstage")) as running:
        yield running


def catalog_resource(backstage: Backstage, token: str = TOKEN) -> CatalogResource:
    """The pipeline's view of it: Backstage's listing, files over http from its file server."""
    return CatalogResource(
        backstage_url=backstage.base_url,
        token=token,
        allowed_hosts=["127.0.0.1"],
        allow_http=True,
        allow_private=True,
        remote_interval=0.001,  # every tick checks the files (conditionally)
    )


@pytest.fixture
def world(tmp_path: Path, backstage: Backstage, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    # Due entities go to one batch run, not a run each: one run process start instead of four.
    monkeypatch.setenv(s.BATCH_THRESHOLD, "0")
    with make_world(tmp_path) as base:
        yield base.using(catalog=catalog_resource(backstage))


def sync(world: World) -> None:
    results = world.sync()
    assert all(r.success for r in results)


def mock(world: World, ref: str, mock_id: str, path: str) -> tuple[int, object]:
    name = ref.split("/", 1)[1]
    response = world.get(
        f"{world.server.base_url}/rest/{name}/{service_version(ref, mock_id)}{path}"
    )
    body = response.json() if response.status_code == 200 else response.text
    return response.status_code, body


def edited(path: Path, old: str, new: str) -> str:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    return text


def test_every_managed_entity_of_a_url_registered_catalog_is_synced(world, backstage):
    assert "legacy-api" in backstage.api_names()  # listed by Backstage, not managed by us

    sync(world)

    assert {r.entity_ref for r in world.store.rows()} == MANAGED
    assert all(r.status == "completed" for r in world.store.rows())
    assert {key.split(":")[0] for key in services(world)} == {
        "petstore",
        "orders-api",
        "payments-api",
        "users-api",
        "user-signedup-events",
        "movies-graphql",
        # Microcks names a gRPC service from the proto's package and service, not the entity
        "io.github.microcks.grpc.hello.v1.HelloService",
    }
    assert mock(world, PETSTORE, "default", "/pets/3") == (
        200,
        {"id": 3, "name": "Spike", "tag": "hedgehog"},
    )
    # orders-api's definition is `$text: ./openapi.yaml`, resolved by Backstage itself.
    assert mock(world, ORDERS, "default", "/orders/1000")[0] == 200


def test_an_edited_example_is_served_after_the_next_sync(world, backstage):
    sync(world)
    examples = backstage.catalog_dir / "petstore/mocks/default/petstore-examples.yaml"
    original = edited(examples, "name: Spike", "name: Sonic")
    try:
        (run,) = world.tick_catalog().run_requests  # (the batch threshold is 0 here)
        assert run.run_config["ops"]["sync_entities"]["config"]["entity_refs"] == [PETSTORE]
        assert world.run(run).success

        assert mock(world, PETSTORE, "default", "/pets/3")[1] == {
            "id": 3,
            "name": "Sonic",
            "tag": "hedgehog",
        }
    finally:
        examples.write_text(original)


def test_an_entity_removed_from_its_location_is_orphaned_and_its_mocks_deleted(world, backstage):
    sync(world)
    root = backstage.catalog_dir / "catalog-info.yaml"
    original = edited(root, "    - ./orders/catalog-info.yaml\n", "")
    try:
        backstage.wait_for(
            "orders-api to be orphaned",
            lambda: (
                (backstage.entity("orders-api") or {})
                .get("metadata", {})
                .get("annotations", {})
                .get(ORPHAN)
                == "true"
            ),
        )
        sync(world)

        assert "orders-api" in backstage.api_names()  # still listed, as an orphan
        assert mock(world, ORDERS, "default", "/orders/1000")[0] == 404
        assert not any(key.startswith("orders-api:") for key in services(world))
        assert mock(world, PETSTORE, "default", "/pets/3")[0] == 200  # the others stay
    finally:
        root.write_text(original)
        backstage.wait_for(
            "orders-api to be adopted again",
            lambda: (
                ORPHAN
                not in (backstage.entity("orders-api") or {})
                .get("metadata", {})
                .get("annotations", {ORPHAN: "?"})
            ),
        )


def test_an_entity_deleted_by_uid_and_ingested_again_keeps_its_mocks(world, backstage):
    sync(world)
    before = services(world)
    uid = backstage.entity("petstore")["metadata"]["uid"]

    backstage.delete_by_uid(uid)
    backstage.wait_for(
        "petstore to be ingested again",
        lambda: (backstage.entity("petstore") or {}).get("metadata", {}).get("uid", uid) != uid,
    )
    tick = world.tick_catalog()
    sync(world)

    assert tick.skip_message.startswith("unchanged: ")  # a new uid is the same entity
    assert services(world) == before  # same services, same ids
    assert mock(world, PETSTORE, "default", "/pets/3")[0] == 200


def test_a_wrong_token_is_reported_clearly_and_changes_nothing(world, backstage):
    sync(world)
    rows = world.store.rows()
    wrong = "not-the-backstage-token-123"
    refused = world.using(catalog=catalog_resource(backstage, token=wrong))

    tick = refused.tick_catalog()

    assert tick.skip_message == (
        f"catalog listing failed, nothing changed: Backstage catalog at {backstage.base_url}: "
        "page 1 of the entity listing: HTTP 401, the catalog token was refused"
    )
    assert wrong not in tick.skip_message
    assert refused.store.rows() == rows
    assert not refused.tick_sync().run_requests
    assert mock(world, PETSTORE, "default", "/pets/3")[0] == 200
