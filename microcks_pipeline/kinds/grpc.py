"""gRPC proto3: detection (`syntax = "proto3";` beginning a line), the identity Microcks derives
from the proto (name `package.Service`, version the package's last segment from three segments
on, else the whole package; no override exists, so nothing is stamped), and the QUERY_ARGS
dispatchers ProtobufImporter infers. Served on Microcks' gRPC port at `package.Service/Method`.

The proto is read by a small parser of the declarations that decide these facts (package,
services, rpcs, message fields): the sync stays free of protoc and temporary files. One mock
maps to one Microcks service, so a proto must declare exactly one service.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

from microcks_pipeline.core.desired import ArtifactFacts, Dispatch
from microcks_pipeline.core.errors import ConfigError
from microcks_pipeline.kinds.base import (
    NO_EXAMPLE,
    Endpoints,
    Kind,
    Parsed,
    ProbeResult,
    Serving,
    example_operation,
    first_exchange,
    text,
)

_COMMENTS = re.compile(r"//[^\n]*|/\*.*?\*/", re.DOTALL)
_STRINGS = re.compile(r'"(?:[^"\\\n]|\\.)*"' + r"|'(?:[^'\\\n]|\\.)*'")
_PACKAGE = re.compile(r"\bpackage\s+([A-Za-z_][\w.]*)\s*;")
_BLOCK = re.compile(r"\b(service|message|enum)\s+([A-Za-z_]\w*)\s*\{")
_RPC = re.compile(
    r"\brpc\s+(\w+)\s*\(\s*(stream\s+)?([\w.]+)\s*\)\s*returns\s*\(\s*(stream\s+)?([\w.]+)\s*\)"
)
_FIELD = re.compile(r"^\s*(?:repeated\s+|optional\s+)?(map\s*<[^>]*>|[\w.]+)\s+(\w+)\s*=\s*\d+")
_SCALARS = frozenset(
    "double float int32 int64 uint32 uint64 sint32 sint64 fixed32 fixed64 sfixed32 sfixed64 "
    "bool string".split()
)


def version_of_package(package: str) -> str:
    """ProtobufImporter: `org.acme.v1` -> `v1`; `org.acme` -> `org.acme` (fewer than 3 parts)."""
    parts = package.split(".")
    return parts[-1] if len(parts) > 2 else package


def _body(source: str, start: int) -> tuple[str, int]:
    """The text inside the braces opened just before `start`, and the index after them."""
    depth, i = 1, start
    while i < len(source) and depth:
        depth += {"{": 1, "}": -1}.get(source[i], 0)
        i += 1
    if depth:
        raise ConfigError("unbalanced braces in the proto")
    return source[start : i - 1], i


class _Proto:
    """The declarations of one proto file that decide Microcks' service and dispatchers."""

    def __init__(self, source: str) -> None:
        # strings first would keep `//` inside them; comments never hold what we read
        clean = _COMMENTS.sub(" ", _STRINGS.sub('""', source))
        package = _PACKAGE.search(clean)
        self.package = package.group(1) if package else ""
        self.services: dict[str, list[tuple[str, str, bool]]] = {}
        # message name -> (field type, field name) in order; None for an enum
        self.messages: dict[str, list[tuple[str, str]] | None] = {}
        self._read(clean, "")

    def _read(self, source: str, prefix: str) -> None:
        pos = 0
        while (m := _BLOCK.search(source, pos)) is not None:
            body, pos = _body(source, m.end())
            kind, name = m.group(1), prefix + m.group(2)
            if kind == "service":
                self.services[name] = [
                    (r.group(1), r.group(3), bool(r.group(2) or r.group(4)))
                    for r in _RPC.finditer(body)
                ]
            elif kind == "enum":
                self.messages[name] = None
            else:
                self.messages[name] = [
                    (f.group(1), f.group(2))
                    for f in (_FIELD.match(ln) for ln in _flat(body).split(";"))
                    if f
                ]
                self._read(body, name + ".")

    def input_fields(self, type_name: str) -> list[tuple[str, str]] | None:
        """(type, name) of an input message's fields; None when this file does not declare it."""
        name = type_name.lstrip(".")
        if self.package and name.startswith(self.package + "."):
            name = name[len(self.package) + 1 :]
        fields = self.messages.get(name)
        return fields if name in self.messages and fields is not None else None


