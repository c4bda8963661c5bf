"""Read artifact text the way Microcks' Jackson mappers do, and render node values as Jackson's asText/toString."""

from __future__ import annotations

import json
import math
from typing import Any

import yaml


class ParseError(Exception):
    """The text is not a JSON/YAML document Jackson would read."""


MAX_COLLECTION_ALIASES = 50  # SnakeYAML's LoaderOptions default, which Jackson's YAML mapper uses
MAX_NODES = 2_000_000


class _JacksonLikeLoader(yaml.SafeLoader):
    """SafeLoader without the YAML 1.1 extras Jackson's YAML mapper does not apply.

    Like SnakeYAML it refuses more than 50 aliases to collections (the "billion laughs").
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._collection_aliases = 0

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            anchored = self.anchors.get(self.peek_event().anchor)
            if isinstance(anchored, (yaml.MappingNode, yaml.SequenceNode)):
                self._collection_aliases += 1
                if self._collection_aliases > MAX_COLLECTION_ALIASES:
                    raise ParseError(
                        "Number of aliases for non-scalar nodes exceeds the specified max="
                        f"{MAX_COLLECTION_ALIASES}"
                    )
        return super().compose_node(parent, index)


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


def _normalise(node: Any) -> Any:
    """Keys as text (Jackson field names); bounded depth and size."""
    budget = [MAX_NODES]

    def walk(value: Any, depth: int) -> Any:
        budget[0] -= 1
        if budget[0] < 0:
            raise ParseError("document too large")
        if depth > 500:
            raise ParseError("document nested too deeply")
        if isinstance(value, dict):
            return {as_text(key): walk(item, depth + 1) for key, item in value.items()}
        if isinstance(value, list):
            return [walk(item, depth + 1) for item in value]
        return value

    return walk(node, 0)


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


def at(node: Any, pointer: str) -> Any:
    """Jackson's JsonNode.at() for a pointer that is "" or starts with `/`: MISSING where it
    leads nowhere."""
    for raw in pointer[1:].split("/") if pointer else ():
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return MISSING
    return node


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
