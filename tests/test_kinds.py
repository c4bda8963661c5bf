"""Each API kind on Microcks' own sample files (tests/samples/, see its README): detected as
Microcks' MockRepositoryImporterFactory detects it, stamped where Microcks' importer reads the
name and version (the stamped file still detected as the same kind), the facts an upload yields
(service type, default dispatchers), and a clear error for every file Microcks would misdetect.
The stamped files are then imported by the local Microcks-compatible server (an independent
implementation) to show Microcks would take the identity."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from microcks_fixtures import IN_PROCESS_URL, in_process

from microcks_pipeline import kinds
from microcks_pipeline.core.errors import ConfigError
from microcks_pipeline.kinds.asyncapi import kafka_topic, ws_path
from microcks_pipeline.microcks import MicrocksClient
from microcks_pipeline.microcks.client import default_grpc_endpoint, default_ws_endpoint

SAMPLES = Path(__file__).parent / "samples"
NAME, VERSION = "orders-api", "bk-0123456789abcdef-default"


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


@pytest.mark.parametrize(
    ("file", "kind", "service_type"),
    [
        ("films.graphql", "graphql", "GRAPHQL"),
        ("hello-v1.proto", "grpc", "GRPC"),
        ("UserSignedUpAPI-asyncapi-ws.yml", "asyncapi", "EVENT"),
        ("user-signedup-asyncapi-ws.yaml", "asyncapi", "EVENT"),
        ("BeerCatalogAPI-collection.json", "postman", "REST"),
        ("HelloService.postman.json", "postman", "REST"),
        ("HelloService-to-set-proxy-soapui-project.xml", "soapui", "SOAP_HTTP"),
        ("api-pastries-0.0.1.har", "har", "REST"),
    ],
)
def test_each_sample_is_detected_read_and_stamped_as_microcks_would(
    file: str, kind: str, service_type: str
) -> None:
    content = sample(file)
    assert kinds.detect(content).name == kind

    parsed = kinds.read_main(content)
    stamped = kinds.stamp_main(parsed, NAME, VERSION)

    assert kinds.detect(stamped).name == kind  # the deciding line is where Microcks looks
    assert kinds.facts(parsed).service_type == service_type


def test_openapi_title_and_version_are_stamped_with_the_version_key_first() -> None:
    source = b"info:\n  title: x\n  description: 'swagger: no'\n  version: '1'\nopenapi: 3.1.0\n"
    assert kinds.detect(source).name == "swagger"  # as written, Microcks would misread it

    out = kinds.stamp_main(kinds.read_main(source), NAME, VERSION)

    assert out.startswith(b"openapi: 3.1.0\n") and kinds.detect(out).name == "openapi"
    assert yaml.safe_load(out)["info"]["title"] == NAME


def test_asyncapi_title_and_version_are_stamped_in_the_input_format() -> None:
    parsed = kinds.read_main(sample("UserSignedUpAPI-asyncapi-ws.yml"))

    doc = yaml.safe_load(kinds.stamp_main(parsed, NAME, VERSION))

    assert (doc["info"]["title"], doc["info"]["version"]) == (NAME, VERSION)
    assert kinds.facts(parsed).dispatchers == {"RECEIVE consumeUserSignedUp": (None, None)}
    v2 = kinds.facts(kinds.read_main(sample("user-signedup-asyncapi-ws.yaml")))
    assert v2.dispatchers == {"SUBSCRIBE user/signedup": (None, None)}


def test_asyncapi_destinations_follow_microcks_producers() -> None:
    assert kafka_topic("User signed-up API", "0.1.1", "SUBSCRIBE user/signedup") == (
        "UsersignedupAPI-0.1.1-user-signedup"
    )
    assert ws_path("User signed-up API", "0.1.1", "SUBSCRIBE user/signedup") == (
        "/api/ws/User+signed-up+API/0.1.1/user/signedup"
    )


def test_graphql_identity_is_a_leading_microcks_id_comment_replacing_any_other() -> None:
    parsed = kinds.read_main(sample("films.graphql"))

    out = kinds.stamp_main(parsed, NAME, VERSION).decode()

    assert out.splitlines()[0] == f"# microcksId: {NAME}:{VERSION}"
    assert out.count("microcksId:") == 1  # the sample's own `Movie Graph API : 1.0` is gone
    assert kinds.facts(parsed).dispatchers == {
        "allFilms": (None, None),
        "film": ("QUERY_ARGS", "id"),
        "addStar": ("QUERY_ARGS", "filmId"),
        "addReview": (None, None),
    }


def test_grpc_identity_comes_from_the_proto_and_nothing_is_rewritten() -> None:
    content = sample("hello-v1.proto")
    parsed = kinds.read_main(content)

    assert kinds.stamp_main(parsed, NAME, VERSION) == content
    assert parsed.kind.fixed_identity(parsed) == (
        "io.github.microcks.grpc.hello.v1.HelloService",
        "v1",
    )
    assert kinds.facts(parsed).dispatchers == {"greeting": ("QUERY_ARGS", "firstname && lastname")}


@pytest.mark.parametrize(
    ("package", "version"),
    [("hello", "hello"), ("com.acme", "com.acme"), ("org.acme.orders.v2", "v2")],
)
def test_grpc_version_is_derived_from_the_package_as_microcks_does(
    package: str, version: str
) -> None:
    proto = f'syntax = "proto3";\npackage {package};\nmessage R {{ string id = 1; }}\n'
    proto += "service S { rpc Get(R) returns (R); }\n"

    parsed = kinds.read_main(proto.encode())

    assert parsed.kind.fixed_identity(parsed) == (f"{package}.S", version)


def test_grpc_messages_not_all_scalar_have_no_dispatcher() -> None:
    proto = b"""syntax = "proto3";
