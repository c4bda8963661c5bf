"""The gRPC mock server, as Microcks' GrpcServerStarter, GrpcMockHandlerRegistry and
GrpcServerCallHandler.MockedUnaryMethod with GrpcInvocationProcessor: unary calls on
`<package>.<Service>/<method>` answered with the matching example of the stored service."""

from __future__ import annotations

import functools
import json
from concurrent import futures
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

from . import dispatch as d
from .model import Operation, Response
from .store import ServiceSnapshot, Store


def service_identity(full_method: str) -> tuple[str, str, str]:
    """(service name, version, operation) as MockedUnaryMethod recomputes them from the method name."""
    method = full_method.lstrip("/")
    service_name, operation = method.split("/", 1)
    package = service_name[: service_name.rfind(".")] if "." in service_name else ""
    parts = package.split(".")
    return service_name, parts[-1] if len(parts) > 2 else package, operation


@functools.lru_cache(maxsize=64)
def _pool(descriptor: bytes) -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    for file in descriptor_pb2.FileDescriptorSet.FromString(descriptor).file:
        pool.Add(file)
    return pool


def _message_class(descriptor: bytes, type_name: str) -> Any:
    return message_factory.GetMessageClass(_pool(descriptor).FindMessageTypeByName(type_name))


def _string_map(text: str) -> dict[str, str]:
    """Jackson's readValue into TreeMap<String,String>: nested values make the criteria empty."""
    node = json.loads(text)
    result = {}
    for key, value in node.items():
        if isinstance(value, (dict, list)):
            raise ValueError("not a flat object")
        result[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return result


def find_response(snapshot: ServiceSnapshot, operation: Operation, body: str) -> Response | None:
    """GrpcInvocationProcessor: by criteria, by name, fallback, then any response (whatever the dispatcher)."""
    responses = [p.response for p in snapshot.pairs_of(operation.name) if p.response is not None]
    fallback = (
        d.parse_fallback(operation.dispatcher_rules) if operation.dispatcher == d.FALLBACK else None
    )
    dispatcher, rules = operation.dispatcher, operation.dispatcher_rules
    if fallback is not None:
        dispatcher, rules = fallback.dispatcher, fallback.dispatcher_rules
    criteria = None
    if dispatcher == d.QUERY_ARGS and rules is not None:
        try:
            criteria = d.extract_from_param_map(rules, _string_map(body))
        except (ValueError, AttributeError):
            criteria = ""
    for candidates in (
        [r for r in responses if r.dispatch_criteria == criteria],
        [r for r in responses if r.name == criteria],
        [r for r in responses if fallback is not None and r.name == fallback.fallback],
        responses,
    ):
        if candidates:
            return candidates[0]
    return None


def _grpc_status(status: str | None) -> grpc.StatusCode:
    """A null, "0" or HTTP-range status is OK; another number is that gRPC code."""
    if status is None or status == "0":
        return grpc.StatusCode.OK
    try:
        code = int(status)
    except ValueError:
        return grpc.StatusCode.UNKNOWN
    if 100 <= code < 600:
        return grpc.StatusCode.OK
    return next((c for c in grpc.StatusCode if c.value[0] == code), grpc.StatusCode.UNKNOWN)


class MockHandler(grpc.GenericRpcHandler):
    def __init__(self, store: Store) -> None:
        self.store = store

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        full_method = handler_call_details.method
        if "/" not in full_method.lstrip("/"):
            return None
        name, version, operation_name = service_identity(full_method)
        snapshot = self.store.snapshot_by_name(name, version)
        operation = snapshot.service.operation(operation_name) if snapshot else None
        if snapshot is None or operation is None or snapshot.service.descriptor is None:
            return None  # lookupMethod finds nothing: UNIMPLEMENTED
        descriptor = snapshot.service.descriptor
        input_class = _message_class(descriptor, (operation.input_name or "").lstrip("."))
        output_class = _message_class(descriptor, (operation.output_name or "").lstrip("."))

        def invoke(request: Any, context: grpc.ServicerContext) -> Any:
            body = json_format.MessageToJson(request)
            response = find_response(snapshot, operation, body)
            if response is None:
                context.abort(grpc.StatusCode.NOT_FOUND, "No response found for the GRPC input request")
            status = _grpc_status(response.status)
            if status != grpc.StatusCode.OK:
                context.abort(status, response.content or "")
            try:
                return json_format.Parse(response.content or "{}", output_class())
            except json_format.ParseError as exc:
                context.abort(grpc.StatusCode.INTERNAL, str(exc))

        return grpc.unary_unary_rpc_method_handler(
            invoke,
            request_deserializer=input_class.FromString,
            response_serializer=lambda message: message.SerializeToString(),
        )


def start_grpc_server(store: Store, host: str, port: int) -> tuple[grpc.Server, int]:
    """A plain-text gRPC server on host:port (0 picks a free port); returns it and its port."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((MockHandler(store),))
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise RuntimeError(f"the gRPC mock server could not bind {host}:{port}")
    server.start()
    return server, bound
