"""The service views of the local Microcks server over every artifact kind: list, search, map and
the bare service, with the type and operations each importer gives."""

from __future__ import annotations

from localserver_fixtures import open_client, relaxed_schema_errors, sample

MAINS = [
    ("films.graphql", "Movie Graph API", "GRAPHQL"),
    ("hello-v1.proto", "io.github.microcks.grpc.hello.v1.HelloService", "GRPC"),
    ("UserSignedUpAPI-asyncapi-ws.yml", "User signed-up API", "EVENT"),
    ("BeerCatalogAPI-collection.json", "Beer Catalog API", "REST"),
    ("HelloService-to-set-proxy-soapui-project.xml", "HelloService Mock", "SOAP_HTTP"),
    ("api-pastries-0.0.1.har", "API Pastries", "REST"),
]


def all_kinds_client():
    client = open_client()
    for name, _, _ in MAINS:
        assert client.upload(sample(name), name).status_code == 201
    return client


def test_list_search_and_map_show_each_kind_with_its_type():
    client = all_kinds_client()

    listed = client.get("/api/services").json()
    found = client.get("/api/services/search", params={"name": "hello"}).json()
    counts = client.get("/api/services/map").json()

    assert [(s["name"], s["type"]) for s in listed] == sorted((n, t) for _, n, t in MAINS)
    assert {s["name"] for s in found} == {
        "io.github.microcks.grpc.hello.v1.HelloService",
        "HelloService Mock",
    }
    assert counts == {"GRAPHQL": 1, "GRPC": 1, "EVENT": 1, "REST": 2, "SOAP_HTTP": 1}
    for service in listed:
        assert relaxed_schema_errors(service, "Service") == [], service["name"]
        assert service["sourceArtifact"] in {name for name, _, _ in MAINS}


def test_bare_service_view_without_messages():
    client = all_kinds_client()

    service = client.get(
        "/api/services/User+signed-up+API:0.1.50", params={"messages": "false"}
    ).json()

    assert (service["name"], service["type"]) == ("User signed-up API", "EVENT")
    assert "messagesMap" not in service
    assert relaxed_schema_errors(service, "Service") == []
