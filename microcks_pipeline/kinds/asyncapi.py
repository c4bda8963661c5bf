"""AsyncAPI 2.x and 3.x: detection, info.title/info.version stamping (the `asyncapi:` key first),
the operations and dispatchers Microcks' AsyncAPI importers set. Served as EVENT: example
messages published on the WebSocket endpoint `/api/ws/{name}/{version}/{operation}` of the async
minion, and on Kafka topics `<name>-<version>-<operation>`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from websockets.sync.client import connect

from microcks_pipeline.core.desired import ArtifactFacts, Dispatch
from microcks_pipeline.core.errors import ConfigError
from microcks_pipeline.kinds.base import (
    Endpoints,
    Kind,
    Parsed,
    ProbeResult,
    Serving,
    as_text,
    example_operation,
    first_pair,
    json_or_yaml,
    mapping,
)
from microcks_pipeline.kinds.openapi import check_info, render_info, uri_parts, x_microcks

_ASYNCAPI = re.compile(r".*['\"]?asyncapi['\"]?\s*:\s*['\"]?[23.].*")  # the 2.x then 3.x rules
_V2_VERBS = ("subscribe", "publish")
_V3_VERBS = ("send", "receive")


def _major(value: Any) -> str | None:
    text = as_text(value) if isinstance(value, (str, int, float)) else ""
    return text[0] if text[:1] in ("2", "3") else None


class AsyncAPI(Kind):
    name = "asyncapi"
    title = "AsyncAPI 2/3"
    service_type = "EVENT"

    def matches(self, line: str) -> bool:
        return _ASYNCAPI.fullmatch(line) is not None

    def parse(self, content: bytes) -> Parsed:
        doc = json_or_yaml(content, self.title)
        if _major(doc.data.get("asyncapi")) is None:
            raise ConfigError("not an AsyncAPI 2.x or 3.x document")
        check_info(doc)
        return Parsed(self, doc, doc.fmt, ".json" if doc.fmt == "json" else ".yaml")

    def stamp(self, parsed: Parsed, name: str, version: str) -> bytes:
        return render_info(parsed.value, "asyncapi", name, version)

    def facts(self, parsed: Parsed) -> ArtifactFacts:
        data = parsed.value.data
        operations = _v2(data) if _major(data.get("asyncapi")) == "2" else _v3(data)
        labels, annotations = x_microcks(data)
        return ArtifactFacts(
            kind=self.name,
            purpose=self.purpose,
            service_type=self.service_type,
            dispatchers=operations,
            labels=labels,
            annotations=annotations,
        )


def _extension(node: dict[str, Any]) -> Dispatch:
    ext = mapping(node.get("x-microcks-operation"))
    return (
        as_text(ext["dispatcher"]) if "dispatcher" in ext else None,
        as_text(ext["dispatcherRules"]) if "dispatcherRules" in ext else None,
    )


def _v2(data: dict[str, Any]) -> dict[str, Dispatch]:
    result: dict[str, Dispatch] = {}
    for channel, item in mapping(data.get("channels")).items():
        for verb, node in mapping(item).items():
            if verb not in _V2_VERBS:
                continue
            dispatcher, rules = _extension(mapping(node))
            if dispatcher is None and "{" in str(channel):
                dispatcher, rules = "URI_PARTS", uri_parts(str(channel))
            result[f"{verb.upper()} {str(channel).strip()}"] = (dispatcher, rules)
    return result


def _v3(data: dict[str, Any]) -> dict[str, Dispatch]:
    channels = mapping(data.get("channels"))
    result: dict[str, Dispatch] = {}
    for operation_id, node in mapping(data.get("operations")).items():
        node = mapping(node)
        action = as_text(node.get("action"))
        if action not in _V3_VERBS:
            continue
        dispatcher, rules = _extension(node)
        address = as_text(mapping(_follow_channel(channels, node.get("channel"))).get("address"))
        if "{" in address:
            dispatcher, rules = "URI_PARTS", uri_parts(address)
        result[f"{action.upper()} {operation_id}"] = (dispatcher, rules)
    return result


def _follow_channel(channels: dict[str, Any], ref: Any) -> Any:
    target = as_text(mapping(ref).get("$ref"))
    prefix = "#/channels/"
    if target.startswith(prefix):
        return channels.get(target[len(prefix) :].replace("~1", "/").replace("~0", "~"))
    return ref


def destination(operation: str) -> str:
    """ProducerManager#getDestinationOperationPart: the operation name without its action."""
    return operation.split(" ", 1)[1] if " " in operation else operation


