"""The gRPC mock server, as Microcks' GrpcServerStarter, GrpcMockHandlerRegistry and
GrpcServerCallHandler.MockedUnaryMethod with GrpcInvocationProcessor: unary calls on
`<package>.<Service>/<method>` answered with the matching example of the stored service."""

from __future__ import annotations

import functools
from concurrent import futures
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

from . import dispatch as d
from .importer_protobuf import PROTOBUF_DESCRIPTOR
from .importers import query_args_criteria_from_text
from .jsonbody import json_body_criteria
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


def find_response(snapshot: ServiceSnapshot, operation: Operation, body: str) -> Response | None:
    """GrpcInvocationProcessor: by criteria, by name, fallback, then any response (whatever the
    dispatcher); QUERY_ARGS criteria from the request printed as proto3 JSON."""
    responses = [p.response for p in snapshot.pairs_of(operation.name) if p.response is not None]
    dispatch = d.effective_dispatch(operation.dispatcher, operation.dispatcher_rules)
    criteria = None
    if dispatch.dispatcher == d.QUERY_ARGS and dispatch.rules is not None:
        criteria = query_args_criteria_from_text(dispatch.rules, body)
    elif dispatch.dispatcher == d.JSON_BODY:
        criteria = json_body_criteria(dispatch.rules, body)
    return d.lookup_response(responses, criteria, dispatch, any_last=True)


def _grpc_status(status: str | None) -> grpc.StatusCode:
    """A null, "0" or HTTP-range (200-599) status is OK; another number is that gRPC code."""
    if status is None or status.strip() == "0":
        return grpc.StatusCode.OK
    try:
        code = int(status)
    except ValueError:
        return grpc.StatusCode.UNKNOWN
    if 200 <= code < 600:
        return grpc.StatusCode.OK
    return next((c for c in grpc.StatusCode if c.value[0] == code), grpc.StatusCode.UNKNOWN)


def _refusal(status: grpc.StatusCode, description: str) -> grpc.RpcMethodHandler:
    """A handler that answers every call with this error (Microcks registers every method)."""

    def refuse(request: bytes, context: grpc.ServicerContext) -> bytes:
        context.abort(status, description)
        return b""

    return grpc.unary_unary_rpc_method_handler(refuse)


class MockHandler(grpc.GenericRpcHandler):
    """GrpcMockHandlerRegistry#lookupMethod: every method name is handled, errors included."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        full_method = handler_call_details.method.lstrip("/")
        if "/" not in full_method:
            return None
        if "." not in full_method.split("/", 1)[0]:
            # MockedUnaryMethod: substring(0, lastIndexOf(".")) throws for a package-less service.
            return _refusal(grpc.StatusCode.UNKNOWN, f"No package in {full_method}")
        name, version, operation_name = service_identity(full_method)
        snapshot = self.store.snapshot_by_name(name, version)
        if snapshot is None:
            return _refusal(
                grpc.StatusCode.UNIMPLEMENTED, f"No GRPC Service def found for {full_method}"
            )
        operation = snapshot.service.operation(operation_name)
        if operation is None:
            return _refusal(
                grpc.StatusCode.UNIMPLEMENTED, f"No valid operation found for {full_method}"
            )
        descriptor = snapshot.service.resources.get(PROTOBUF_DESCRIPTOR)
        if not isinstance(descriptor, bytes):
            return _refusal(
                grpc.StatusCode.FAILED_PRECONDITION,
                "No pre-processed Protobuf binary descriptor found",
            )
        input_class = _message_class(descriptor, (operation.input_name or "").lstrip("."))
        output_class = _message_class(descriptor, (operation.output_name or "").lstrip("."))

        def invoke(request: Any, context: grpc.ServicerContext) -> Any:
            body = json_format.MessageToJson(request)
            response = find_response(snapshot, operation, body)
            if response is None:
                context.abort(
                    grpc.StatusCode.NOT_FOUND, "No response found for the GRPC input request"
                )
            status = _grpc_status(response.status)
            if status != grpc.StatusCode.OK:
                context.abort(status, response.content or "Mocked response status code")
            try:
                return json_format.Parse(response.content or "{}", output_class())
            except json_format.ParseError as exc:
                context.abort(grpc.StatusCode.UNKNOWN, str(exc))

        return grpc.unary_unary_rpc_method_handler(
            invoke,
            request_deserializer=input_class.FromString,
            response_serializer=lambda message: message.SerializeToString(),
        )


def start_grpc_server(store: Store, host: str, port: int) -> tuple[grpc.Server, int]:
    """A plain-text gRPC server on host:port (0 picks a free port); returns it and its port."""
    # No SO_REUSEPORT: a second server on the same port must fail, not share it silently.
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4), options=[("grpc.so_reuseport", 0)]
    )
    server.add_generic_rpc_handlers((MockHandler(store),))
    try:
        bound = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError:
        bound = 0
    if bound == 0:
        server.stop(grace=None)
        raise RuntimeError(f"the gRPC mock server could not bind {host}:{port}")
    server.start()
    return server, bound
