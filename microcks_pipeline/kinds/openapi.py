"""OpenAPI 3.0/3.1 and Swagger 2: detection, info.title/info.version stamping, the dispatchers
Microcks' OpenAPIImporter sets, and `info.x-microcks` labels. Both are served as REST under
`/rest/{name}/{version}/…`.

Microcks picks the importer from the first line matching one of its rules, so the stamped
output puts the `openapi:`/`swagger:` key first (a description mentioning `swagger:` above it
would otherwise turn an OpenAPI 3 file into Swagger).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

from microcks_pipeline.core.desired import ArtifactFacts, Dispatch
from microcks_pipeline.core.documents import ParsedDoc, render
from microcks_pipeline.core.errors import ConfigError
from microcks_pipeline.kinds.base import Kind, Parsed, as_text, json_or_yaml, texts

_OPENAPI_3 = re.compile(r".*['\"]?openapi['\"]?\s*:\s*['\"]?[3.].*")
_SWAGGER = re.compile(r".*['\"]?swagger['\"]?\s*:\s*.*")
_VERBS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def api_format(data: Mapping[str, Any]) -> Literal["openapi", "swagger"] | None:
    """`openapi` for OpenAPI 3.x, `swagger` for Swagger 2.0, None otherwise."""
    openapi = data.get("openapi")
    if isinstance(openapi, (str, int, float)) and not isinstance(openapi, bool):
        if str(openapi).startswith("3"):
            return "openapi"
    swagger = data.get("swagger")
    if isinstance(swagger, (str, float)) and str(swagger) == "2.0":
        return "swagger"
    return None


def render_info(doc: ParsedDoc, key: str, name: str, version: str) -> bytes:
    """`doc` with info.title/info.version set and `key` first, in its input format."""
    info = dict(doc.data.get("info") or {})
    info["title"] = name
    info["version"] = version
    out = {key: doc.data[key]}
    out.update((k, v) for k, v in doc.data.items() if k != key)
    out["info"] = info
    return render(out, doc.fmt)


def check_info(doc: ParsedDoc) -> None:
    info = doc.data.get("info")
    if info is not None and not isinstance(info, dict):
        raise ConfigError("field 'info' is not a mapping")


def x_microcks(doc: Mapping[str, Any]) -> tuple[dict[str, str] | None, dict[str, str] | None]:
    """Labels and annotations `info.x-microcks` sets (None, None when it is absent)."""
    info = doc.get("info")
    extension = info.get("x-microcks") if isinstance(info, dict) else None
    if not isinstance(extension, dict):
        return None, None
    return texts(extension.get("labels")), texts(extension.get("annotations"))


class _OpenAPIKind(Kind):
    service_type = "REST"
    key: ClassVar[Literal["openapi", "swagger"]]

    def parse(self, content: bytes) -> Parsed:
        doc = json_or_yaml(content, self.title)
        if api_format(doc.data) != self.key:
            raise ConfigError(f"not an {self.title} document")
        check_info(doc)
        return Parsed(self, doc, doc.fmt, ".json" if doc.fmt == "json" else ".yaml")

    def stamp(self, parsed: Parsed, name: str, version: str) -> bytes:
        return render_info(parsed.value, self.key, name, version)

    def facts(self, parsed: Parsed) -> ArtifactFacts:
        labels, annotations = x_microcks(parsed.value.data)
        return ArtifactFacts(
            kind=self.name,
            purpose=self.purpose,
            service_type=self.service_type,
            dispatchers=main_dispatchers(parsed.value.data),
            labels=labels,
            annotations=annotations,
        )


class OpenAPI(_OpenAPIKind):
    name = "openapi"
    title = "OpenAPI 3"
    key = "openapi"

    def matches(self, line: str) -> bool:
        return _OPENAPI_3.fullmatch(line) is not None


class Swagger(_OpenAPIKind):
    name = "swagger"
    title = "Swagger 2.0"
    key = "swagger"

    def matches(self, line: str) -> bool:
        return _SWAGGER.fullmatch(line) is not None


OPENAPI = OpenAPI()
SWAGGER = Swagger()


# ---- Microcks' dispatchers of a main artifact (OpenAPIImporter.extractOperations) --------------


def main_dispatchers(doc: Mapping[str, Any]) -> dict[str, Dispatch]:
    """Dispatcher and rules per operation as a main upload sets them: `x-microcks-operation`,
    else Microcks' default from the path parts and query parameters."""
    result: dict[str, Dispatch] = {}
    paths = doc.get("paths") if isinstance(doc.get("paths"), dict) else {}
    for path_name, path_item in paths.items():
        path_item = _follow(doc, path_item)
        for verb, operation in path_item.items() if isinstance(path_item, dict) else ():
            if verb not in _VERBS:
                continue
            operation = operation if isinstance(operation, dict) else {}
            extension = operation.get("x-microcks-operation")
            extension = extension if isinstance(extension, dict) else {}
            dispatcher = as_text(extension["dispatcher"]) if "dispatcher" in extension else None
            rules = (
                as_text(extension["dispatcherRules"]) if "dispatcherRules" in extension else None
            )
            if dispatcher is None:
                dispatcher, rules = _default_dispatch(doc, operation, str(path_name), rules)
            result[f"{verb.upper()} {str(path_name).strip()}"] = (dispatcher, rules)
    return result


