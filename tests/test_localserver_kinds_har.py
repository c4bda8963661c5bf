"""HAR archives on the local Microcks server, as Microcks' HARImporter reads them: identity from
the `log.comment`, operations from the recorded requests, one example per entry, as a main or a
secondary artifact."""

from __future__ import annotations

import json

import pytest
from localserver_fixtures import assert_schema, open_client, pastry_openapi, sample

PASTRIES = "/rest/API Pastries/0.0.2"


def pastries_client():
    client = open_client()
    answer = client.upload(sample("api-pastries-0.0.1.har"), "pastries.har")
    assert (answer.status_code, answer.text) == (201, "API Pastries:0.0.2")
    return client


def test_recorded_requests_are_served_back_by_query_and_by_path():
    client = pastries_client()

    small = client.get(f"{PASTRIES}/pastries", params={"size": "S"})
    millefeuille = client.get(f"{PASTRIES}/pastries/Millefeuille")
    unknown = client.get(f"{PASTRIES}/pastries", params={"size": "XXL"})

    assert small.status_code == 200
    assert small.json()[0]["name"] == "Tartelette Fraise"
    assert millefeuille.json()["name"] == "Millefeuille"
    assert (unknown.status_code, unknown.text) == (400, "The response ?size=XXL does not exist!")


def test_similar_urls_become_one_templated_operation():
    client = pastries_client()

    view = client.get("/api/services/API Pastries:0.0.2").json()

    operations = {op["name"]: op for op in view["service"]["operations"]}
    assert view["service"]["type"] == "REST"
    assert sorted(operations) == [
        "GET /pastries",
        "GET /pastries/{part1}",
        "PATCH /pastries/Eclair+Cafe",
    ]
    templated = operations["GET /pastries/{part1}"]
    assert (templated["dispatcher"], templated["dispatcherRules"]) == ("URI_PARTS", "part1")
    assert (
        operations["GET /pastries"]["dispatcher"],
        operations["GET /pastries"]["dispatcherRules"],
    ) == (
        "URI_PARAMS",
        "size",
    )
    pairs = view["messagesMap"]["GET /pastries/{part1}"]
    # Examples are named after the entry's startedDateTime.
    assert [(p["response"]["name"], p["response"]["dispatchCriteria"]) for p in pairs] == [
        ("2023-08-17T08:43:38.913Z", "/part1=Millefeuille"),
        ("2023-08-17T08:43:48.168Z", "/part1=Eclair Cafe"),
    ]
    assert_schema(view, "ServiceView")


def test_har_secondary_adds_examples_to_operations_of_the_same_name():
    client = open_client()
    client.upload(pastry_openapi(), "pastry.yaml")
    har = {
        "log": {
            "version": "1.2",
            "comment": "microcksId: API Pastry:2.0.0",
            "entries": [
                {
                    "startedDateTime": "2026-01-01T00:00:00Z",
                    "request": {
                        "method": "GET",
                        "url": "http://shop/pastry?size=XL",
                        "headers": [],
                    },
                    "response": {
                        "status": 200,
                        "headers": [{"name": "Content-Type", "value": "application/json"}],
                        "content": {"mimeType": "application/json", "text": '[{"name": "Big"}]'},
                    },
                }
            ],
        }
    }

    answer = client.upload(json.dumps(har), "recorded.har", main=False)

    assert (answer.status_code, answer.text) == (201, "API Pastry:2.0.0")
    assert client.get("/rest/API Pastry/2.0.0/pastry", params={"size": "XL"}).json() == [
        {"name": "Big"}
    ]


@pytest.mark.parametrize(
    ("log", "message"),
    [
        ({"version": "0.9"}, "HAR version is not supported. Currently supporting: [1.1, 1.2]"),
        (
            {"version": "1.2"},
            "Expecting a comment in HAR log to specify Microcks service identifier",
        ),
        (
            {"version": "1.2", "comment": "microcksId: NoVersion"},
            "microcksId comment is malformed. Expecting 'microcksId: <API_name>:<API_version>'",
        ),
        (
            {"version": "1.2", "comment": "recorded by hand"},
            "No microcksId: comment found into GraphQL schema to get API name and version",
        ),
    ],
)
def test_archives_microcks_refuses_answer_400_with_its_text(log, message):
    client = open_client()

    answer = client.upload(json.dumps({"log": log}), "a.har")

    assert (answer.status_code, answer.text) == (400, message)
    assert client.get("/api/services/count").json() == {"counter": 0}


def test_text_that_is_not_json_fails_with_jacksons_message():
    client = open_client()

    answer = client.upload("hello world\n", "notes.txt")

    assert answer.status_code == 400
    assert answer.text.startswith("Unrecognized token 'hello': was expecting")
