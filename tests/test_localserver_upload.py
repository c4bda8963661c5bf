"""Specification of POST /api/artifact/upload on the local server, as Microcks behaves (NOTES §1, §2, §7)."""

from __future__ import annotations

import json

import pytest
from localserver_fixtures import (
    PASTRY_NAME,
    PASTRY_VERSION,
    UPLOAD,
    assert_schema,
    open_client,
    pastry_examples,
    pastry_metadata,
    pastry_openapi,
    schema_errors,
    swagger_doc,
)

PASTRY_ID = f"{PASTRY_NAME}:{PASTRY_VERSION}"


def _service(client, key: str = PASTRY_ID) -> dict:
    answer = client.get(f"/api/services/{key}")
    assert answer.status_code == 200, answer.text
    return answer.json()


def _operation(view: dict, name: str) -> dict:
    return next(op for op in view["service"]["operations"] if op["name"] == name)


def _example_names(view: dict, operation: str) -> list[str]:
    return sorted(pair["response"]["name"] for pair in view["messagesMap"][operation])


# --- main artifacts ---------------------------------------------------------------------------


def test_openapi_upload_answers_201_with_name_and_version_as_plain_text():
    client = open_client()

    answer = client.upload(pastry_openapi(), "pastry.yaml")

    assert answer.status_code == 201
    assert answer.text == PASTRY_ID
    assert answer.headers["content-type"].startswith("text/plain")


def test_openapi_upload_creates_a_rest_service_with_operations_and_source_artifact():
    client = open_client()

    client.upload(pastry_openapi(), "pastry.yaml")

    view = _service(client)
    service = view["service"]
    assert (service["name"], service["version"], service["type"]) == (
        PASTRY_NAME,
        PASTRY_VERSION,
        "REST",
    )
    assert service["sourceArtifact"] == "pastry.yaml"
    assert [op["name"] for op in service["operations"]] == [
        "GET /pastry",
        "GET /pastry/{name}",
        "GET /health",
    ]
    assert service["metadata"]["labels"] == {"domain": "pastry"}  # from info.x-microcks
    assert_schema(view, "ServiceView")


def test_default_dispatchers_follow_query_and_path_parameters():
    client = open_client()
    document = pastry_openapi().replace(
        "paths:\n",
        """paths:
  /orders/{id}:
    get:
      parameters:
        - {name: id, in: path, required: true, schema: {type: string}}
        - {name: expand, in: query, schema: {type: string}}
      responses: {'200': {description: ok}}
""",
    )

    client.upload(document, "pastry.yaml")

    view = _service(client)
    dispatchers = {
        op["name"]: (op.get("dispatcher"), op.get("dispatcherRules"))
        for op in view["service"]["operations"]
    }
    assert dispatchers["GET /pastry"] == ("URI_PARAMS", "size")
    assert dispatchers["GET /pastry/{name}"] == ("URI_PARTS", "name")
    assert dispatchers["GET /orders/{id}"] == ("URI_ELEMENTS", "id ?? expand")
    assert dispatchers["GET /health"] == (None, None)


def test_inline_examples_become_messages_with_microcks_dispatch_criteria():
    client = open_client()

    client.upload(pastry_openapi(), "pastry.yaml")

    view = _service(client)
    by_name = {p["response"]["name"]: p for p in view["messagesMap"]["GET /pastry/{name}"]}
    assert by_name["Eclair Chocolat"]["response"]["dispatchCriteria"] == "/name=Eclair Chocolat"
    assert json.loads(by_name["Eclair Chocolat"]["response"]["content"]) == {
        "name": "Eclair Chocolat",
        "price": 2.5,
    }
    assert by_name["Eclair Chocolat"]["request"]["queryParameters"] == [
        {"name": "name", "value": "Eclair Chocolat"}
    ]
    list_pairs = view["messagesMap"]["GET /pastry"]
    assert sorted(p["response"]["dispatchCriteria"] for p in list_pairs) == ["?size=L", "?size=S"]
    assert by_name["Unknown"]["response"]["status"] == "404"
    assert by_name["Unknown"]["response"]["fault"] is True
    # `Gone` has no path parameter example: a URI_PARTS operation drops it, as Microcks does.
    assert "Gone" not in by_name
    # Resource paths are completed from the examples' path values (encoded like Spring's encodePath).
    assert set(_operation(view, "GET /pastry/{name}")["resourcePaths"]) == {
        "/pastry/Eclair%20Chocolat",
        "/pastry/Millefeuille",
        "/pastry/Unknown",
    }


