"""Stamping: write the Microcks service name and version into artifacts, keeping them importable.

Microcks picks an importer by reading the uploaded text line by line; the first line matching
one of its rules wins (reference/microcks/NOTES.md §1). So the stamped output puts the
deciding key first: `openapi:`/`swagger:` for main artifacts, `kind:` for APIExamples and
APIMetadata (whose rule is checked after the OpenAPI one, and only ever matches the YAML form
`kind: APIExamples`, never JSON). Input is untrusted: YAML goes through yamlio's caps.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from microcks_pipeline.core import yamlio
from microcks_pipeline.core.errors import ConfigError

SECONDARY_KINDS = ("APIExamples", "APIMetadata")


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


def _text(content: bytes) -> str:
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError("not UTF-8 text") from None


def parse_document(content: bytes) -> ParsedDoc | None:
    """The single mapping in `content`, or None when it is not one (several documents, a list,
    a scalar). Raises ConfigError when it is neither valid JSON nor valid YAML."""
    text = _text(content)
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


def api_format(data: dict[str, Any]) -> Literal["openapi", "swagger"] | None:
    """`openapi` for OpenAPI 3.x, `swagger` for Swagger 2.0, None otherwise."""
    openapi = data.get("openapi")
    if isinstance(openapi, (str, int, float)) and not isinstance(openapi, bool):
        if str(openapi).startswith("3"):
            return "openapi"
    swagger = data.get("swagger")
    if isinstance(swagger, (str, float)) and str(swagger) == "2.0":
        return "swagger"
    return None


def parse_main(content: bytes) -> ParsedDoc:
    """Parse and check a main artifact once (the loader stamps it for several mocks)."""
    doc = parse_document(content)
    if doc is None or api_format(doc.data) is None:
        raise ConfigError("not an OpenAPI 3 or Swagger 2.0 document")
    info = doc.data.get("info")
    if info is not None and not isinstance(info, dict):
        raise ConfigError("field 'info' is not a mapping")
    return doc


def render_main(doc: ParsedDoc, name: str, version: str) -> bytes:
    """The stamped main artifact, in its input format, with its version key first."""
    key = api_format(doc.data)
    assert key is not None
    info = dict(doc.data.get("info") or {})
    info["title"] = name
    info["version"] = version
    out = {key: doc.data[key]}
    out.update((k, v) for k, v in doc.data.items() if k != key)
    out["info"] = info
    return _render(out, doc.fmt)


def stamp_main(content: bytes, name: str, version: str) -> bytes:
    """Set info.title/info.version of an OpenAPI 3 or Swagger 2 document; ConfigError if unstampable."""
    return render_main(parse_main(content), name, version)


def secondary_kind(doc: ParsedDoc | None) -> str | None:
    kind = doc.data.get("kind") if doc is not None else None
    return kind if kind in SECONDARY_KINDS else None


def render_secondary(doc: ParsedDoc, name: str, version: str) -> bytes:
    """A stamped APIExamples/APIMetadata document, always YAML, `kind:` on the first line."""
    metadata = doc.data.get("metadata")
    metadata = dict(metadata) if isinstance(metadata, dict) else {}
    metadata["name"] = name
    metadata["version"] = version
    out: dict[str, Any] = {"kind": doc.data["kind"]}
    out.update((k, v) for k, v in doc.data.items() if k != "kind")
    out["metadata"] = metadata
    return _render(out, "yaml")


def stamp_secondary(content: bytes, name: str, version: str) -> tuple[bytes, bool]:
    """(stamped YAML, True) for APIExamples/APIMetadata; (content unchanged, False) otherwise."""
    try:
        doc = parse_document(content)
    except ConfigError:
        return content, False
    if secondary_kind(doc) is None:
        return content, False
    assert doc is not None
    return render_secondary(doc, name, version), True


def _render(data: dict[str, Any], fmt: Literal["json", "yaml"]) -> bytes:
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
