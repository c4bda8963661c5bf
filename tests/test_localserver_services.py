"""Specification of the services endpoints (NOTES §8): list, count, get, search, delete, JSON shapes."""

from __future__ import annotations

import re

from localserver_fixtures import (
    PASTRY_NAME,
    PASTRY_VERSION,
    assert_schema,
    open_client,
    pastry_examples,
    pastry_openapi,
    swagger_doc,
)

OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")


def _populated():
    client = open_client()
    client.upload(pastry_openapi(version="2.0.0"), "pastry.yaml")
    client.upload(pastry_openapi(version="1.0.0"), "pastry-v1.yaml")
    client.upload(swagger_doc("Beer Catalog", "0.9"), "beer.yaml")
    client.upload(pastry_examples(), "pastry-examples.yaml", main=False)
    return client


def test_list_is_sorted_by_name_then_version_and_matches_microcks_schema():
    client = _populated()

    answer = client.get("/api/services")

    body = answer.json()
    assert answer.status_code == 200
    assert [(s["name"], s["version"]) for s in body] == [
        (PASTRY_NAME, "1.0.0"),
        (PASTRY_NAME, "2.0.0"),
        ("Beer Catalog", "0.9"),
    ]
    assert_schema(body, "Service", array=True)


def test_list_pages_with_page_and_size():
    client = _populated()

    first = client.get("/api/services", params={"page": 0, "size": 2}).json()
    second = client.get("/api/services", params={"page": 1, "size": 2}).json()

    assert [s["version"] for s in first] == ["1.0.0", "2.0.0"]
    assert [s["name"] for s in second] == ["Beer Catalog"]


def test_list_refuses_a_non_numeric_page():
    client = _populated()

    answer = client.get("/api/services", params={"page": "first"})

    assert answer.status_code == 400


def test_count_answers_a_counter_object():
    client = _populated()

    body = client.get("/api/services/count").json()

    assert body == {"counter": 3}
    assert_schema(body, "Counter")


def test_service_json_uses_mongo_ids_epoch_millis_and_omits_nulls():
    client = _populated()

    service = client.get(f"/api/services/{PASTRY_NAME}:{PASTRY_VERSION}?messages=false").json()

    assert OBJECT_ID.match(service["id"])
    assert isinstance(service["metadata"]["createdOn"], int)
    assert service["metadata"]["createdOn"] > 1_600_000_000_000  # milliseconds, not seconds
    assert "xmlNS" not in service
    assert all(value is not None for op in service["operations"] for value in op.values())
    assert_schema(service, "Service")


def test_get_by_id_and_by_name_version_give_the_same_service():
    client = _populated()
    by_name = client.get(
        f"/api/services/{PASTRY_NAME}:{PASTRY_VERSION}", params={"messages": "false"}
    )

    by_id = client.get(f"/api/services/{by_name.json()['id']}", params={"messages": "false"})
    by_plus = client.get("/api/services/API+Pastry:2.0.0", params={"messages": "false"})

    assert by_id.json() == by_name.json() == by_plus.json()


def test_get_with_messages_answers_a_service_view_holding_every_operation():
    client = _populated()

    view = client.get(f"/api/services/{PASTRY_NAME}:{PASTRY_VERSION}").json()

    assert set(view) == {"service", "messagesMap"}
    assert set(view["messagesMap"]) == {op["name"] for op in view["service"]["operations"]}
    pair = view["messagesMap"]["GET /pastry/{name}"][0]
    assert pair["type"] == "reqRespPair"
    assert pair["request"]["responseId"] == pair["response"]["id"]
    assert pair["response"]["operationId"] == f"{view['service']['id']}-GET /pastry/{{name}}"
    assert_schema(view, "ServiceView")


def test_get_unknown_service_answers_404_with_an_empty_body():
    client = _populated()

    answer = client.get("/api/services/Nothing:1.0")
    by_id = client.get("/api/services/0123456789abcdef01234567")

    assert (answer.status_code, answer.content) == (404, b"")
    assert (by_id.status_code, by_id.content) == (404, b"")


def test_search_matches_a_case_insensitive_regex_on_the_name():
    client = _populated()

    answer = client.get("/api/services/search", params={"name": "^api pas"})

    body = answer.json()
    assert sorted(s["version"] for s in body) == ["1.0.0", "2.0.0"]
    assert_schema(body, "Service", array=True)


def test_search_by_label_and_name():
    client = _populated()

    by_label = client.get("/api/services/search", params={"labels.domain": "pastry"}).json()
    none = client.get(
        "/api/services/search", params={"labels.domain": "pastry", "name": "Beer"}
    ).json()

    assert {s["name"] for s in by_label} == {PASTRY_NAME}
    assert none == []


def test_search_with_an_invalid_regex_fails_without_harm():
    client = _populated()

    answer = client.get("/api/services/search", params={"name": "(unclosed"})

    assert answer.status_code == 500
    assert client.get("/api/services/count").json() == {"counter": 3}


def test_delete_removes_the_service_and_its_examples():
    client = _populated()
    service_id = client.get(f"/api/services/{PASTRY_NAME}:{PASTRY_VERSION}").json()["service"]["id"]

    answer = client.delete(f"/api/services/{service_id}")

    assert (answer.status_code, answer.content) == (200, b"")
    assert client.get(f"/api/services/{service_id}").status_code == 404
    assert client.get("/rest/API Pastry/2.0.0/pastry/Croissant").status_code == 404
    assert client.get("/api/services/count").json() == {"counter": 2}


def test_delete_by_name_version_and_of_an_absent_service_both_answer_200():
    client = _populated()

    by_name = client.delete(f"/api/services/{PASTRY_NAME}:1.0.0")
    absent = client.delete("/api/services/Nothing:1.0")

    assert by_name.status_code == absent.status_code == 200
    assert client.get("/api/services/count").json() == {"counter": 2}


def test_recreated_service_gets_a_new_id_and_no_old_examples():
    client = _populated()
    old = client.get(f"/api/services/{PASTRY_NAME}:{PASTRY_VERSION}").json()
    client.delete(f"/api/services/{old['service']['id']}")

    client.upload(pastry_openapi(), "pastry.yaml")

    new = client.get(f"/api/services/{PASTRY_NAME}:{PASTRY_VERSION}").json()
    assert new["service"]["id"] != old["service"]["id"]
    names = {p["response"]["name"] for p in new["messagesMap"]["GET /pastry/{name}"]}
    assert "Croissant" not in names


def test_labels_endpoint_lists_label_values():
    client = _populated()

    assert client.get("/api/services/labels").json() == {"domain": ["pastry"]}


def test_keycloak_config_says_disabled_when_auth_is_off():
    client = open_client(auth_enabled=False)

    body = client.get("/api/keycloak/config").json()

    assert body["enabled"] is False
    assert body["realm"] == "microcks"
    assert_schema(body, "KeycloakConfig")


def test_unknown_api_path_answers_spring_boot_404():
    client = open_client()

    answer = client.get("/api/nothing")

    assert answer.status_code == 404
    assert answer.json()["path"] == "/api/nothing"