package a.b.v1;
// a comment with { braces }
message Inner { string x = 1; }
enum Colour { RED = 0; }
message Req { string id = 1; Colour colour = 2; repeated string tags = 3; }
message Deep { Inner inner = 1; }
message Blob { bytes data = 1; }
service S {
  rpc ByArgs(Req) returns (Inner);
  rpc ByDeep(Deep) returns (Inner);
  rpc ByBlob(Blob) returns (Inner);
}
"""
    facts = kinds.facts(kinds.read_main(proto))

    assert facts.dispatchers == {
        "ByArgs": ("QUERY_ARGS", "id && colour && tags"),
        "ByDeep": (None, None),
        "ByBlob": (None, None),
    }


def test_postman_name_and_version_are_stamped_with_the_postman_id_line_early() -> None:
    parsed = kinds.read_main(sample("BeerCatalogAPI-collection.json"))

    out = kinds.stamp_main(parsed, NAME, VERSION)

    info = json.loads(out)["info"]
    assert (info["name"], info["version"]) == (NAME, VERSION)
    assert out.decode().splitlines()[2].strip().startswith('"_postman_id":')


def test_soapui_mock_service_name_and_version_property_are_stamped() -> None:
    parsed = kinds.read_main(sample("HelloService-to-set-proxy-soapui-project.xml"))

    out = kinds.stamp_main(parsed, NAME, VERSION)

    assert out.startswith(b"<?xml")
    con = "{http://eviware.com/soapui/config}"
    service = ET.fromstring(out).find(con + "mockService")
    assert service is not None and service.get("name") == NAME
    values = {
        p.findtext(con + "name"): p.findtext(con + "value") for p in service.iter(con + "property")
    }
    assert values["version"] == VERSION
    assert kinds.facts(parsed).dispatchers is not None
    assert kinds.facts(parsed).dispatchers["sayHello"][0] == "QUERY_MATCH"


def test_har_identity_is_the_microcks_id_line_of_its_comment() -> None:
    parsed = kinds.read_main(sample("api-pastries-0.0.1.har"))

    comment = json.loads(kinds.stamp_main(parsed, NAME, VERSION))["log"]["comment"]

    assert comment.splitlines()[0] == f"microcksId: {NAME}:{VERSION}"
    assert "microcksId: pastries" not in comment


def test_examples_and_metadata_are_secondaries_stamped_as_yaml() -> None:
    parsed = kinds.read_secondary(b'{"kind": "APIExamples", "operations": {}}')

    assert parsed is not None
    out = kinds.stamp_secondary(parsed, NAME, VERSION)
    assert out is not None and out.startswith(b"kind: APIExamples\n")
    with pytest.raises(ConfigError, match="secondary artifact, not a main artifact"):
        kinds.read_main(b"kind: APIMetadata\nmetadata: {name: x, version: y}\n")


# ---- what Microcks would misdetect: a clear error, not an upload that fails later ---------------


def _minified(name: str) -> bytes:
    return json.dumps(json.loads(sample(name)), separators=(",", ":")).encode()


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (_minified("BeerCatalogAPI-collection.json"), '`"_postman_id":`'),
        (
            b'syntax = "proto2";\npackage a.b;\nmessage M { optional string x = 1; }\n',
            'syntax = "proto2"',
        ),
        (b"syntax = 'proto3';\npackage a.b;\n", "proto3"),
        (b'edition = "2023";\npackage a.b;\n', 'edition = "2023"'),
        (sample("HelloService.wsdl"), "a bare WSDL"),
        (b"type Query{\n  hello: String\n}\n", "GraphQL schema Microcks cannot detect"),
        (b"just: a mapping\n", "not a kind Microcks recognises"),
        (b'{"log": {"version": "1.0", "entries": []}}', "HAR version is not supported"),
        (b'syntax = "proto3";\nmessage M { string x = 1; }\n', "declares no package"),
        (
            b'syntax = "proto3";\npackage a.b.v1;\nservice A {}\nservice B {}\n',
            "exactly one service (found: A, B)",
        ),
        (b"<?xml version='1.0'?><a/>", "is not a SoapUI project"),
    ],
)
def test_a_file_microcks_would_misdetect_is_refused_naming_the_problem(
    content: bytes, problem: str
) -> None:
    with pytest.raises(ConfigError) as err:
        kinds.read_main(content)

    assert problem in str(err.value)


def test_a_stamp_that_microcks_would_misdetect_is_refused() -> None:
    parsed = kinds.read_main(sample("films.graphql"))

    with pytest.raises(ConfigError, match="would read this GraphQL schema as a Swagger 2.0"):
        kinds.stamp_main(parsed, "petswagger", VERSION)  # `…swagger:…` matches Swagger's rule


# ---- the stamped files through an independent importer --------------------------------------


@pytest.mark.parametrize(
    "file",
    [
        "films.graphql",
        "UserSignedUpAPI-asyncapi-ws.yml",
        "user-signedup-asyncapi-ws.yaml",
        "BeerCatalogAPI-collection.json",
        "HelloService-to-set-proxy-soapui-project.xml",
    ],
)
def test_the_local_server_imports_a_stamped_file_under_the_stamped_identity(file: str) -> None:
    parsed = kinds.read_main(sample(file))
    m = in_process()

    imported = m.client.upload(file, kinds.stamp_main(parsed, NAME, VERSION), main=True)

    assert imported == f"{NAME}:{VERSION}"
    view = m.client.read_service(NAME, VERSION)
    assert view is not None
    assert view["service"]["type"] == kinds.facts(parsed).service_type


# ---- where mocks answer ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "grpc"),
    [
        ("http://localhost:8080", "localhost:9090"),
        ("https://microcks.acme.org", "microcks-grpc.acme.org:443"),
        ("https://microcks-prod.acme.org:8443", "microcks-grpc-prod.acme.org:8443"),
        ("http://mocks", "mocks-grpc:80"),
    ],
)
def test_the_grpc_endpoint_defaults_as_microcks_ui_derives_it(base: str, grpc: str) -> None:
    assert default_grpc_endpoint(base) == grpc


def test_the_websocket_endpoint_is_the_one_microcks_advertises_else_its_default() -> None:
    m = in_process()

    advertised = m.client.endpoints(ws=True).ws
    calls = m.client.calls
    again = m.client.endpoints(ws=True).ws

    assert advertised == IN_PROCESS_URL.split("://", 1)[1]  # endpoint-WS of /api/features/config
    assert again == advertised and m.client.calls == calls  # read once per client
    assert default_ws_endpoint("https://microcks.acme.org") == "microcks.acme.org:8081"
    configured = MicrocksClient(IN_PROCESS_URL, ws_endpoint="ws.acme.org:443", grpc_endpoint="g:1")
    assert (configured.endpoints(ws=True).ws, configured.endpoints().grpc) == (
        "ws.acme.org:443",
        "g:1",
    )
    assert configured.calls == 0


@pytest.mark.parametrize(
    ("service_type", "described"),
    [
        ("REST", "/rest/orders-api/v1"),
        ("SOAP_HTTP", "POST /soap/orders-api/v1"),
        ("GRAPHQL", "POST /graphql/orders-api/v1"),
        ("GRPC", "gRPC orders-api/<method> (version v1, named by the proto)"),
        ("EVENT", "WebSocket /api/ws/orders-api/v1/<operation>"),
    ],
)
def test_each_service_type_says_where_its_mock_answers(service_type: str, described: str) -> None:
    assert kinds.serving(service_type).describe("orders-api", "v1") == described
