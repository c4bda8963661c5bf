"""gRPC APIs on the local Microcks server: a `.proto` main with Postman or APIExamples examples,
called with grpcio on the server's gRPC port (Microcks' ProtobufImporter, GrpcServerCallHandler
and GrpcInvocationProcessor)."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import httpx
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from localserver_fixtures import open_client, relaxed_schema_errors, sample

from microcks_pipeline.localserver import RunningServer, ServerConfig, running_server
from microcks_pipeline.localserver.importer_protobuf import compile_proto

HELLO = "io.github.microcks.grpc.hello.v1.HelloService"
METHOD = f"/{HELLO}/greeting"


def _message_classes() -> tuple[type, type]:
    """Client-side HelloRequest/HelloResponse built from the same proto (as generated code would)."""
    pool = descriptor_pool.DescriptorPool()
    for file in descriptor_pb2.FileDescriptorSet.FromString(
        compile_proto(sample("hello-v1.proto").decode())
    ).file:
        pool.Add(file)
    package = "io.github.microcks.grpc.hello.v1."
    return (
        message_factory.GetMessageClass(pool.FindMessageTypeByName(package + "HelloRequest")),
        message_factory.GetMessageClass(pool.FindMessageTypeByName(package + "HelloResponse")),
    )


HelloRequest, HelloResponse = _message_classes()


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with running_server(ServerConfig(auth_enabled=False, grpc_port=0)) as running:
        yield running


@pytest.fixture
def hello(server: RunningServer) -> Iterator[grpc.Channel]:
    server.app.state.store.clear()
    with httpx.Client(base_url=server.base_url) as http:
        main = http.post(
            "/api/artifact/upload", files={"file": ("hello-v1.proto", sample("hello-v1.proto"))}
        )
        assert (main.status_code, main.text) == (201, f"{HELLO}:v1")
        secondary = http.post(
            "/api/artifact/upload",
            params={"mainArtifact": "false"},
            files={"file": ("HelloService.postman.json", sample("HelloService.postman.json"))},
        )
        assert secondary.status_code == 201
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        yield channel


def _greet(channel: grpc.Channel, **fields: str) -> dict:
    call = channel.unary_unary(
        METHOD,
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=HelloResponse.FromString,
    )
    return json_format.MessageToDict(call(HelloRequest(**fields), timeout=5))


def test_unary_call_is_answered_with_the_example_its_fields_select(hello):
    assert _greet(hello, firstname="Laurent", lastname="Broudoux") == {
        "greeting": "Hello Laurent Broudoux !"
    }
    assert _greet(hello, firstname="John", lastname="Doe") == {"greeting": "Hello John Doe !"}


def test_unknown_fields_combination_falls_back_to_any_example_as_microcks_does(hello):
    # GrpcInvocationProcessor ends with "any response of the operation", whatever the dispatcher.
    assert _greet(hello, firstname="Nobody", lastname="Else")["greeting"].startswith("Hello ")


@pytest.mark.parametrize(
    ("method", "description"),
    [
        (
            "/io.github.microcks.grpc.hello.v2.HelloService/greeting",
            "No GRPC Service def found for io.github.microcks.grpc.hello.v2.HelloService/greeting",
        ),
        (
            f"/{HELLO}/farewell",
            f"No valid operation found for {HELLO}/farewell",
        ),
    ],
)
def test_unknown_service_version_or_method_is_unimplemented(hello, method, description):
    call = hello.unary_unary(method)

    with pytest.raises(grpc.RpcError) as caught:
        call(b"", timeout=5)

    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert caught.value.details() == description


def test_example_with_a_grpc_status_answers_that_error_and_http_codes_answer_ok(server, hello):
    examples = f"""apiVersion: mocks.microcks.io/v1alpha1
kind: APIExamples
metadata: {{name: {HELLO}, version: v1}}
operations:
  greeting:
    Denied:
      request:
        body: {{firstname: Denied, lastname: X}}
      response:
        status: 7
        body: 'not for you'
    Created:
      request:
        body: {{firstname: Created, lastname: X}}
      response:
        status: 201
        body: {{greeting: made}}
