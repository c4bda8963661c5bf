"""Postman collections on the local Microcks server: as a REST main (identity from `info`), as a
secondary (examples for an existing service only), and Microcks' refusals
(PostmanCollectionImporter, MockRepositoryImporterFactory)."""

from __future__ import annotations

import json

import pytest
from localserver_fixtures import assert_schema, open_client, pastry_openapi, sample

BEER = "/rest/Beer Catalog API/0.99"


def beer_client():
    client = open_client()
    answer = client.upload(sample("BeerCatalogAPI-collection.json"), "beer-collection.json")
    assert (answer.status_code, answer.text) == (201, "Beer Catalog API:0.99")
    return client


def test_collection_as_main_serves_rest_mocks_dispatched_by_path_and_query():
    client = beer_client()

    weissbier = client.get(f"{BEER}/beer/Weissbier")
    page = client.get(f"{BEER}/beer", params={"page": "0"})
    unknown = client.get(f"{BEER}/beer/Chimay")

    assert weissbier.status_code == 200
    assert weissbier.json()["country"] == "Germany"
    assert weissbier.headers["content-type"] == "application/json;charset=UTF-8"
    assert page.json()[0]["name"] == "Rodenbach"
    assert (unknown.status_code, unknown.text) == (400, "The response /name=Chimay does not exist!")


def test_collection_service_has_rest_type_and_postman_style_operations():
    client = beer_client()

    view = client.get("/api/services/Beer Catalog API:0.99").json()

    assert view["service"]["type"] == "REST"
    operations = {op["name"]: op for op in view["service"]["operations"]}
    assert operations["GET /beer/:name"]["dispatcher"] == "URI_PARTS"
    assert operations["GET /beer"]["dispatcher"] == "URI_PARAMS"
    assert operations["GET /beer"]["dispatcherRules"] == "page"
    assert sorted(operations["GET /beer/:name"]["resourcePaths"]) == [
        "/beer/Rodenbach",
        "/beer/Weissbier",
    ]
    pairs = view["messagesMap"]["GET /beer/:name"]
    assert {p["response"]["dispatchCriteria"] for p in pairs} == {
        "/name=Rodenbach",
        "/name=Weissbier",
    }
    assert {p["response"]["sourceArtifact"] for p in pairs} == {"beer-collection.json"}
    assert_schema(view, "ServiceView")


def _collection(info: dict, items: list | None = None) -> str:
    return json.dumps({"info": info, "item": items or []}, indent=2)


@pytest.mark.parametrize(
    ("info", "version"),
    [
        ({"_postman_id": "1", "name": "A", "version": "2.1"}, "2.1"),
        (
            {"_postman_id": "1", "name": "A", "version": {"major": 1, "minor": 2, "patch": 3}},
            "1.2.3",
        ),
        ({"_postman_id": "1", "name": "A", "version": {"identifier": "v9", "major": 1}}, "v9"),
        ({"_postman_id": "1", "name": "A", "description": "version=v1 - the A API"}, "v1"),
    ],
)
def test_version_comes_from_info_version_or_the_description(info, version):
    client = open_client()

    answer = client.upload(_collection(info), "a.json")

    assert (answer.status_code, answer.text) == (201, f"A:{version}")


def test_postman_secondary_adds_examples_to_an_existing_service_only():
    client = open_client()
    client.upload(pastry_openapi(), "pastry.yaml")
    item = {
        "name": "one",
        "request": {"method": "GET", "url": "http://host/pastry/:name"},
        "response": [
            {
                "name": "Baba",
                "code": 200,
                "originalRequest": {
                    "method": "GET",
                    "url": {
                        "raw": "http://host/pastry/Baba",
                        "variable": [{"key": "name", "value": "Baba"}],
                    },
                },
                "header": [{"key": "Content-Type", "value": "application/json"}],
                "body": '{"name": "Baba", "price": 3.1}',
            }
        ],
    }
    info = {"_postman_id": "1", "name": "API Pastry", "description": "version=2.0.0"}
    missing = {**info, "description": "version=9.9.9"}

    added = client.upload(_collection(info, [item]), "pastry-postman.json", main=False)
    skipped = client.upload(_collection(missing, [item]), "other-postman.json", main=False)

    assert (added.status_code, added.text) == (201, "API Pastry:2.0.0")
    assert client.get("/rest/API Pastry/2.0.0/pastry/Baba").json() == {"name": "Baba", "price": 3.1}
    # Microcks skips a secondary whose service does not exist, and still answers 201.
    assert (skipped.status_code, skipped.text) == (201, "API Pastry:9.9.9")
    assert client.get("/api/services/API Pastry:9.9.9").status_code == 404


def test_minified_collection_is_not_recognised_and_fails_as_har_like_in_microcks():
    client = open_client()
    minified = json.dumps({"info": {"_postman_id": "1", "name": "A", "version": "1"}, "item": []})

    answer = client.upload(minified, "a.json")

    assert (answer.status_code, answer.text) == (
        400,
        "HAR version is not supported. Currently supporting: [1.1, 1.2]",
    )


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            '{\n"_postman_id": "1",\n"name": "v1 collection"\n}',
            "Only Postman v2 Collection are supported.",
        ),
        (
            _collection({"_postman_id": "1", "name": "A", "description": "no version here"}),
            "Version property is missing in Collection description",
        ),
        ('{\n"_postman_id": "1",\n', "Postman collection file parsing error"),
    ],
)
def test_collections_microcks_refuses_are_answered_400_with_its_text(document, message):
    client = open_client()

    answer = client.upload(document, "c.json")

    assert (answer.status_code, answer.text) == (400, message)
    assert client.get("/api/services/count").json() == {"counter": 0}


def test_workspace_export_wrapping_the_collection_is_imported_the_same_way():
    client = open_client()
    collection = json.loads(sample("BeerCatalogAPI-collection.json"))
    export = json.dumps({"collection": collection}, indent=2)

    answer = client.upload(export, "workspace-export.json")

    assert (answer.status_code, answer.text) == (201, "Beer Catalog API:0.99")
    assert client.get(f"{BEER}/beer/Rodenbach").json()["country"] == "Belgium"
