"""JSON/YAML artifact documents: parse one mapping safely, render it back in its own format.

The kinds (kinds/) stamp identities into these; this module knows no kind. Input is untrusted:
YAML goes through yamlio's caps, dates stay the text written, output has no anchors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from microcks_pipeline.core import yamlio
from microcks_pipeline.core.errors import ConfigError


class _Loader(yaml.SafeLoader):
    """Safe loader that keeps dates as the text written: re-dumping a datetime would change
    how example values read."""


_Loader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)


# libyaml's emitter when present: stamping runs for every mock of every entity on each pass
_BaseDumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Dumper(_BaseDumper):  # type: ignore[valid-type,misc]
    """Never emits anchors/aliases: the expanded output is what Microcks should see."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


@dataclass(frozen=True)
class ParsedDoc:
    """A parsed artifact: one mapping and the format it came in."""

    data: dict[str, Any]
    fmt: Literal["json", "yaml"]


def text_of(content: bytes) -> str:
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError("not UTF-8 text") from None


def parse_document(content: bytes) -> ParsedDoc | None:
    """The single mapping in `content`, or None when it is not one (several documents, a list,
    a scalar). Raises ConfigError when it is neither valid JSON nor valid YAML."""
    text = text_of(content)
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
            return ParsedDoc(data, "json") if isinstance(data, dict) else None
        except (ValueError, RecursionError):
            pass  # a YAML flow mapping is not JSON; try YAML
    try:
        nodes = yamlio.compose_all(text)
        docs = [_construct(n) for n in nodes]
    except yamlio.YamlError as exc:
        where = f" (line {exc.line})" if exc.line else ""
        raise ConfigError(f"unparseable YAML/JSON{where}: {exc}") from None
    if len(docs) != 1 or not isinstance(docs[0], dict):
        return None
    return ParsedDoc(docs[0], "yaml")


def _construct(node: yaml.Node) -> Any:
    loader = _Loader("")
    try:
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise yamlio.YamlError(f"invalid YAML value: {exc.problem or exc}", line) from None
    except RecursionError:
        raise yamlio.YamlError("YAML nests too deeply", node.start_mark.line + 1) from None
    finally:
        loader.dispose()


def render(data: dict[str, Any], fmt: Literal["json", "yaml"]) -> bytes:
    """`data` as UTF-8 JSON (indented) or block YAML, keys in their order, one key a line."""
    try:
        return _dump(data, fmt)
    except RecursionError:  # parsers accept ~1000 levels; Python's encoders recurse per level
        raise ConfigError("document is nested too deeply to stamp") from None


def _dump(data: dict[str, Any], fmt: Literal["json", "yaml"]) -> bytes:
    if fmt == "json":
        return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    text = yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=1 << 30,  # no folding: every key stays on the line it names
    )
    return text.encode("utf-8")
