"""Every kind of API Microcks mocks, end to end through real sensor ticks and Dagster runs against
the local Microcks over HTTP (gRPC on its own port, events over WebSocket): one entity per
Backstage API type (openapi, asyncapi, graphql, grpc) plus a SoapUI and a Postman main. Each
mock answers as its examples say, called as a client would (HTTP, grpcio, a WebSocket
subscription); an edited example is served after one sync; gRPC services, named by their proto,
are ours only by label (a second declaration or a foreign service is a conflict, never
touched); a drifted GraphQL dispatcher is put back by the audit; a removed mock's service goes.

One world (catalog, server, Dagster instance) is shared by the module: tests run in file order
and each changes only its own entities.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import grpc
import httpx
import pytest
import yaml
from dagster_fixtures import World, make_world
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from websockets.sync.client import connect

from microcks_pipeline.core.identity import ENTITY_LABEL, OWNER_LABEL, service_version
from microcks_pipeline.definitions import defs
from microcks_pipeline.defs.partitions import partition_key
from microcks_pipeline.localserver.importer_protobuf import compile_proto

SAMPLES = Path(__file__).parent / "samples"
HELLO = "io.github.microcks.grpc.hello.v1.HelloService"
CHECK = dg.AssetCheckKey(dg.AssetKey("microcks_services"), "mocks_answer_examples")

OPENAPI = """openapi: 3.0.3
info: {title: Stock API, version: "1"}
paths:
  /stock/{sku}:
    get:
      parameters:
        - name: sku
          in: path
          required: true
          schema: {type: string}
          examples:
            apple: {value: apple}
      responses:
        "200":
          description: stock level
          content:
            application/json:
              examples:
                apple: {value: {sku: apple, level: 12}}
