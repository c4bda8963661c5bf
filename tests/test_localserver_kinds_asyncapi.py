"""AsyncAPI (event) APIs on the local Microcks server: AsyncAPI 2 and 3 mains, APIExamples
secondaries, `/api/features/config`, and example messages published over WebSocket as Microcks'
async minion does (AsyncAPIImporter, AsyncAPI3Importer, WebSocketProducerManager)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from localserver_fixtures import open_client, relaxed_schema_errors, sample
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from microcks_pipeline.localserver import RunningServer, ServerConfig, running_server

V3 = "User signed-up API:0.1.50"
V2 = "User signed-up WebSocket API:0.1.9"


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    config = ServerConfig(auth_enabled=False, async_frequency_override_seconds=0.2)
    with running_server(config) as running:
        with httpx.Client(base_url=running.base_url) as http:
            for name in ("UserSignedUpAPI-asyncapi-ws.yml", "user-signedup-asyncapi-ws.yaml"):
                answer = http.post("/api/artifact/upload", files={"file": (name, sample(name))})
                assert answer.status_code == 201, answer.text
        yield running


def _ws_url(server: RunningServer, path: str) -> str:
    return server.base_url.replace("http://", "ws://") + path


def _receive(server: RunningServer, path: str, count: int) -> list[dict]:
    with connect(_ws_url(server, path), open_timeout=5) as socket:
        return [json.loads(socket.recv(timeout=5)) for _ in range(count)]


def test_asyncapi3_examples_are_published_on_the_operation_websocket(server):
    started = time.monotonic()

    received = _receive(server, "/api/ws/User+signed-up+API/0.1.50/consumeUserSignedUp", 4)

    # Every tick publishes each example of the operation, in order (laurent, then john).
    assert [m["fullName"] for m in received] == [
        "Laurent Broudoux",
        "John Doe",
        "Laurent Broudoux",
        "John Doe",
    ]
    assert time.monotonic() - started < 5


def test_asyncapi2_examples_are_published_on_the_channel_websocket(server):
    received = _receive(server, "/api/ws/User%20signed-up%20WebSocket%20API/0.1.9/user/signedup", 2)

    assert [m["fullName"] for m in received] == ["Laurent Broudoux", "John Doe"]


def test_websocket_on_a_service_without_event_mocks_is_closed_cannot_accept(server):
    with connect(_ws_url(server, "/api/ws/Unknown+API/1.0/anything"), open_timeout=5) as socket:
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=5)

    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1003
    assert closed.value.rcvd.reason == "No mock available on /api/ws/Unknown+API/1.0/anything"


def test_event_service_view_has_operations_bindings_and_event_messages(server):
    with httpx.Client(base_url=server.base_url) as http:
        v3 = http.get(f"/api/services/{V3}").json()
        v2 = http.get(f"/api/services/{V2}").json()

    assert v3["service"]["type"] == v2["service"]["type"] == "EVENT"
    [operation3] = v3["service"]["operations"]
    assert operation3["name"] == "RECEIVE consumeUserSignedUp"
    assert operation3["method"] == "RECEIVE"
    assert operation3["bindings"] == {"WS": {"type": "WS", "method": "POST", "persistent": False}}
    # async-api.default-frequency=3 in Microcks' application.properties.
    assert operation3["defaultDelay"] == 3
    assert operation3["resourcePaths"] == ["user/signedup"]
    [operation2] = v2["service"]["operations"]
    assert (operation2["name"], operation2["method"]) == ("SUBSCRIBE user/signedup", "SUBSCRIBE")
    messages = v3["messagesMap"]["RECEIVE consumeUserSignedUp"]
    assert [m["type"] for m in messages] == ["unidirEvent", "unidirEvent"]
    laurent = messages[0]["eventMessage"]
    assert laurent["name"] == "laurent"
    assert laurent["mediaType"] == "application/json"
    assert laurent["headers"] == [{"name": "my-app-header", "values": ["23"]}]
    assert laurent["sourceArtifact"] == "UserSignedUpAPI-asyncapi-ws.yml"
    assert json.loads(laurent["content"])["email"] == "laurent@microcks.io"
    # AsyncAPI 2 "Microcks form" examples ({name: {payload}}) keep their names.
    assert [m["eventMessage"]["name"] for m in v2["messagesMap"]["SUBSCRIBE user/signedup"]] == [
        "laurent",
        "john",
    ]
    assert relaxed_schema_errors(v3, "ServiceView") == []
    assert relaxed_schema_errors(v2, "ServiceView") == []


def test_features_config_announces_async_api_with_this_server_as_websocket_endpoint(server):
    with httpx.Client(base_url=server.base_url) as http:
        config = http.get("/api/features/config").json()

    host_port = server.base_url.removeprefix("http://")
    assert config["async-api"] == {
        "enabled": "true",
        "frequencies": "3,10,30",
        "default-binding": "KAFKA",
        "endpoint-WS": host_port,
    }


def test_api_examples_add_event_messages_to_an_event_service():
    client = open_client()
    client.upload(sample("UserSignedUpAPI-asyncapi-ws.yml"), "asyncapi.yml")
    examples = """apiVersion: mocks.microcks.io/v1alpha1