def _flat(body: str) -> str:
    """A message body without its nested blocks (their fields are theirs)."""
    out, depth = [], 0
    for ch in body:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out)


def _scalar(type_name: str, proto: _Proto) -> bool:
    if type_name in _SCALARS:
        return True
    name = type_name.lstrip(".")
    if proto.package and name.startswith(proto.package + "."):
        name = name[len(proto.package) + 1 :]
    return name in proto.messages and proto.messages[name] is None  # an enum is scalar


class Grpc(Kind):
    name = "grpc"
    title = "gRPC proto3"
    service_type = "GRPC"

    def matches(self, line: str) -> bool:
        return line.startswith('syntax = "proto3";') or line.startswith('syntax="proto3";')

    def parse(self, content: bytes) -> Parsed:
        source = text(content)
        proto = _Proto(source)
        if not proto.package:
            raise ConfigError(
                "the proto declares no package: Microcks derives the gRPC version from it "
                "and cannot serve a service without one"
            )
        if len(proto.services) != 1:
            found = ", ".join(sorted(proto.services)) or "none"
            raise ConfigError(
                f"the proto must declare exactly one service (found: {found}); "
                "one mock is one Microcks service: split it into one proto per service"
            )
        return Parsed(self, (source, proto), "text", ".proto")

    def stamp(self, parsed: Parsed, name: str, version: str) -> bytes:
        return parsed.value[0].encode("utf-8")  # Microcks reads the identity from the proto

    def fixed_identity(self, parsed: Parsed) -> tuple[str, str]:
        proto: _Proto = parsed.value[1]
        (service,) = proto.services
        return f"{proto.package}.{service}", version_of_package(proto.package)

    def facts(self, parsed: Parsed) -> ArtifactFacts:
        proto: _Proto = parsed.value[1]
        dispatchers: dict[str, Dispatch] | None = {}
        for rpcs in proto.services.values():
            for method, input_type, _streaming in rpcs:
                fields = proto.input_fields(input_type)
                if fields is None:  # imported message: its fields are not in this file
                    dispatchers = None
                    break
                if fields and all(_scalar(t, proto) for t, _ in fields):
                    dispatchers[method] = ("QUERY_ARGS", " && ".join(n for _, n in fields))
                else:
                    dispatchers[method] = (None, None)
            if dispatchers is None:
                break
        return ArtifactFacts(
            kind=self.name,
            purpose=self.purpose,
            service_type=self.service_type,
            dispatchers=dispatchers,
        )


GRPC = Grpc()


# ---- serving: a unary call to package.Service/Method on Microcks' gRPC port -------------------

DESCRIPTOR_RESOURCE = "PROTOBUF_DESCRIPTOR"  # base64 FileDescriptorSet Microcks keeps


def _message_classes(descriptor: bytes, input_name: str, output_name: str) -> tuple[Any, Any]:
    pool = descriptor_pool.DescriptorPool()
    for file in descriptor_pb2.FileDescriptorSet.FromString(descriptor).file:
        pool.Add(file)
    return (
        message_factory.GetMessageClass(pool.FindMessageTypeByName(input_name.lstrip("."))),
        message_factory.GetMessageClass(pool.FindMessageTypeByName(output_name.lstrip("."))),
    )


def _descriptor(resources: Any, service_id: str) -> bytes | None:
    found = resources(service_id) if callable(resources) and service_id else None
    for resource in found or ():
        if resource.get("type") == DESCRIPTOR_RESOURCE and isinstance(resource.get("content"), str):
            try:
                return base64.b64decode(resource["content"])
            except ValueError:
                return None
    return None


def _channel(target: str) -> grpc.Channel:
    if target.endswith(":443"):
        return grpc.secure_channel(target, grpc.ssl_channel_credentials())
    return grpc.insecure_channel(target)


