"""Artifact type detection on the local Microcks server, as MockRepositoryImporterFactory does it:
line-based content rules, first match wins, HAR as the default, including the files Microcks
misdetects or refuses."""

from __future__ import annotations

import json

import pytest
from localserver_fixtures import open_client, sample

JACKSON_SYNTAX = (
    "Unrecognized token 'syntax': was expecting (JSON String, Number, Array, Object "
    "or token 'null', 'true' or 'false')"
)
PROTO = (
    'syntax = "proto3";\npackage acme.shop.v1;\n'
    "message A { string a = 1; }\nservice S { rpc Do(A) returns (A); }\n"
)


@pytest.mark.parametrize(
    "syntax_line",
    ['syntax = "proto2";', "syntax = 'proto3';", 'syntax  =  "proto3";', 'edition = "2023";'],
)
def test_protos_microcks_does_not_recognise_fall_to_har_and_fail_parsing(syntax_line):
    client = open_client()
    proto = PROTO.replace('syntax = "proto3";', syntax_line)

    answer = client.upload(proto, "s.proto")

    assert answer.status_code == 400
    assert answer.text == JACKSON_SYNTAX.replace("syntax", syntax_line.split()[0])
    assert client.get("/api/services/count").json() == {"counter": 0}


@pytest.mark.parametrize("syntax_line", ['syntax = "proto3";', 'syntax="proto3";'])
def test_both_proto3_spellings_microcks_knows_are_imported(syntax_line):
    client = open_client()

    answer = client.upload(PROTO.replace('syntax = "proto3";', syntax_line), "s.proto")

    assert (answer.status_code, answer.text) == (201, "acme.shop.v1.S:v1")


def test_bare_wsdl_goes_to_the_soapui_importer_and_imports_nothing():
    client = open_client()

    answer = client.upload(sample("HelloService.wsdl"), "HelloService.wsdl")

    # An XML without mock services parses, yields no service: 204, as Microcks answers.
    assert (answer.status_code, answer.content) == (204, b"")
    assert client.get("/api/services/count").json() == {"counter": 0}


def test_unparseable_xml_is_a_soapui_parsing_error():
    client = open_client()

    answer = client.upload('<?xml version="1.0"?>\n<soapui-project>\n', "p.xml")

    assert (answer.status_code, answer.text) == (400, "SoapUI project file parsing error")


def test_a_swagger_line_before_the_openapi_line_makes_it_swagger_without_examples():
    client = open_client()
    document = """---
info:
  description: 'swagger: was our old format'
  title: Loose
  version: '1'
openapi: 3.0.0
paths:
  /a:
    get:
      responses:
        '200':
          description: ok
          content:
            application/json:
              examples:
                one: {value: {a: 1}}
"""

    answer = client.upload(document, "loose.yaml")
    view = client.get("/api/services/Loose:1").json()

    assert (answer.status_code, answer.text) == (201, "Loose:1")
    assert view["service"]["type"] == "REST"
    assert view["messagesMap"] == {"GET /a": []}  # SwaggerImporter yields no examples


@pytest.mark.parametrize(
    "schema",
    [
        "type Query{\n  a: String\n}\n",  # no space before `{`
        "schema { query: Root }\ntype Root {\n  a: String\n}\n",
    ],
)
def test_graphql_without_microcks_markers_is_not_recognised(schema):
    client = open_client()

    answer = client.upload(schema, "s.graphql")

    assert answer.status_code == 400
    assert answer.text.startswith("Unrecognized token ")


def test_json_api_examples_are_not_recognised_since_the_rule_wants_yaml_kind():
    client = open_client()
    document = json.dumps({"kind": "APIExamples", "metadata": {"name": "A", "version": "1"}})

    answer = client.upload(document, "examples.json")

    assert (answer.status_code, answer.text) == (
        400,
        "HAR version is not supported. Currently supporting: [1.1, 1.2]",
    )


def test_minified_asyncapi_json_is_recognised_since_its_rule_matches_anywhere_in_a_line():
    client = open_client()
    document = json.dumps(
        {
            "asyncapi": "2.6.0",
            "info": {"title": "Mini", "version": "1"},
            "channels": {"c": {"subscribe": {"message": {"payload": {"type": "string"}}}}},
        }
    )

    answer = client.upload(document, "mini.json")
    service = client.get("/api/services/Mini:1").json()["service"]

    assert (answer.status_code, service["type"]) == (201, "EVENT")
    assert [op["name"] for op in service["operations"]] == ["SUBSCRIBE c"]