def test_main_reupload_keeps_the_id_and_replaces_operations_and_examples():
    client = open_client()
    client.upload(pastry_openapi(), "pastry.yaml")
    before = _service(client)

    answer = client.upload(pastry_openapi(eclair_price=9.9, extra_operation=True), "pastry.yaml")

    after = _service(client)
    assert answer.status_code == 201
    assert after["service"]["id"] == before["service"]["id"]
    assert after["service"]["metadata"]["createdOn"] == before["service"]["metadata"]["createdOn"]
    assert "GET /pastry/{name}/reviews" in [op["name"] for op in after["service"]["operations"]]
    eclair = next(
        p
        for p in after["messagesMap"]["GET /pastry/{name}"]
        if p["response"]["name"] == "Eclair Chocolat"
    )
    assert json.loads(eclair["response"]["content"])["price"] == 9.9
    assert client.get("/api/services/count").json() == {"counter": 1}


def test_swagger_2_is_imported_with_name_version_and_operations_but_no_examples():
    client = open_client()

    answer = client.upload(swagger_doc(), "legacy.yaml")

    assert (answer.status_code, answer.text) == (201, "Legacy API:1.1")
    view = _service(client, "Legacy API:1.1")
    operations = {op["name"]: op for op in view["service"]["operations"]}
    assert operations["GET /items/{id}"]["dispatcher"] == "URI_PARTS"
    assert operations["GET /items"]["dispatcher"] == "URI_PARAMS"
    assert view["messagesMap"] == {"GET /items/{id}": [], "GET /items": []}


def test_json_openapi_is_sniffed_from_content_not_from_the_file_name():
    client = open_client()
    document = {
        "openapi": "3.0.0",
        "info": {"title": "Json API", "version": "3"},
        "paths": {"/ping": {"get": {"responses": {"200": {"description": "ok"}}}}},
    }

    answer = client.upload(json.dumps(document, indent=2), "artifact.bin")

    assert (answer.status_code, answer.text) == (201, "Json API:3")


def test_main_artifact_defaults_to_true_when_the_parameter_is_absent():
    client = open_client()

    answer = client.upload(pastry_openapi(), "pastry.yaml", main=None)

    assert answer.status_code == 201
    assert client.get("/api/services/count").json() == {"counter": 1}


def test_main_artifact_flag_is_also_read_from_a_form_field_like_spring():
    client = open_client()

    answer = client.post(
        UPLOAD,
        files={"file": ("examples.yaml", pastry_examples().encode())},
        data={"mainArtifact": "false"},
    )

    assert answer.status_code == 201
    assert client.get("/api/services/count").json() == {"counter": 0}  # secondary: skipped


# --- secondary artifacts ------------------------------------------------------------------------


def test_secondary_for_a_missing_service_is_skipped_but_still_answers_201():
    client = open_client()

    answer = client.upload(pastry_examples(), "pastry-examples.yaml", main=False)

    assert (answer.status_code, answer.text) == (201, PASTRY_ID)  # the Microcks quirk
    assert client.get("/api/services/count").json() == {"counter": 0}
    assert client.get(f"/api/services/{PASTRY_ID}").status_code == 404