def kafka_topic(name: str, version: str, operation: str) -> str:
    """KafkaProducerManager#getTopicName."""
    part = destination(operation).replace("/", "-")
    return f"{name.replace(' ', '').replace('-', '')}-{version.replace(' ', '')}-{part}"


def ws_path(name: str, version: str, operation: str) -> str:
    """WebSocketProducerManager#getRequestURI."""
    return f"/api/ws/{name.replace(' ', '+')}/{version.replace(' ', '+')}/{destination(operation)}"


ASYNCAPI = AsyncAPI()


# ---- serving: a WebSocket subscription on the async minion ------------------------------------


def _like(expected: Any, actual: Any) -> bool:
    """Whether a published message is the example, its `{{template}}` values aside."""
    if isinstance(expected, str) and "{{" in expected:
        return True
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and expected.keys() == actual.keys()
            and all(_like(v, actual[k]) for k, v in expected.items())
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(expected) == len(actual)
            and all(_like(e, a) for e, a in zip(expected, actual, strict=True))
        )
    return expected == actual


def _same_event(expected: str, actual: str) -> bool:
    try:
        return _like(json.loads(expected), json.loads(actual))
    except ValueError:
        return "{{" in expected or expected.strip() == actual.strip()


class EventServing(Serving):
    service_type = "EVENT"

    def root(self, endpoints: Endpoints, name: str, version: str) -> str:
        return f"ws://{endpoints.ws}/api/ws/{name.replace(' ', '+')}/{version.replace(' ', '+')}"

    def describe(self, name: str, version: str) -> str:
        return f"WebSocket {ws_path(name, version, '<operation>')}"

    def address(self, endpoints: Endpoints, view: Mapping[str, Any]) -> str:
        """The WebSocket URL of the first operation with example messages."""
        service = view.get("service") or {}
        operation = example_operation(view, "eventMessage")
        name, version = str(service.get("name", "")), str(service.get("version", ""))
        return f"ws://{endpoints.ws}{ws_path(name, version, operation)}"

    def probe(
        self,
        endpoints: Endpoints,
        view: Mapping[str, Any],
        http: Any,
        *,
        timeout: float = 10.0,
        **_: Any,
    ) -> ProbeResult:
        found = first_pair(view, "eventMessage")
        if found is None:
            return ProbeResult(False, "the service has no example message")
        operation = found[0]
        messages = [
            str(p["eventMessage"].get("content") or "")
            for p in (view.get("messagesMap") or {}).get(operation) or ()
            if isinstance(p, dict) and isinstance(p.get("eventMessage"), dict)
        ]
        url = self.address(endpoints, view)
        service = view.get("service") or {}
        topic = kafka_topic(
            str(service.get("name", "")), str(service.get("version", "")), operation
        )
        try:
            with connect(url, open_timeout=timeout, close_timeout=1) as socket:
                received = socket.recv(timeout=timeout)
        except TimeoutError:
            return ProbeResult(False, f"{operation}: no message within {timeout:g} s", url)
        except Exception as exc:  # noqa: BLE001 - any transport failure is the probe's answer
            return ProbeResult(False, f"{operation}: {type(exc).__name__}", url)
        text = received.decode("utf-8", "replace") if isinstance(received, bytes) else received
        if not any(_same_event(m, text) for m in messages):
            return ProbeResult(False, f"{operation}: a message that is none of the examples", url)
        return ProbeResult(
            True, f"{operation}: received an example message (Kafka topic {topic})", url
        )


SERVING = EventServing()