def _follow(doc: Mapping[str, Any], node: Any) -> Any:
    """A local `$ref` followed once (Microcks' followRefIfAny); anything else as it is."""
    if not (isinstance(node, dict) and isinstance(node.get("$ref"), str)):
        return node
    ref = node["$ref"]
    if not ref.startswith("#/"):
        return {}
    target: Any = doc
    for token in ref[2:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        target = target.get(token) if isinstance(target, dict) else None
    return target if target is not None else {}


def _default_dispatch(
    doc: Mapping[str, Any], operation: Mapping[str, Any], path_name: str, rules: str | None
) -> Dispatch:
    parameters = [_follow(doc, p) for p in operation.get("parameters") or ()]
    parameters = [p for p in parameters if isinstance(p, dict)]
    has_query = any(as_text(p.get("in")) == "query" for p in parameters)
    has_parts = "/:" in path_name or "/{" in path_name
    if has_query and has_parts:
        return "URI_ELEMENTS", uri_parts(path_name) + " ?? " + _query_rules(doc, parameters)
    if has_query:
        return "URI_PARAMS", _query_rules(doc, parameters)
    if has_parts:
        return "URI_PARTS", uri_parts(path_name)
    return None, rules


def _query_rules(doc: Mapping[str, Any], parameters: Sequence[Mapping[str, Any]]) -> str:
    """extractOperationParams: every non-path parameter, an object schema by its properties."""
    names: list[str] = []
    for parameter in parameters:
        if as_text(parameter.get("in")) == "path":
            continue
        schema = _follow(doc, parameter.get("schema"))
        schema = schema if isinstance(schema, dict) else {}
        if as_text(schema.get("type")) == "object":
            properties = schema.get("properties")
            names.append(" && ".join(properties) if isinstance(properties, dict) else "")
        else:
            names.append(as_text(parameter.get("name")) if "name" in parameter else "")
    return " && ".join(names)


def uri_parts(pattern: str) -> str:
    """DispatchCriteriaHelper.extractPartsFromURIPattern: the variable parts joined by ' && '."""
    pattern = pattern.split("?", 1)[0]
    if "{{" in pattern and "}}" in pattern:
        pattern = pattern.replace("{{", "").replace("}}", "")
    pattern = pattern.replace("$", "")
    if "/{" in pattern:
        parts_pattern = re.sub(r"(\{[^\}]+\})", lambda _: r"\{(.+)\}", pattern)
    elif "/:" in pattern:
        parts_pattern = re.sub(r"(/:[^:^/]+)", lambda _: "/:(.+)", pattern)
    else:
        return ""
    try:
        match = re.fullmatch(parts_pattern, pattern)
    except re.error:
        return ""
    return " && ".join(match.groups()) if match else ""