def test_api_examples_secondary_adds_examples_to_an_existing_operation():
    client = open_client()
    client.upload(pastry_openapi(), "pastry.yaml")

    answer = client.upload(pastry_examples(), "pastry-examples.yaml", main=False)

    view = _service(client)
    assert answer.status_code == 201
    assert _example_names(view, "GET /pastry/{name}") == [
        "Croissant",
        "Eclair Chocolat",
        "Millefeuille",
        "Unknown",
    ]
    croissant = next(
        p for p in view["messagesMap"]["GET /pastry/{name}"] if p["response"]["name"] == "Croissant"
    )
    assert croissant["response"]["sourceArtifact"] == "pastry-examples.yaml"
    assert croissant["response"]["dispatchCriteria"] == "/name=Croissant"
    assert view["service"]["sourceArtifact"] == "pastry.yaml"  # a secondary does not change it
    assert_schema(view, "ServiceView")


def test_examples_are_replaced_per_file_name_and_accumulate_across_names():
    client = open_client()
    client.upload(pastry_openapi(), "pastry.yaml")
    client.upload(pastry_examples(example="Croissant"), "a.yaml", main=False)

    client.upload(pastry_examples(example="Brioche"), "a.yaml", main=False)  # same name: replaces
    client.upload(pastry_examples(example="Financier"), "b.yaml", main=False)  # new name: adds

    names = _example_names(_service(client), "GET /pastry/{name}")
    assert "Croissant" not in names
    assert {"Brioche", "Financier"} <= set(names)


def test_main_reupload_keeps_examples_of_secondary_artifacts():
    client = open_client()
    client.upload(pastry_openapi(), "pastry.yaml")
    client.upload(pastry_examples(), "pastry-examples.yaml", main=False)

    client.upload(pastry_openapi(eclair_price=3.0), "pastry.yaml")

    assert "Croissant" in _example_names(_service(client), "GET /pastry/{name}")


def test_api_metadata_sets_dispatcher_delay_and_labels():
    client = open_client()
    client.upload(pastry_openapi(), "pastry.yaml")

    answer = client.upload(pastry_metadata(), "pastry-metadata.yaml", main=False)

    view = _service(client)
    operation = _operation(view, "GET /pastry/{name}")
    assert answer.status_code == 201
    assert operation["dispatcher"] == "FALLBACK"
    assert json.loads(operation["dispatcherRules"])["fallback"] == "Unknown"
    assert operation["defaultDelay"] == 5
    assert view["service"]["metadata"]["labels"] == {"domain": "bakery"}


def test_main_reupload_loses_the_dispatcher_set_by_api_metadata():
    client = open_client()
    client.upload(pastry_openapi(), "pastry.yaml")
    client.upload(pastry_metadata(), "pastry-metadata.yaml", main=False)

    client.upload(pastry_openapi(), "pastry.yaml")

    operation = _operation(_service(client), "GET /pastry/{name}")
    assert operation["dispatcher"] == "URI_PARTS"
    assert "defaultDelay" not in operation


def test_api_metadata_for_an_unknown_operation_changes_nothing_else():
    client = open_client()
    client.upload(pastry_openapi(), "pastry.yaml")
    before = _service(client)["service"]["operations"]
    metadata = pastry_metadata().replace("'GET /pastry/{name}'", "'GET /nowhere'")

    answer = client.upload(metadata, "pastry-metadata.yaml", main=False)

    assert answer.status_code == 201
    assert _service(client)["service"]["operations"] == before


def test_api_examples_uploaded_as_main_overwrites_the_service_with_bare_operations():
    client = open_client()
    client.upload(pastry_openapi(), "pastry.yaml")
    service_id = _service(client)["service"]["id"]

    answer = client.upload(pastry_examples(), "pastry-examples.yaml", main=True)  # the PITFALL

    view = _service(client)
    assert answer.status_code == 201
    assert view["service"]["id"] == service_id
    assert view["service"]["sourceArtifact"] == "pastry-examples.yaml"
    assert [op["name"] for op in view["service"]["operations"]] == ["GET /pastry/{name}"]
    assert "method" not in view["service"]["operations"][0]
    assert "type" not in view["service"]  # Microcks writes no type: the Java wins over its spec
    assert any(
        "'type' is a required property" in e for e in schema_errors(view["service"], "Service")
    )


