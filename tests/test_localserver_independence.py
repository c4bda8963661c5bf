"""The local server is an independent implementation: it shares no code with the pipeline, and the pipeline does not use it."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "microcks_pipeline"
SERVER = PACKAGE / "localserver"
ALLOWED_THIRD_PARTY = {
    "starlette",
    "uvicorn",
    "yaml",
    "multipart",
    "python_multipart",
    # GraphQL schemas and queries, gRPC mocks and protobuf descriptors
    "graphql",
    "grpc",
    "grpc_tools",
    "google",
}


def _imports(path: Path) -> list[tuple[str, int]]:
    """(absolute module, relative level) of every import in a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.extend((alias.name, 0) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.append((node.module or "", node.level))
    return found


def test_server_imports_only_itself_the_standard_library_and_its_web_stack():
    offending = []
    for path in sorted(SERVER.glob("*.py")):
        for module, level in _imports(path):
            top = module.split(".")[0]
            if level == 1 or top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY:
                continue
            offending.append(f"{path.name}: {'.' * level}{module}")

    assert offending == []


def test_pipeline_code_does_not_import_the_server_except_the_cli():
    offending = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if SERVER in path.parents or path.relative_to(PACKAGE).parts[0] == "cli":
            continue
        for module, _level in _imports(path):
            if "localserver" in module:
                offending.append(f"{path.relative_to(PACKAGE)}: {module}")

    assert offending == []
