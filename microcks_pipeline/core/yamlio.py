"""Safe YAML loading for untrusted repository files: size cap and alias-expansion cap.

PyYAML's safe loader shares aliased objects, so a "billion laughs" document loads cheaply and
explodes later when it is serialized or walked. We compose the node graph first and count the
nodes it would expand to; past the cap the file is refused before any Python object is built.
"""

from __future__ import annotations

from typing import Any

import yaml

from microcks_pipeline.core.errors import YamlError

__all__ = ["YamlError", "compose_all", "construct", "load_all", "load_one"]

# libyaml's parser when present: the catalog pass parses thousands of small files per tick.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_YAML_BYTES = 2 * 1024 * 1024  # the same limit Microcks puts on an upload
MAX_EXPANDED_NODES = 200_000


def _expanded_size(node: yaml.Node, memo: dict[int, int], limit: int) -> int:
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = limit + 1  # a cycle counts as infinite
    total = 1
    if isinstance(node, yaml.SequenceNode):
        for child in node.value:
            total += _expanded_size(child, memo, limit)
            if total > limit:
                break
    elif isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            total += _expanded_size(k, memo, limit) + _expanded_size(v, memo, limit)
            if total > limit:
                break
    memo[key] = total
    return total


def compose_all(text: str | bytes, *, max_bytes: int = MAX_YAML_BYTES) -> list[yaml.Node]:
    """Parse into node graphs (which keep line marks), refusing oversized or bomb documents."""
    size = len(text.encode("utf-8") if isinstance(text, str) else text)
    if size > max_bytes:
        raise YamlError(f"file is {size} bytes, over the {max_bytes} byte limit")
    try:
        nodes = [n for n in yaml.compose_all(text, Loader=_Loader) if n is not None]
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise YamlError(f"malformed YAML: {exc.problem or exc}", line) from None
    except yaml.YAMLError as exc:
        raise YamlError(f"malformed YAML: {exc}") from None
    for node in nodes:
        try:
            size = _expanded_size(node, {}, MAX_EXPANDED_NODES)
        except RecursionError:  # libyaml accepts ~1000 levels; our walk recurses per level
            raise YamlError("YAML nests too deeply", node.start_mark.line + 1) from None
        if size > MAX_EXPANDED_NODES:
            raise YamlError(
                f"YAML expands to more than {MAX_EXPANDED_NODES} nodes (alias bomb?)",
                node.start_mark.line + 1,
            )
    return nodes


def construct(node: yaml.Node) -> Any:
    """Build plain Python values from a node produced by `compose_all`."""
    loader = _Loader("")
    try:
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise YamlError(f"invalid YAML value: {exc.problem or exc}", line) from None
    except RecursionError:
        raise YamlError("YAML nests too deeply", node.start_mark.line + 1) from None
    finally:
        loader.dispose()


def new_constructor() -> Any:
    """A safe constructor for single nodes of a composed graph (`construct_object`); the
    caller calls `dispose()` when done."""
    return _Loader("")


def load_all(text: str | bytes, *, max_bytes: int = MAX_YAML_BYTES) -> list[Any]:
    """Every document of a multi-document file, as plain Python values."""
    return [construct(n) for n in compose_all(text, max_bytes=max_bytes)]


def load_one(text: str | bytes, *, max_bytes: int = MAX_YAML_BYTES) -> Any:
    """A single-document file; an empty file gives None."""
    docs = load_all(text, max_bytes=max_bytes)
    if len(docs) > 1:
        raise YamlError("expected one YAML document, found several")
    return docs[0] if docs else None
