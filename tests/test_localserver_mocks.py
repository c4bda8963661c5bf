"""Specification of the `/rest/{service}/{version}/...` mock endpoints (NOTES §6)."""

from __future__ import annotations

import json

import pytest
from localserver_fixtures import (
    open_client,
    pastry_examples,
    pastry_metadata,
    pastry_openapi,
)

BASE = "/rest/API Pastry/2.0.0"


@pytest.fixture
def pastry():
    client = open_client()
    assert client.upload(pastry_openapi(), "pastry.yaml").status_code == 201
    return client


def test_uri_parts_dispatch_serves_the_example_matching_the_path(pastry):
    answer = pastry.get(f"{BASE}/pastry/Millefeuille")

    assert answer.status_code == 200
    assert answer.json() == {"name": "Millefeuille", "price": 4.4}
    assert answer.headers["content-type"] == "application/json;charset=UTF-8"


@pytest.mark.parametrize("spelling", ["API%20Pastry", "API+Pastry"])
def test_spaces_in_names_and_paths_may_be_encoded_as_percent_20_or_plus(pastry, spelling):
    answer = pastry.get(f"/rest/{spelling}/2.0.0/pastry/Eclair+Chocolat")

    assert answer.status_code == 200
    assert answer.json()["name"] == "Eclair Chocolat"


def test_uri_params_dispatch_uses_the_query_string(pastry):
    small = pastry.get(f"{BASE}/pastry", params={"size": "S"})
    large = pastry.get(f"{BASE}/pastry", params={"size": "L", "ignored": "x"})

    assert small.json()[0]["size"] == "S"
    assert large.json()[0]["size"] == "L"


def test_dispatcher_without_a_matching_example_answers_400_naming_the_criteria(pastry):
    answer = pastry.get(f"{BASE}/pastry/Croissant")

    assert answer.status_code == 400
    assert answer.text == "The response /name=Croissant does not exist!"


def test_operation_without_dispatcher_answers_its_first_example(pastry):
    answer = pastry.get(f"{BASE}/health")

    assert (answer.status_code, answer.text) == (200, "UP")
    assert answer.headers["content-type"] == "text/plain;charset=UTF-8"


def test_unknown_service_answers_404_with_microcks_text(pastry):
    answer = pastry.get("/rest/API Pastry/9.9.9/pastry")

    assert answer.status_code == 404
    assert answer.text == "The service API Pastry with version 9.9.9 does not exist!"


def test_unknown_operation_answers_404_with_an_empty_body(pastry):
    answer = pastry.get(f"{BASE}/cakes")
    wrong_method = pastry.request("PATCH", f"{BASE}/health")

    assert (answer.status_code, answer.content) == (404, b"")
    assert (wrong_method.status_code, wrong_method.content) == (404, b"")


def test_options_without_operation_answers_the_cors_preflight(pastry):
    answer = pastry.request(
        "OPTIONS", f"{BASE}/health", headers={"Access-Control-Request-Headers": "x-custom"}
    )

    assert answer.status_code == 204
    assert answer.headers["access-control-allow-origin"] == "*"
    assert answer.headers["access-control-allow-headers"] == "x-custom"


def test_examples_from_api_examples_are_served(pastry):
    pastry.upload(
        pastry_examples(example="Croissant", price=1.2), "pastry-examples.yaml", main=False
    )

    answer = pastry.get(f"{BASE}/pastry/Croissant")

    assert answer.status_code == 200
    assert answer.json() == {"name": "Croissant", "price": 1.2}


def test_fallback_dispatcher_from_api_metadata_answers_the_fallback_example(pastry):
    pastry.upload(pastry_metadata(), "pastry-metadata.yaml", main=False)

    known = pastry.get(f"{BASE}/pastry/Millefeuille")
    unknown = pastry.get(f"{BASE}/pastry/Croissant")

    assert known.json()["name"] == "Millefeuille"
    assert unknown.status_code == 404  # the `Unknown` example's status
    assert unknown.text == "Pastry not found"


def test_fallback_is_lost_after_a_main_reupload_until_metadata_is_uploaded_again(pastry):
    pastry.upload(pastry_metadata(), "pastry-metadata.yaml", main=False)

    pastry.upload(pastry_openapi(), "pastry.yaml")
    without = pastry.get(f"{BASE}/pastry/Croissant")
    pastry.upload(pastry_metadata(), "pastry-metadata.yaml", main=False)
    again = pastry.get(f"{BASE}/pastry/Croissant")

    assert without.status_code == 400
    assert again.status_code == 404