kind: APIExamples
metadata: {name: User signed-up API, version: 0.1.50}
operations:
  RECEIVE consumeUserSignedUp:
    ada:
      eventMessage:
        headers: {my-app-header: 42}
        payload: {fullName: Ada Lovelace, age: 36}
"""
    assert client.upload(examples, "signedup-examples.yaml", main=False).status_code == 201

    messages = client.get(f"/api/services/{V3}").json()["messagesMap"]
    ada = messages["RECEIVE consumeUserSignedUp"][-1]["eventMessage"]

    assert (ada["name"], ada["sourceArtifact"]) == ("ada", "signedup-examples.yaml")
    assert json.loads(ada["content"]) == {"fullName": "Ada Lovelace", "age": 36}
    assert ada["headers"] == [{"name": "my-app-header", "values": ["42"]}]


def test_operation_without_ws_binding_gets_kafka_and_is_not_published_over_websocket(server):
    document = """asyncapi: 2.6.0
info: {title: Orders, version: '1'}
channels:
  orders:
    publish:
      message:
        examples:
          - name: one
            payload: {id: 1}
"""
    with httpx.Client(base_url=server.base_url) as http:
        http.post("/api/artifact/upload", files={"file": ("orders.yaml", document.encode())})
        [operation] = http.get("/api/services/Orders:1").json()["service"]["operations"]

    assert operation["bindings"] == {"KAFKA": {"type": "KAFKA", "persistent": False}}
    assert operation["name"] == "PUBLISH orders"
    with connect(_ws_url(server, "/api/ws/Orders/1/orders"), open_timeout=5) as socket:
        with pytest.raises(TimeoutError):
            socket.recv(timeout=1)  # five publishing periods: only Kafka would get them


SENSORS_V2 = """asyncapi: 2.6.0
info: {title: Sensors, version: '1'}
channels:
  sensors/{sensorId}/readings:
    parameters:
      sensorId:
        schema:
          type: string
          examples:
            hot: {value: S1}
            cold: {value: S2}
    bindings: {ws: {method: POST}}
    subscribe:
      message:
        examples:
          - name: hot
            payload: {temp: 40}
          - name: cold
            payload: {temp: -5}
"""

LIGHTS_V3 = """asyncapi: 3.0.0
info: {title: Lights, version: '1'}
channels:
  lightMeasured:
    address: 'lights/{lightId}/measured'
    parameters:
      lightId:
        location: '$message.payload#/id'
    bindings: {ws: {method: POST}}
    messages:
      measured:
        examples:
          - name: one
            payload: {id: L1, lumens: 3}
          - name: two
            payload: {id: L2, lumens: 5}
operations:
  receiveLight:
    action: receive
    channel: {$ref: '#/channels/lightMeasured'}
    messages:
      - $ref: '#/channels/lightMeasured/messages/measured'
"""


def test_templated_channels_publish_each_message_on_its_own_address(server):
    with httpx.Client(base_url=server.base_url) as http:
        for name, document in (("sensors.yaml", SENSORS_V2), ("lights.yaml", LIGHTS_V3)):
            answer = http.post("/api/artifact/upload", files={"file": (name, document.encode())})
            assert answer.status_code == 201, answer.text
        sensors = http.get("/api/services/Sensors:1").json()
        lights = http.get("/api/services/Lights:1").json()

    [sensor_op] = sensors["service"]["operations"]
    assert (sensor_op["dispatcher"], sensor_op["dispatcherRules"]) == ("URI_PARTS", "sensorId")
    assert sensor_op["resourcePaths"] == ["sensors/S1/readings", "sensors/S2/readings"]
    assert [
        m["eventMessage"]["dispatchCriteria"]
        for m in sensors["messagesMap"]["SUBSCRIBE sensors/{sensorId}/readings"]
    ] == ["/sensorId=S1", "/sensorId=S2"]
    [light_op] = lights["service"]["operations"]
    assert light_op["resourcePaths"] == [
        "lights/{lightId}/measured",
        "lights/L1/measured",
        "lights/L2/measured",
    ]
    assert _receive(server, "/api/ws/Sensors/1/sensors/S2/readings", 2) == [{"temp": -5}] * 2
    assert (
        _receive(server, "/api/ws/Lights/1/lights/L1/measured", 2)
        == [{"id": "L1", "lumens": 3}] * 2
    )
