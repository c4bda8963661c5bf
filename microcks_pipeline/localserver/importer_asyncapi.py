"""AsyncAPI 2.x and 3.x importers as Microcks' AsyncAPIImporter and AsyncAPI3Importer: EVENT services,
operations per channel verb (v2) or per operation id (v3), example messages as EventMessages."""

from __future__ import annotations

import json
from typing import Any

from . import dispatch as d
from .importers import (
    Exchange,
    OpenAPIImporter,
    ParsedService,
    _elements,
    _has,
    _props,
    complete_metadata,
    complete_operation_properties,
)
from .jsonbody import EvaluationFailed, json_pointer
from .jsonnode import MISSING, as_text, path, value_string
from .model import EventMessage, Header, Metadata, Operation, Service

VALID_VERBS_V2 = ("subscribe", "publish")
VALID_VERBS_V3 = ("send", "receive")
DEFAULT_CONTENT_TYPE = "application/json"


def _binding(operation: Operation, binding_type: str) -> dict[str, Any]:
    """AsyncAPICommons.retrieveOrInitBinding."""
    if operation.bindings is None:
        operation.bindings = {}
    return operation.bindings.setdefault(binding_type, new_binding(binding_type))


def new_binding(binding_type: str) -> dict[str, Any]:
    """A Binding as Jackson writes it: `persistent` is a primitive boolean, always present."""
    return {"type": binding_type, "persistent": False}


def _set(binding: dict[str, Any], key: str, value: Any) -> None:
    if value is None:
        binding.pop(key, None)
    else:
        binding[key] = value


def _text_or_none(node: Any) -> str | None:
    return None if node is MISSING or node is None else as_text(node)


def complete_channel_bindings(operation: Operation, bindings: Any) -> None:
    """AsyncAPICommons.completeChannelLevelBindings (ws, amqp, googlepubsub)."""
    for name, node in _props(bindings):
        if name == "ws":
            _set(_binding(operation, "WS"), "method", _text_or_none(path(node, "method")))
        elif name == "amqp":
            binding = _binding(operation, "AMQP")
            if as_text(path(node, "is")) == "queue":
                binding["destinationType"] = "queue"
                binding["destinationName"] = as_text(path(path(node, "queue"), "name"))
            elif as_text(path(node, "is")) == "routingKey":
                binding["destinationType"] = as_text(path(path(node, "exchange"), "type"))
        elif name == "googlepubsub":
            binding = _binding(operation, "GOOGLEPUBSUB")
            _set(binding, "destinationName", _text_or_none(path(node, "topic")))
            binding["persistent"] = path(node, "messageRetentionDuration") is True


def complete_operation_bindings(operation: Operation, bindings: Any) -> None:
    """AsyncAPICommons.completeOperationLevelBindings (the bindings a mock minion reads)."""
    for name, node in _props(bindings):
        if name == "mqtt":
            binding = _binding(operation, "MQTT")
            _set(binding, "qoS", _text_or_none(path(node, "qos")))
            binding["persistent"] = path(node, "retain") is True
        elif name == "nats":
            _set(_binding(operation, "NATS"), "destinationName", _text_or_none(path(node, "queue")))
        elif name == "amqp":
            binding = _binding(operation, "AMQP")
            cc = path(node, "cc")
            if isinstance(cc, list) and cc:
                binding["routingKey"] = as_text(cc[0])
        elif name in ("sqs", "sns", "amqp1"):
            _binding(operation, name.upper())


def complete_message_bindings(operation: Operation, bindings: Any) -> None:
    for name, node in _props(bindings):
        if name == "kafka":
            binding = _binding(operation, "KAFKA")
            if _has(node, "key"):
                binding["keyType"] = as_text(path(path(node, "key"), "type"))


def example_headers(example: Any) -> list[Header]:
    """AsyncAPICommons.getExampleHeaders: an object, or a JSON text; values split on commas."""
    headers = path(example, "headers")
    if isinstance(headers, str):
        try:
            headers = json.loads(headers)
        except ValueError:
            return []
    result = []
    for name, value in _props(headers):
        values: list[str] = []
        for piece in value_string(value).split(","):
            if piece.strip() not in values:
                values.append(piece.strip())
        result.append(Header(name, values))
    return result