def test_api_metadata_uploaded_as_main_creates_a_service_without_type_or_methods():
    client = open_client()

    answer = client.upload(pastry_metadata(), "pastry-metadata.yaml")

    service = _service(client, PASTRY_ID)["service"]
    assert answer.status_code == 201
    assert service["operations"][0]["dispatcher"] == "FALLBACK"
    assert "method" not in service["operations"][0]


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("openapi: 3.0.0\ninfo: [unclosed\n", "JSON spec file parsing error"),
        ('{\n"openapi": "3.0.0", "info": \n', "JSON spec file parsing error"),
        ("kind: APIExamples\nmetadata: [oops\n", "APIMetadata spec file parsing error"),
        (
            "kind: APIMetadata\noperations: {}\n",
            "Mandatory metadata property is missing in APIMetadata",
        ),
        (
            "kind: APIExamples\noperations: {}\n",
            "Mandatory metadata property is missing in APIMetadata",
        ),
        (
            '{"log": {"version": "0.9"}}',
            "HAR version is not supported. Currently supporting: [1.1, 1.2]",
        ),
    ],
)
def test_invalid_artifacts_answer_400_with_microcks_text_and_store_nothing(content, message):
    client = open_client()
    client.upload(pastry_openapi(), "pastry.yaml")
    before = client.get("/api/services").json()

    answer = client.upload(content, "bad.yaml")

    assert answer.status_code == 400
    assert answer.text == message
    assert answer.headers["content-type"].startswith("text/plain")
    assert client.get("/api/services").json() == before


def test_yaml_without_a_recognisable_yaml_marker_fails_as_in_microcks():
    # Microcks decides YAML vs JSON from `---`, `-` or `openapi: ` lines; none here.
    client = open_client()
    document = 'swagger: "2.0"\ninfo:\n  title: T\n  version: "1"\npaths: {}\n'

    answer = client.upload(document, "swagger.yaml")

    assert (answer.status_code, answer.text) == (400, "JSON spec file parsing error")


def test_invalid_utf8_answers_400_with_the_java_decoder_message():
    client = open_client()

    answer = client.upload(b"openapi: 3.0.0\ninfo: \xff\xfe\n", "bad.yaml")

    assert (answer.status_code, answer.text) == (400, "Input length = 1")


def test_soapui_project_without_mock_services_imports_nothing_and_answers_204():
    client = open_client()

    answer = client.upload('<?xml version="1.0"?>\n<soapui-project/>', "project.xml")

    assert (answer.status_code, answer.content) == (204, b"")
    assert client.get("/api/services/count").json() == {"counter": 0}


def test_empty_file_answers_204_and_stores_nothing():
    client = open_client()

    answer = client.upload(b"", "empty.yaml")

    assert answer.status_code == 204
    assert answer.content == b""
    assert client.get("/api/services/count").json() == {"counter": 0}


def test_missing_file_part_answers_400_like_spring():
    client = open_client()

    answer = client.post(UPLOAD, files={"other": ("x.yaml", b"openapi: 3.0.0")})

    assert answer.status_code == 400
    assert answer.json()["status"] == 400


def test_non_multipart_request_is_refused_without_importing():
    client = open_client()

    answer = client.post(
        UPLOAD, content=pastry_openapi().encode(), headers={"Content-Type": "text/yaml"}
    )

    assert answer.status_code == 500  # Spring's unhandled MultipartException
    assert client.get("/api/services/count").json() == {"counter": 0}


def test_invalid_main_artifact_flag_answers_400():
    client = open_client()

    answer = client.post(
        UPLOAD,
        files={"file": ("p.yaml", pastry_openapi().encode())},
        params={"mainArtifact": "maybe"},
    )

    assert answer.status_code == 400
    assert client.get("/api/services/count").json() == {"counter": 0}