class GrpcServing(Serving):
    service_type = "GRPC"

    def root(self, endpoints: Endpoints, name: str, version: str) -> str:
        return f"grpc://{endpoints.grpc}/{name}"

    def describe(self, name: str, version: str) -> str:
        return f"gRPC {name}/<method> (version {version}, named by the proto)"

    def address(self, endpoints: Endpoints, view: Mapping[str, Any]) -> str:
        """`grpc://host:port/package.Service/Method`: what grpcurl or a stub calls."""
        service = view.get("service") or {}
        return f"grpc://{endpoints.grpc}/{service.get('name', '')}/{example_operation(view)}"

    def probe(
        self,
        endpoints: Endpoints,
        view: Mapping[str, Any],
        http: Any,
        *,
        timeout: float = 10.0,
        resources: Any = None,
        **_: Any,
    ) -> ProbeResult:
        example = first_exchange(view)
        if example is None:
            return NO_EXAMPLE
        method, where = example.operation, example.where
        service = view.get("service") or {}
        operation = next(
            (o for o in service.get("operations") or () if o.get("name") == method), {}
        )
        full = f"/{service.get('name')}/{method}"
        url = self.address(endpoints, view)
        descriptor = _descriptor(resources, str(service.get("id") or ""))
        if descriptor is None:
            return _probe_without_schema(endpoints.grpc, full, view, method, where, url, timeout)
        try:
            request_class, response_class = _message_classes(
                descriptor, str(operation.get("inputName")), str(operation.get("outputName"))
            )
            request = json_format.Parse(
                str(example.request.get("content") or "{}"),
                request_class(),
                ignore_unknown_fields=True,
            )
            expected = json_format.Parse(
                str(example.response.get("content") or "{}"),
                response_class(),
                ignore_unknown_fields=True,
            )
        except (KeyError, ValueError, json_format.ParseError) as exc:
            return ProbeResult(False, f"{where}: cannot build the call ({exc})", url)
        with _channel(endpoints.grpc) as channel:
            call = channel.unary_unary(
                full,
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=response_class.FromString,
            )
            try:
                answer = call(request, timeout=timeout)
            except grpc.RpcError as exc:
                return ProbeResult(False, f"{where}: gRPC {exc.code().name}", url)
        if answer != expected:
            return ProbeResult(False, f"{where}: answer differs from the example", url)
        return ProbeResult(True, f"{where}: answered as the example says", url)


def _wire_strings(data: bytes, depth: int = 0) -> set[str]:
    """The UTF-8 strings of a protobuf message read without its schema (nested ones too)."""
    found: set[str] = set()
    i = 0
    try:
        while i < len(data):
            key, i = _varint(data, i)
            wire = key & 7
            if wire == 0:
                _, i = _varint(data, i)
            elif wire == 1:
                i += 8
            elif wire == 5:
                i += 4
            elif wire == 2:
                size, i = _varint(data, i)
                chunk = data[i : i + size]
                i += size
                try:
                    found.add(chunk.decode("utf-8"))
                except UnicodeDecodeError:
                    pass
                if depth < 8:
                    found |= _wire_strings(chunk, depth + 1)
            else:
                return found
    except IndexError:
        return found
    return found


def _varint(data: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, i


def _json_strings(text: str) -> set[str]:
    try:
        value = json.loads(text)
    except ValueError:
        return set()
    found: set[str] = set()
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str):
            found.add(node)
    return found


def _probe_without_schema(
    target: str,
    full: str,
    view: Mapping[str, Any],
    method: str,
    where: str,
    url: str,
    timeout: float,
) -> ProbeResult:
    """Without Microcks' descriptor: an empty request (valid for any message type), answered
    with one of the operation's examples (Microcks falls back to any response of the
    operation), recognised by the example's strings in the wire message."""
    with _channel(target) as channel:
        call = channel.unary_unary(full)
        try:
            answer = call(b"", timeout=timeout)
        except grpc.RpcError as exc:
            return ProbeResult(False, f"{where}: gRPC {exc.code().name}", url)
    strings = _wire_strings(answer)
    examples = [
        _json_strings(str(p["response"].get("content") or ""))
        for p in (view.get("messagesMap") or {}).get(method) or ()
        if isinstance(p, dict) and isinstance(p.get("response"), dict)
    ]
    if not any(e <= strings for e in examples):
        return ProbeResult(False, f"{method}: the answer is none of the examples", url)
    return ProbeResult(True, f"{method}: answered one of its examples (empty request)", url)


SERVING = GrpcServing()
