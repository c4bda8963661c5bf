"""Read artifact text the way Microcks' Jackson mappers do, and render node values as Jackson's asText/toString."""

from __future__ import annotations

import json
import math
from typing import Any

import yaml


class ParseError(Exception):
    """The text is not a JSON/YAML document Jackson would read."""


class _JacksonLikeLoader(yaml.SafeLoader):
    """SafeLoader without the YAML 1.1 extras Jackson's YAML mapper does not apply."""


# Jackson's YAML parser leaves timestamps as text and only knows true/false as booleans.
_JacksonLikeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_bool(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    value = loader.construct_scalar(node)
    lowered = str(value).lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return value


_JacksonLikeLoader.add_constructor("tag:yaml.org,2002:bool", _construct_bool)


def split_lines(text: str) -> list[str]:
    """Lines as Java's BufferedReader.readLine sees them (\\n, \\r or \\r\\n only)."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def decode_utf8(data: bytes) -> str:
    """Decode like Java's strict UTF-8 reader; its error text is what Microcks answers."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError(f"Input length = {max(1, exc.end - exc.start)}") from exc


def load_json(text: str) -> Any:
    try:
        return _normalise(json.loads(text))
    except (ValueError, RecursionError) as exc:
        raise ParseError(str(exc)) from exc


def load_yaml(text: str) -> Any:
    """The first YAML document (Jackson's readTree reads one), keys turned to text."""
    try:
        for document in yaml.load_all(text, Loader=_JacksonLikeLoader):  # noqa: S506 - safe loader subclass
            return _normalise(document)
        return None
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        raise ParseError(str(exc)) from exc


def _normalise(node: Any, depth: int = 0) -> Any:
    if depth > 200:
        raise ParseError("document nested too deeply")
    if isinstance(node, dict):
        return {as_text(key): _normalise(value, depth + 1) for key, value in node.items()}
    if isinstance(node, list):
        return [_normalise(value, depth + 1) for value in node]
    return node


class _Missing:
    """Jackson's MissingNode: what path() returns for an absent child."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def path(node: Any, key: str) -> Any:
    """Jackson's path(key): the child, or MISSING when absent or when node is not an object."""
    if isinstance(node, dict) and key in node:
        return node[key]
    return MISSING


def as_text(node: Any) -> str:
    """Jackson's JsonNode.asText(): containers and missing nodes give "", null gives "null"."""
    if node is MISSING:
        return ""
    if node is None:
        return "null"
    if isinstance(node, bool):
        return "true" if node else "false"
    if isinstance(node, str):
        return node
    if isinstance(node, int):
        return str(node)
    if isinstance(node, float):
        return _java_double(node)
    if isinstance(node, (dict, list)):
        return ""
    return str(node)


def value_string(node: Any) -> str:
    """Microcks' getValueString: compact JSON for arrays/objects, asText for scalars."""
    if isinstance(node, (dict, list)):
        return json.dumps(node, separators=(",", ":"), ensure_ascii=False, default=str)
    return as_text(node)


def _java_double(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == int(value) and abs(value) < 1e7:
        return f"{int(value)}.0"
    return repr(value)