class AsyncAPIImporter(OpenAPIImporter):
    """AsyncAPI 2.x (v3=False) and 3.x (v3=True); format detection shared with OpenAPI's."""

    def __init__(self, text: str, *, v3: bool) -> None:
        super().__init__(text)
        self.v3 = v3

    def services(self) -> list[ParsedService]:
        info = path(self.root, "info")
        metadata = None
        if _has(info, "x-microcks"):
            metadata = Metadata()
            complete_metadata(metadata, info["x-microcks"])
        operations = self._operations_v3() if self.v3 else self._operations_v2()
        return [
            ParsedService(
                name=as_text(path(info, "title")),
                version=as_text(path(info, "version")),
                type="EVENT",
                metadata=metadata,
                operations=operations,
            )
        ]

    def _content_type(self) -> str:
        if _has(self.root, "defaultContentType"):
            return as_text(self.root["defaultContentType"]) or DEFAULT_CONTENT_TYPE
        return DEFAULT_CONTENT_TYPE

    def _payload(self, example: Any, depth: int = 0) -> str | None:
        """getExamplePayload: `payload`, or a `$payloadRef` to another example."""
        if _has(example, "payload"):
            return value_string(example["payload"])
        if _has(example, "$payloadRef") and depth < 20:
            return self._payload(self._node_for_ref(as_text(example["$payloadRef"])), depth + 1)
        return None

    def _event(self, name: str, content_type: str, example: Any) -> EventMessage:
        event = EventMessage(name=name, content=self._payload(example), media_type=content_type)
        for header in example_headers(example):
            event.add_header(header)
        return event

    # --- AsyncAPI 2 ---------------------------------------------------------------------------

    def _operations_v2(self) -> list[Operation]:
        operations = []
        for channel_name, channel in _props(path(self.root, "channels")):
            for verb, verb_value in _props(channel):
                if verb not in VALID_VERBS_V2:
                    continue
                operation = Operation(
                    name=f"{verb.upper()} {channel_name.strip()}", method=verb.upper()
                )
                if _has(verb_value, "x-microcks-operation"):
                    complete_operation_properties(operation, verb_value["x-microcks-operation"])
                if operation.dispatcher is None and "{" in channel_name:
                    operation.dispatcher = d.URI_PARTS
                    operation.dispatcher_rules = d.extract_parts_from_uri_pattern(channel_name)
                else:
                    operation.add_resource_path(channel_name)
                if _has(channel, "bindings"):
                    complete_channel_bindings(operation, channel["bindings"])
                if _has(verb_value, "bindings"):
                    complete_operation_bindings(operation, verb_value["bindings"])
                message = self._follow(path(verb_value, "message"))
                if _has(message, "bindings"):
                    complete_message_bindings(operation, message["bindings"])
                operations.append(operation)
        return operations

    def _messages_v2(self, operation: Operation) -> list[Exchange]:
        result: list[Exchange] = []
        for channel_name, channel in _props(path(self.root, "channels")):
            for verb, verb_value in _props(channel):
                if operation.name != f"{verb.upper()} {channel_name.strip()}":
                    continue
                message = path(verb_value, "message")
                # followRefsIfAny: a `oneOf` lists several messages.
                bodies = (
                    [self._follow(m) for m in message["oneOf"]]
                    if isinstance(path(message, "oneOf"), list)
                    else [self._follow(message)]
                )
                parts_by_example = self._parameters_by_example_v2(channel)
                for body in bodies:
                    content_type = (
                        as_text(body["contentType"])
                        if _has(body, "contentType")
                        else self._content_type()
                    )
                    for index, example in enumerate(_elements(path(body, "examples"))):
                        event = self._example_v2(content_type, example, channel_name, index)
                        if event is None:
                            continue
                        if operation.dispatcher == d.URI_PARTS:
                            parts = parts_by_example.get(event.name)
                            operation.add_resource_path(
                                d.build_uri_from_pattern(channel_name, parts)
                            )
                            event.dispatch_criteria = d.build_from_parts_map(
                                operation.dispatcher_rules or "", parts
                            )
                        result.append(event)
        return result

    def _parameters_by_example_v2(self, channel: Any) -> dict[str, d.Pairs]:
        """extractParametersByExample: channel parameter values per example name, from
        `schema.examples` (an object of named examples, or a list of `name:value` texts)."""
        results: dict[str, d.Pairs] = {}
        for name, parameter in _props(path(channel, "parameters")):
            examples = path(path(self._follow(parameter), "schema"), "examples")
            if isinstance(examples, dict):
                for example_name, example in examples.items():
                    value = self._example_value(example)
                    results.setdefault(example_name, []).append((name, value or ""))
            elif isinstance(examples, list):
                for example in examples:
                    text = as_text(example)
                    if ":" in text:
                        example_name, value = text.split(":", 1)
                    elif isinstance(example, dict) and example:
                        example_name, raw = next(iter(example.items()))
                        value = self._example_value(raw) or ""
                    else:
                        continue
                    results.setdefault(example_name, []).append((name, value))
        return results

    def _example_v2(
        self, content_type: str, example: Any, channel_name: str, index: int
    ) -> EventMessage | None:
        if _has(example, "name"):  # AsyncAPI 2.1+ named example
            return self._event(as_text(example["name"]), content_type, example)
        if _has(example, "payload"):
            return self._event(f"{channel_name.strip()}-{index}", content_type, example)
        # Microcks' own form: {exampleName: {payload, headers}}; the last one wins.
        event = None
        for name, value in _props(example):
            if _has(value, "payload"):
                event = self._event(name, content_type, value)
        return event

    # --- AsyncAPI 3 ---------------------------------------------------------------------------

    def _operations_v3(self) -> list[Operation]:
        operations = []
        for short_name, node in _props(path(self.root, "operations")):
            action = as_text(path(node, "action"))
            if action not in VALID_VERBS_V3:
                continue
            operation = Operation(name=f"{action.upper()} {short_name}", method=action.upper())
            if _has(node, "x-microcks-operation"):
                complete_operation_properties(operation, node["x-microcks-operation"])
            if _has(node, "bindings"):
                complete_operation_bindings(operation, node["bindings"])
            channel = self._follow(path(node, "channel"))
            if isinstance(path(node, "channel"), dict):
                if _has(channel, "address"):
                    address = as_text(channel["address"])
                    if "{" in address:
                        operation.dispatcher = d.URI_PARTS
                        operation.dispatcher_rules = d.extract_parts_from_uri_pattern(address)
                    operation.add_resource_path(address)
                if _has(channel, "bindings"):
                    complete_channel_bindings(operation, channel["bindings"])
            for reference in _elements(path(node, "messages")):
                message = self._follow(self._follow(reference))
                if _has(message, "bindings"):
                    complete_message_bindings(operation, message["bindings"])
            operations.append(operation)
        return operations

    def _messages_v3(self, operation: Operation) -> list[Exchange]:
        for short_name, node in _props(path(self.root, "operations")):
            action = as_text(path(node, "action"))
            if f"{action.upper()} {short_name}" != operation.name:
                continue
            if not isinstance(path(node, "messages"), list):
                continue
            if _has(node, "reply"):
                return []  # request-reply events are not served here
            events = self._events_v3(node["messages"])
            if operation.dispatcher == d.URI_PARTS:
                self._complete_parts_v3(operation, self._follow(path(node, "channel")), events)
            return list(events)
        return []

    def _complete_parts_v3(
        self, operation: Operation, channel: Any, events: list[EventMessage]
    ) -> None:
        """completeDispatchingCriteria: address parameters from `name:value` examples or from a
        `$message.payload#/pointer` location in each message."""
        address = as_text(path(channel, "address"))
        by_message: dict[str, dict[str, str]] = {}
        dynamic: list[tuple[str, str]] = []
        for name, parameter in _props(path(channel, "parameters")):
            parameter = self._follow(parameter)
            if _has(parameter, "location"):
                dynamic.append((name, as_text(parameter["location"])))
            elif isinstance(path(parameter, "examples"), list):
                for example in parameter["examples"]:
                    text = as_text(example)
                    if ":" in text:
                        key, value = text.split(":", 1)
                        by_message.setdefault(key, {})[name] = value
        for event in events:
            values = dict(by_message.get(event.name, {}))
            for name, location in dynamic:
                if location.startswith("$message.payload#"):
                    try:
                        payload = json.loads(event.content or "")
                        found = json_pointer(payload, location[len("$message.payload#") :])
                    except (ValueError, EvaluationFailed):
                        continue  # Microcks logs it and leaves the parameter out
                    values[name] = as_text(found)
            parts = list(values.items())
            operation.add_resource_path(d.build_uri_from_pattern(address, parts))
            event.dispatch_criteria = d.build_from_parts_map(address, parts)

    def _events_v3(self, references: list[Any]) -> list[EventMessage]:
        """buildEventMessages: examples of messages given by `$ref` (named after the ref's tail)."""
        events: list[EventMessage] = []
        for reference in references:
            message = self._follow(self._follow(reference))
            content_type = (
                as_text(message["contentType"])
                if _has(message, "contentType")
                else self._content_type()
            )
            ref = path(reference, "$ref")
            if not isinstance(ref, str) or not _has(message, "examples"):
                continue
            message_name = ref[ref.rfind("/") + 1 :]
            built: list[EventMessage] = []
            for example in _elements(message["examples"]):
                name = (
                    as_text(example["name"])
                    if _has(example, "name")
                    else f"{message_name}-{len(built) + 1}"
                )
                built.append(self._event(name, content_type, example))
            events.extend(built)
        return events

    def messages(self, service: Service, operation: Operation) -> list[Exchange]:
        return self._messages_v3(operation) if self.v3 else self._messages_v2(operation)