"""

# entity name -> (Backstage spec.type, files, definition file or None, microcks.yaml mock entry)
ENTITIES: dict[str, tuple[str, tuple[str, ...], str | None, str]] = {
    "stock-api": ("openapi", (), "openapi.yaml", "    - mockId: default\n"),
    "movies-graphql": (
        "graphql",
        ("films.graphql", "films-postman.json"),
        "films.graphql",
        "    - mockId: default\n      artifacts:\n"
        "        - {kind: examples, path: ./films-postman.json}\n",
    ),
    "hello-grpc": (
        "grpc",
        ("hello-v1.proto", "HelloService.postman.json"),
        "hello-v1.proto",
        "    - mockId: default\n      artifacts:\n"
        "        - {kind: examples, path: ./HelloService.postman.json}\n",
    ),
    "user-signedup": (
        "asyncapi",
        ("UserSignedUpAPI-asyncapi-ws.yml",),
        "UserSignedUpAPI-asyncapi-ws.yml",
        "    - mockId: default\n",
    ),
    "hello-soap": (
        "soap",
        ("HelloService-to-set-proxy-soapui-project.xml",),
        None,
        "    - mockId: default\n"
        "      main: {path: ./HelloService-to-set-proxy-soapui-project.xml}\n",
    ),
    "beer-catalog": (
        "rest",
        ("BeerCatalogAPI-collection.json",),
        None,
        "    - mockId: default\n      main: {path: ./BeerCatalogAPI-collection.json}\n",
    ),
}
SERVICE_TYPES = {
    "stock-api": "REST",
    "movies-graphql": "GRAPHQL",
    "hello-grpc": "GRPC",
    "user-signedup": "EVENT",
    "hello-soap": "SOAP_HTTP",
    "beer-catalog": "REST",
}


def write_entity(root: Path, name: str, folder: str | None = None) -> Path:
    api_type, files, definition, entry = ENTITIES[name]
    target = root / (folder or name)
    target.mkdir(parents=True)
    for file in files:
        shutil.copy(SAMPLES / file, target / file)
    if name == "stock-api":
        (target / "openapi.yaml").write_text(OPENAPI)
    spec: dict[str, object] = {"type": api_type, "lifecycle": "production", "owner": "team-a"}
    if definition:
        spec["definition"] = {"$text": f"./{definition}"}
    entity = {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "API",
        "metadata": {"name": folder or name, "annotations": {"bcgov/microcks-config-ref": "dir:."}},
        "spec": spec,
    }
    (target / "catalog-info.yaml").write_text(yaml.safe_dump(entity, sort_keys=False))
    (target / "microcks.yaml").write_text(f"spec:\n  mocks:\n{entry}")
    return target


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    catalog = tmp_path_factory.mktemp("kinds-catalog")
    for name in ENTITIES:
        write_entity(catalog, name)
    with make_world(tmp_path_factory.mktemp("world"), catalog=catalog) as w:
        results = w.sync()
        assert results and all(r.success for r in results)
        yield w


# ---- helpers ---------------------------------------------------------------------------------


def ref(name: str) -> str:
    return f"api:default/{name}"


def resync(world: World) -> list[dg.ExecuteInProcessResult]:
    requests = [*(world.tick_catalog().run_requests or []), *(world.tick_sync().run_requests or [])]
    assert requests, "the change requested no run"
    return world.run_all(requests)


def run_check(world: World, name: str) -> dg.AssetCheckEvaluation:
    job = defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_check_selection={CHECK}, asset_selection=set()
    )
    result = job.execute_in_process(
        instance=world.instance, partition_key=partition_key(ref(name)), resources=world.resources
    )
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation


def service_of(world: World, name: str, version: str) -> dict | None:
    with world.microcks.client() as client:
        return client.read_service(name, version)


def ours(name: str) -> str:
    return service_version(ref(name), "default")


def graphql(world: World, query: str, variables: dict | None = None) -> dict:
    url = f"{world.server.base_url}/graphql/movies-graphql/{ours('movies-graphql')}"
    answer = httpx.post(url, json={"query": query, "variables": variables or {}}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _hello_classes() -> tuple[type, type]:
    pool = descriptor_pool.DescriptorPool()
    descriptor = compile_proto((SAMPLES / "hello-v1.proto").read_text())
    for file in descriptor_pb2.FileDescriptorSet.FromString(descriptor).file:
        pool.Add(file)
    package = "io.github.microcks.grpc.hello.v1."
    return (
        message_factory.GetMessageClass(pool.FindMessageTypeByName(package + "HelloRequest")),
        message_factory.GetMessageClass(pool.FindMessageTypeByName(package + "HelloResponse")),
    )


def greet(world: World, firstname: str, lastname: str) -> str:
    request_class, response_class = _hello_classes()
    with grpc.insecure_channel(f"127.0.0.1:{world.server.grpc_port}") as channel:
        call = channel.unary_unary(
            f"/{HELLO}/greeting",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response_class.FromString,
        )
        answer = call(request_class(firstname=firstname, lastname=lastname), timeout=10)
    return json_format.MessageToDict(answer)["greeting"]


def received_event(world: World) -> dict:
    host = world.server.base_url.split("://", 1)[1]
    url = f"ws://{host}/api/ws/user-signedup/{ours('user-signedup')}/consumeUserSignedUp"
    with connect(url, open_timeout=10) as socket:
        return json.loads(socket.recv(timeout=10))


def soap_hello(world: World, name: str) -> str:
    body = (
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:hel="http://www.example.com/hello"><soapenv:Header/><soapenv:Body>'
        f"<hel:sayHello><name>{name}</name></hel:sayHello></soapenv:Body></soapenv:Envelope>"
    )
    url = f"{world.server.base_url}/soap/hello-soap/{ours('hello-soap')}"
    answer = httpx.post(url, content=body, headers={"Content-Type": "text/xml"}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.text


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


# ---- every kind served -----------------------------------------------------------------------


@pytest.mark.parametrize("name", list(ENTITIES))
def test_each_kind_is_a_service_of_its_type_and_passes_the_asset_check(
    world: World, name: str
) -> None:
    identity = (HELLO, "v1") if name == "hello-grpc" else (name, ours(name))

    view = service_of(world, *identity)

    assert view is not None and view["service"]["type"] == SERVICE_TYPES[name]
    assert view["messagesMap"], "no examples attached"
    evaluation = run_check(world, name)
    assert evaluation.passed, evaluation.metadata["results"]
    assert "default" in evaluation.metadata["results"].value  # type: ignore[union-attr]


def test_graphql_answers_the_selected_fields_of_its_postman_example(world: World) -> None:
    answer = graphql(
        world,
        'query { film(id: "ZmlsbXM6Mg==") { id title } }',
    )

    assert answer["data"] == {"film": {"id": "ZmlsbXM6Mg==", "title": "The Empire Strikes Back"}}
    operations = service_of(world, "movies-graphql", ours("movies-graphql"))["service"][
        "operations"
    ]
    assert {(o["name"], o.get("dispatcher")) for o in operations} >= {("film", "QUERY_ARGS")}


def test_grpc_answers_a_real_unary_call_and_is_ours_by_label(world: World) -> None:
    assert greet(world, "John", "Doe") == "Hello John Doe !"
    labels = service_of(world, HELLO, "v1")["service"]["metadata"]["labels"]
    assert labels == {OWNER_LABEL: ours("hello-grpc"), ENTITY_LABEL: ref("hello-grpc")}


def test_asyncapi_publishes_its_example_on_the_websocket(world: World) -> None:
    message = received_event(world)

    assert message["fullName"] in {"Laurent Broudoux", "John Doe"}


def test_soap_and_postman_mains_answer_their_examples(world: World) -> None:
    assert "Hello Andrew !" in soap_hello(world, "Andrew")
    url = f"{world.server.base_url}/rest/beer-catalog/{ours('beer-catalog')}/beer/Rodenbach"
    answer = httpx.get(url, timeout=10)
    assert answer.status_code == 200 and answer.json()["name"] == "Rodenbach"


def test_the_asset_metadata_gives_a_mock_address_per_kind(world: World) -> None:
    urls = {}
    for name in ENTITIES:
        record = world.instance.fetch_materializations(
            dg.AssetRecordsFilter(
                dg.AssetKey("microcks_services"), asset_partitions=[partition_key(ref(name))]
            ),
            limit=1,
        ).records[0]
        meta = record.asset_materialization.metadata  # type: ignore[union-attr]
        urls[name] = meta["mock_url/default"].value
    assert urls["hello-grpc"] == f"grpc://127.0.0.1:{world.server.grpc_port}/{HELLO}/greeting"
    assert urls["user-signedup"].startswith("ws://") and urls["user-signedup"].endswith(
        f"/api/ws/user-signedup/{ours('user-signedup')}/consumeUserSignedUp"
    )
    assert urls["movies-graphql"].endswith(f"/graphql/movies-graphql/{ours('movies-graphql')}")
    assert urls["hello-soap"].endswith(f"/soap/hello-soap/{ours('hello-soap')}")
    assert f"/rest/stock-api/{ours('stock-api')}/stock/apple" in urls["stock-api"]


# ---- edits -----------------------------------------------------------------------------------


def test_an_edited_example_of_each_kind_is_served_after_one_sync(world: World) -> None:
    root = world.catalog_dir
    edit(root / "movies-graphql/films-postman.json", "Irvin Kershner", "I. Kershner")
    edit(root / "hello-grpc/HelloService.postman.json", "Hello John Doe !", "Hi John Doe !")
    edit(root / "user-signedup/UserSignedUpAPI-asyncapi-ws.yml", "Laurent Broudoux", "L. B.")
    edit(root / "user-signedup/UserSignedUpAPI-asyncapi-ws.yml", "John Doe", "J. D.")
    edit(
        root / "hello-soap/HelloService-to-set-proxy-soapui-project.xml",
        "Hello Andrew !",
        "Hi Andrew !",
    )
    edit(root / "beer-catalog/BeerCatalogAPI-collection.json", '\\"Belgium\\"', '\\"Belgique\\"')
    edit(root / "stock-api/openapi.yaml", "level: 12", "level: 13")

    results = resync(world)

    assert all(r.success for r in results)
    film = graphql(world, 'query { film(id: "ZmlsbXM6Mg==") { director } }')
    assert film["data"] == {"film": {"director": "I. Kershner"}}
    assert greet(world, "John", "Doe") == "Hi John Doe !"
    assert received_event(world)["fullName"] in {"L. B.", "J. D."}
    assert "Hi Andrew !" in soap_hello(world, "Andrew")
    beer = httpx.get(
        f"{world.server.base_url}/rest/beer-catalog/{ours('beer-catalog')}/beer/Rodenbach"
    ).json()
    assert beer["country"] == "Belgique"
    stock = httpx.get(f"{world.server.base_url}/rest/stock-api/{ours('stock-api')}/stock/apple")
    assert stock.json() == {"sku": "apple", "level": 13}
    for name in ENTITIES:
        assert run_check(world, name).passed, name


# ---- gRPC ownership --------------------------------------------------------------------------


def test_a_second_entity_declaring_the_same_grpc_service_fails_and_the_first_keeps_serving(
    world: World,
) -> None:
    write_entity(world.catalog_dir, "hello-grpc", folder="hello-grpc-copy")
    before = service_of(world, HELLO, "v1")["service"]["id"]

    results = resync(world)

    assert [r for r in results if not r.success]
    error = world.store.rows(ref("hello-grpc-copy"))[0].last_error or ""
    assert "conflict" in error and f"mock 'default' of {ref('hello-grpc')}" in error
    assert service_of(world, HELLO, "v1")["service"]["id"] == before
    labels = service_of(world, HELLO, "v1")["service"]["metadata"]["labels"]
    assert labels[OWNER_LABEL] == ours("hello-grpc")
    assert greet(world, "John", "Doe") == "Hi John Doe !"
    shutil.rmtree(world.catalog_dir / "hello-grpc-copy")
    resync(world)
    assert greet(world, "John", "Doe") == "Hi John Doe !"  # the leaver did not take it along


def test_a_foreign_grpc_service_of_the_same_name_is_never_touched(world: World) -> None:
    proto = (SAMPLES / "hello-v1.proto").read_text().replace("hello.v1", "hello.v2")
    with world.microcks.client() as client:
        client.upload("foreign.proto", proto.encode(), main=True)
        foreign = client.get_service(HELLO.replace("v1", "v2"), "v2")
    assert foreign is not None
    target = write_entity(world.catalog_dir, "hello-grpc", folder="hello-grpc-v2")
    (target / "hello-v1.proto").write_text(proto)

    results = resync(world)

    assert any(not r.success for r in results)
    error = world.store.rows(ref("hello-grpc-v2"))[0].last_error or ""
    assert "not managed by microcks-pipeline" in error
    after = service_of(world, HELLO.replace("v1", "v2"), "v2")
    assert after is not None and after["service"]["id"] == foreign["id"]
    assert after["service"]["metadata"].get("labels") in (None, {})
    audit = defs.resolve_job_def("drift_audit_job").execute_in_process(
        instance=world.instance, resources=world.resources
    )
    assert audit.success
    assert service_of(world, HELLO.replace("v1", "v2"), "v2") is not None
    shutil.rmtree(target)
    resync(world)
    assert service_of(world, HELLO.replace("v1", "v2"), "v2") is not None


# ---- drift -----------------------------------------------------------------------------------


def test_a_drifted_graphql_dispatcher_is_restored_by_the_audit(world: World) -> None:
    name, version = "movies-graphql", ours("movies-graphql")
    with world.microcks.client() as client:
        client.override_operation(
            f"{name}:{version}", "film", {"dispatcher": "RANDOM", "dispatcherRules": None}
        )

    audit = defs.resolve_job_def("drift_audit_job").execute_in_process(
        instance=world.instance, resources=world.resources
    )
    world.run_all(world.tick_sync().run_requests or [])

    assert audit.success
    operations = service_of(world, name, version)["service"]["operations"]
    assert {o["name"]: (o.get("dispatcher"), o.get("dispatcherRules")) for o in operations}[
        "film"
    ] == ("QUERY_ARGS", "id")
    film = graphql(world, 'query { film(id: "ZmlsbXM6Mg==") { title } }')
    assert film["data"] == {"film": {"title": "The Empire Strikes Back"}}


def test_a_grpc_service_that_lost_its_owner_label_is_marked_again_by_the_audit(
    world: World,
) -> None:
    with world.microcks.client() as client:
        client.update_metadata(f"{HELLO}:v1", {}, {})

    audit = defs.resolve_job_def("drift_audit_job").execute_in_process(
        instance=world.instance, resources=world.resources
    )
    world.run_all(world.tick_sync().run_requests or [])

    assert audit.success
    labels = service_of(world, HELLO, "v1")["service"]["metadata"]["labels"]
    assert labels == {OWNER_LABEL: ours("hello-grpc"), ENTITY_LABEL: ref("hello-grpc")}


# ---- removal (last: it empties the catalog) ----------------------------------------------------


def test_a_renamed_then_removed_mock_of_each_kind_has_its_old_service_deleted(
    world: World,
) -> None:
    for name in ENTITIES:
        config = world.catalog_dir / name / "microcks.yaml"
        config.write_text(config.read_text().replace("mockId: default", "mockId: renamed"))

    results = resync(world)

    assert results and all(r.success for r in results)
    for name in ENTITIES:
        if name != "hello-grpc":
            assert service_of(world, name, ours(name)) is None, name
            assert service_of(world, name, service_version(ref(name), "renamed")) is not None
    # the proto names the gRPC service: the renamed mock takes it over, same service
    labels = service_of(world, HELLO, "v1")["service"]["metadata"]["labels"]
    assert labels[OWNER_LABEL] == service_version(ref("hello-grpc"), "renamed")
    assert greet(world, "John", "Doe") == "Hi John Doe !"

    other_main = (
        "spec:\n  mocks:\n    - mockId: other\n      main: {path: ../stock-api/openapi.yaml}\n"
    )
    for name in ENTITIES:
        (world.catalog_dir / name / "microcks.yaml").write_text(other_main)
    resync(world)

    assert service_of(world, HELLO, "v1") is None
    for name in ENTITIES:
        assert service_of(world, name, service_version(ref(name), "renamed")) is None, name
