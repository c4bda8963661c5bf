"""The JSON Schema of microcks.yaml, shipped in the package, and the validators built from it."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from importlib import resources
from typing import Any

import jsonschema


def config_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of microcks.yaml, shipped inside the package."""
    return json.loads(_schema_text())


@functools.cache
def _schema_text() -> str:
    return resources.files("microcks_pipeline").joinpath("schema/microcks.schema.json").read_text()


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    """The schema with unknown keys made visible (they come back as warnings, not errors) and
    its local `$ref`s inlined (the schema is not recursive; a lookup per use costs more than
    the rule it finds)."""
    schema = config_schema()
    return jsonschema.Draft202012Validator(_closed(_inlined(schema, schema["$defs"])))


def _inlined(schema: Any, defs: Mapping[str, Any]) -> Any:
    """`schema` with every `{"$ref": "#/$defs/<name>"}` replaced by that definition."""
    if isinstance(schema, list):
        return [_inlined(s, defs) for s in schema]
    if not isinstance(schema, dict):
        return schema
    ref = schema.get("$ref", "")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return _inlined(defs[ref.removeprefix("#/$defs/")], defs)
    return {k: _inlined(v, defs) for k, v in schema.items() if k != "$defs"}


@functools.cache
def _path_validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(config_schema()["$defs"]["path"])


def _closed(schema: Any) -> Any:
    """A copy where every object schema with `properties` refuses other keys."""
    if isinstance(schema, list):
        return [_closed(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _closed(v) for k, v in schema.items()}
    if "properties" in out:
        out.setdefault("additionalProperties", False)
    return out