def test_uri_elements_dispatch_combines_path_parts_and_query_params():
    client = open_client()
    document = """openapi: 3.0.2
info: {title: Orders, version: "1"}
paths:
  /orders/{id}:
    get:
      parameters:
        - name: id
          in: path
          required: true
          schema: {type: string}
          examples:
            full: {value: "7"}
            short: {value: "7"}
        - name: view
          in: query
          schema: {type: string}
          examples:
            full: {value: full}
            short: {value: short}
      responses:
        '200':
          description: an order
          content:
            application/json:
              examples:
                full: {value: {id: 7, lines: [1, 2]}}
                short: {value: {id: 7}}
"""
    client.upload(document, "orders.yaml")

    full = client.get("/rest/Orders/1/orders/7", params={"view": "full"})
    short = client.get("/rest/Orders/1/orders/7", params={"view": "short"})

    assert full.json() == {"id": 7, "lines": [1, 2]}
    assert short.json() == {"id": 7}


def test_required_query_parameter_is_enforced_as_a_parameter_constraint():
    client = open_client()
    document = """openapi: 3.0.2
info: {title: Search, version: "1"}
paths:
  /search:
    get:
      parameters:
        - {name: q, in: query, required: true, schema: {type: string}, examples: {tea: {value: tea}}}
      responses:
        '200':
          description: hits
          content:
            application/json:
              examples:
                tea: {value: [tea]}
"""
    client.upload(document, "search.yaml")

    missing = client.get("/rest/Search/1/search")
    present = client.get("/rest/Search/1/search", params={"q": "tea"})

    assert (missing.status_code, missing.text) == (
        400,
        "Parameter q is required. Check parameter constraints.",
    )
    assert present.json() == ["tea"]


def test_response_status_headers_and_post_request_bodies_are_served():
    client = open_client()
    document = """openapi: 3.0.2
info: {title: Pets, version: "1"}
paths:
  /pets:
    post:
      requestBody:
        content:
          application/json:
            examples:
              created: {value: {name: Rex}}
      responses:
        '201':
          description: created
          headers:
            Location:
              schema: {type: string}
              examples:
                created: {value: /pets/1}
          content:
            application/json:
              examples:
                created: {value: {id: 1, name: Rex}}
"""
    client.upload(document, "pets.yaml")

    answer = client.post("/rest/Pets/1/pets", json={"name": "Rex"})

    assert answer.status_code == 201
    assert answer.json() == {"id": 1, "name": "Rex"}
    # A relative Location is made absolute against the mock's base, as Microcks does.
    assert answer.headers["location"] == "http://testserver/rest/Pets/1/pets/1"


def test_operation_delay_from_api_metadata_is_applied_without_changing_the_answer(pastry):
    pastry.upload(pastry_metadata(), "pastry-metadata.yaml", main=False)

    answer = pastry.get(f"{BASE}/pastry/Millefeuille", headers={"x-microcks-delay": "1"})

    assert answer.status_code == 200


def test_head_request_is_not_served_by_a_get_operation(pastry):
    # Microcks matches operations on the exact verb: HEAD finds no GET operation.
    answer = pastry.request("HEAD", f"{BASE}/health")

    assert (answer.status_code, answer.content) == (404, b"")


def test_service_created_from_examples_only_breaks_its_mocks_like_microcks():
    # Operations from an APIExamples main upload have no method: Microcks' lookup throws.
    client = open_client()
    client.upload(pastry_examples(), "pastry-examples.yaml", main=True)

    answer = client.get(f"{BASE}/pastry/Croissant")

    assert answer.status_code == 500
    assert json.loads(answer.text)["status"] == 500


def test_unknown_service_text_shows_the_name_as_given_with_plus(pastry):
    answer = pastry.get("/rest/No+Such/1/x")

    assert answer.text == "The service No+Such with version 1 does not exist!"


def test_dispatcher_the_server_cannot_evaluate_answers_the_null_criteria_400(pastry):
    # SCRIPT (Groovy) is not run here: no criteria, like a Microcks script that returns nothing.
    metadata = pastry_metadata().replace("dispatcher: FALLBACK", "dispatcher: SCRIPT")
    pastry.upload(metadata, "pastry-metadata.yaml", main=False)

    answer = pastry.get(f"{BASE}/pastry/Millefeuille")

    assert (answer.status_code, answer.text) == (400, "The response null does not exist!")


def test_operation_whose_examples_have_no_criteria_serves_them_whatever_the_dispatcher():
    client = open_client()
    document = pastry_openapi().replace(
        "  /health:\n    get:\n",
        "  /health:\n    get:\n      x-microcks-operation:\n        dispatcher: SCRIPT\n"
        "        dispatcherRules: 'return \"up\"'\n",
    )
    client.upload(document, "pastry.yaml")

    answer = client.get(f"{BASE}/health")

    assert (answer.status_code, answer.text) == (200, "UP")


def test_non_numeric_delay_parameter_answers_400(pastry):
    answer = pastry.get(f"{BASE}/health", params={"delay": "soon"})

    assert answer.status_code == 400


def test_malformed_query_escape_on_a_params_dispatcher_answers_500(pastry):
    answer = pastry.get(f"{BASE}/pastry?size=%ZZ")

    assert answer.status_code == 500
    assert pastry.get(f"{BASE}/pastry", params={"size": "S"}).status_code == 200
