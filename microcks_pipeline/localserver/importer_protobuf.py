"""gRPC `.proto` importer as Microcks' ProtobufImporter: the proto is compiled with protoc into a
FileDescriptorSet (kept to serve calls), one GRPC service per service of the uploaded file."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

from google.protobuf import descriptor_pb2

from . import dispatch as d
from .importers import Exchange, ImportRejected, ParsedService
from .model import Operation, Service

PROTO_FILE = "uploaded.proto"
PROTOBUF_DESCRIPTOR = "PROTOBUF_DESCRIPTOR"
# FieldDescriptorProto types that are not "scalar" for Microcks (isScalarType): message, group, bytes.
_NON_SCALAR = {
    descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
    descriptor_pb2.FieldDescriptorProto.TYPE_GROUP,
    descriptor_pb2.FieldDescriptorProto.TYPE_BYTES,
}
_PACKAGE = re.compile(r"^\s*package\s+([\w.]+)\s*;", re.MULTILINE)


def version_of_package(package: str) -> str:
    """`org.acme` -> `org.acme`, `org.acme.v1` -> `v1`: the last segment from 3 segments on."""
    parts = package.split(".")
    return parts[-1] if len(parts) > 2 else package


def compile_proto(text: str) -> bytes:
    """A serialized FileDescriptorSet (with imports) of the proto text, as Protoc.runProtoc gives."""
    import grpc_tools  # only to locate the well-known .proto files it ships

    includes = Path(grpc_tools.__file__).parent / "_proto"
    with tempfile.TemporaryDirectory(prefix="microcks-proto-") as tmp:
        # Microcks moves the file under its package path so relative imports resolve the same way.
        package = _PACKAGE.search(text)
        relative = Path(*package.group(1).split(".")) / PROTO_FILE if package else Path(PROTO_FILE)
        (Path(tmp) / relative).parent.mkdir(parents=True, exist_ok=True)
        (Path(tmp) / relative).write_text(text, encoding="utf-8")
        out = Path(tmp) / "descriptor.pb"
        command = [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"--proto_path={tmp}",
            f"--proto_path={includes}",
            "--include_imports",
            f"--descriptor_set_out={out}",
            relative.as_posix(),
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0 or not out.exists():
            detail = done.stderr.strip().replace(tmp + "/", "")
            raise ImportRejected(f"Protobuf schema file parsing error on {PROTO_FILE}: {detail}")
        return out.read_bytes()


class ProtobufImporter:
    def __init__(self, text: str) -> None:
        self.descriptor = compile_proto(text)
        self.files = descriptor_pb2.FileDescriptorSet.FromString(self.descriptor)

    def services(self) -> list[ParsedService]:
        uploaded = self.files.file[-1]  # protoc lists the uploaded file after its imports
        messages = {}
        for file in self.files.file:
            prefix = f".{file.package}." if file.package else "."
            for message in file.message_type:
                messages[prefix + message.name] = message
        results = []
        for service in uploaded.service:
            full_name = f"{uploaded.package}.{service.name}" if uploaded.package else service.name
            operations = []
            for method in service.method:
                operation = Operation(
                    name=method.name, input_name=method.input_type, output_name=method.output_type
                )
                message = messages.get(method.input_type)
                fields = list(message.field) if message is not None else []
                if fields and all(f.type not in _NON_SCALAR for f in fields):
                    operation.dispatcher = d.QUERY_ARGS
                    operation.dispatcher_rules = " && ".join(f.name for f in fields)
                operations.append(operation)
            results.append(
                ParsedService(
                    name=full_name,
                    version=version_of_package(uploaded.package),
                    type="GRPC",
                    metadata=None,
                    operations=operations,
                    xml_ns=uploaded.package,
                    resources={PROTOBUF_DESCRIPTOR: self.descriptor},
                )
            )
        return results

    def messages(self, service: Service, operation: Operation) -> list[Exchange]:
        return []  # a proto carries no examples