"""
    with httpx.Client(base_url=server.base_url) as http:
        answer = http.post(
            "/api/artifact/upload",
            params={"mainArtifact": "false"},
            files={"file": ("status-examples.yaml", examples.encode())},
        )
        assert answer.status_code == 201

    with pytest.raises(grpc.RpcError) as caught:
        _greet(hello, firstname="Denied", lastname="X")

    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert caught.value.details() == "not for you"
    assert _greet(hello, firstname="Created", lastname="X") == {"greeting": "made"}


def test_proto_gives_a_grpc_service_named_after_package_and_service(server, hello):
    with httpx.Client(base_url=server.base_url) as http:
        view = http.get(f"/api/services/{HELLO}:v1").json()

    service = view["service"]
    assert (service["type"], service["xmlNS"]) == ("GRPC", "io.github.microcks.grpc.hello.v1")
    [operation] = service["operations"]
    assert operation == {
        "name": "greeting",
        "inputName": ".io.github.microcks.grpc.hello.v1.HelloRequest",
        "outputName": ".io.github.microcks.grpc.hello.v1.HelloResponse",
        "dispatcher": "QUERY_ARGS",
        "dispatcherRules": "firstname && lastname",
    }
    criteria = sorted(p["response"]["dispatchCriteria"] for p in view["messagesMap"]["greeting"])
    assert criteria == ["?firstname=John?lastname=Doe", "?firstname=Laurent?lastname=Broudoux"]
    assert relaxed_schema_errors(view, "ServiceView") == []


def test_api_examples_give_grpc_examples_with_criteria_from_the_request_body():
    client = open_client()
    client.upload(sample("hello-v1.proto"), "hello-v1.proto")
    examples = f"""apiVersion: mocks.microcks.io/v1alpha1
kind: APIExamples
metadata: {{name: {HELLO}, version: v1}}
operations:
  greeting:
    Ada:
      request:
        body: {{firstname: Ada, lastname: Lovelace}}
      response:
        body: {{greeting: Hello Ada !}}
"""
    assert client.upload(examples, "hello-examples.yaml", main=False).status_code == 201

    pair = client.get(f"/api/services/{HELLO}:v1").json()["messagesMap"]["greeting"][0]

    assert pair["response"]["dispatchCriteria"] == "?firstname=Ada?lastname=Lovelace"
    assert pair["response"]["content"] == '{"greeting":"Hello Ada !"}'


@pytest.mark.parametrize(
    ("package", "version"),
    [("hello", "hello"), ("com.acme", "com.acme"), ("com.acme.billing.v2", "v2")],
)
def test_version_comes_from_the_package_only(package, version):
    client = open_client()
    proto = f'syntax = "proto3";\npackage {package};\nmessage A {{ string a = 1; }}\n'
    proto += "service S {\n  rpc Do(A) returns (A);\n}\n"

    answer = client.upload(proto, "s.proto")

    assert (answer.status_code, answer.text) == (201, f"{package}.S:{version}")


def test_a_proto_that_does_not_compile_is_refused_with_protoc_message():
    client = open_client()

    answer = client.upload('syntax = "proto3";\nmessage A { strin a = 1; }\n', "bad.proto")

    assert answer.status_code == 400
    assert answer.text.startswith("Protobuf schema file parsing error on ")
    assert '"strin" is not defined' in answer.text


@pytest.mark.parametrize("port", [-1, 70000])
def test_grpc_port_out_of_range_is_refused(port):
    with pytest.raises(ValueError, match="grpc_port must be between 0 and 65535"):
        ServerConfig(grpc_port=port)


def test_proto_without_package_imports_with_an_empty_version_but_cannot_be_called(server):
    proto = (
        'syntax = "proto3";\nmessage A { string a = 1; }\nservice S { rpc Do(A) returns (A); }\n'
    )
    with httpx.Client(base_url=server.base_url) as http:
        answer = http.post("/api/artifact/upload", files={"file": ("s.proto", proto.encode())})
    assert (answer.status_code, answer.text) == (201, "S:")

    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        with pytest.raises(grpc.RpcError) as caught:
            channel.unary_unary("/S/Do")(b"", timeout=5)

    assert caught.value.code() == grpc.StatusCode.UNKNOWN