def test_file_over_the_size_limit_answers_413_and_stores_nothing():
    client = open_client(max_upload_bytes=1024)
    document = pastry_openapi() + "\n# " + "x" * 2048 + "\n"

    answer = client.upload(document, "big.yaml")

    assert answer.status_code == 413  # Spring 6.1+: MaxUploadSizeExceededException
    assert answer.json()["error"] == "Content Too Large"
    assert client.get("/api/services/count").json() == {"counter": 0}


def test_file_at_the_size_limit_is_accepted():
    document = pastry_openapi()
    client = open_client(max_upload_bytes=len(document.encode()))

    answer = client.upload(document, "exact.yaml")

    assert answer.status_code == 201


def test_yaml_alias_bomb_is_refused_like_snakeyaml_and_stores_nothing():
    client = open_client()
    lines = ["openapi: 3.0.0", "info: {title: Bomb, version: '1'}", "a0: &a0 [x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}]" for i in range(1, 40)]

    answer = client.upload("\n".join(lines) + "\n", "bomb.yaml")

    assert (answer.status_code, answer.text) == (400, "JSON spec file parsing error")
    assert client.get("/api/services/count").json() == {"counter": 0}


def test_x_microcks_operation_sets_dispatcher_delay_and_constraints_at_import():
    client = open_client()
    document = pastry_openapi().replace(
        "  /health:\n    get:\n",
        """  /health:
    get:
      x-microcks-operation:
        delay: 30
        dispatcher: QUERY_HEADER
        dispatcherRules: x-region
        parameterConstraints:
          - {name: x-region, in: header, required: true, recopy: true}
""",
    )

    client.upload(document, "pastry.yaml")

    operation = _operation(_service(client), "GET /health")
    assert (operation["dispatcher"], operation["dispatcherRules"]) == ("QUERY_HEADER", "x-region")
    assert operation["defaultDelay"] == 30
    assert operation["resourcePaths"] == ["/health"]
    assert operation["parameterConstraints"] == [
        {"name": "x-region", "in": "header", "required": True, "recopy": True}
    ]


def test_x_microcks_operation_with_an_unknown_parameter_location_fails_the_import():
    client = open_client()
    document = pastry_openapi().replace(
        "  /health:\n    get:\n",
        """  /health:
    get:
      x-microcks-operation:
        parameterConstraints:
          - {name: x, in: somewhere}
""",
    )

    answer = client.upload(document, "pastry.yaml")

    assert answer.status_code == 500  # Java: ParameterLocation.valueOf throws
    assert client.get("/api/services/count").json() == {"counter": 0}


def test_singular_example_fields_are_ignored_as_by_microcks_openapi_importer():
    # Microcks reads only named `examples` (value/externalValue/$ref), never `example`.
    client = open_client()
    document = """openapi: 3.0.2
info: {title: Single, version: "1"}
paths:
  /thing:
    get:
      responses:
        '200':
          description: a thing
          content:
            application/json:
              example: {id: 1}
"""
    client.upload(document, "single.yaml")

    view = _service(client, "Single:1")
    mock = client.get("/rest/Single/1/thing")

    assert view["messagesMap"] == {"GET /thing": []}
    assert (mock.status_code, mock.content) == (400, b"")  # no response at all for the operation


def test_examples_given_by_reference_are_resolved_inside_the_document():
    client = open_client()
    document = """openapi: 3.0.2
info: {title: Refs, version: "1"}
paths:
  /thing:
    get:
      responses:
        '200':
          $ref: '#/components/responses/Thing'
components:
  responses:
    Thing:
      description: a thing
      content:
        application/json:
          examples:
            one: {$ref: '#/components/examples/One'}
  examples:
    One:
      value: {id: 1}
"""
    client.upload(document, "refs.yaml")

    answer = client.get("/rest/Refs/1/thing")

    assert answer.json() == {"id": 1}
