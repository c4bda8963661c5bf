"""How microcks.yaml problems are worded for an operator: schema errors, YAML nodes, values shown."""

from __future__ import annotations

import base64
import datetime
import difflib
import json
import math
import re
from collections.abc import Mapping
from typing import Any

import jsonschema
import yaml

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TAG = "tag:yaml.org,2002:"

Path_ = tuple[str | int, ...]  # a location in the document: keys and list indexes


class _Invalid:
    """Stands for a value YAML could not construct; no schema type accepts it."""


def _message(error: jsonschema.ValidationError) -> str:
    """The operator's message for one schema error: the rule's x-message, what was found."""
    schema = error.schema if isinstance(error.schema, dict) else {}
    text = schema.get("x-message")
    if error.validator == "type":
        text = schema.get("x-type-message", text)
    if error.validator == "const":
        return f"must be '{error.validator_value}', found {_show(error.instance)}"
    if text is None:
        return "is not valid here"  # jsonschema's own text may echo a secret-bearing value
    if error.validator in ("type", "minItems") or schema.get("x-show-value"):
        return f"{text}, found {_show(error.instance)}"
    return text


def _near_miss(name: str, instance: Any, schema: Mapping[str, Any]) -> str:
    """`, found unknown key 'pth' (did you mean 'path'?)` when an unknown key is close to `name`."""
    known = schema.get("properties", {})
    unknown = [k for k in instance if isinstance(k, str) and k not in known]
    close = difflib.get_close_matches(name, unknown, n=1, cutoff=0.6)
    if not close:
        return ""
    return f"; found unknown key '{_escape(close[0])}' (did you mean '{name}'?)"


def _field(at: Path_) -> str | None:
    out = ""
    for part in at:
        out += f"[{part}]" if isinstance(part, int) else (f".{_escape(part)}" if out else part)
    return out or None


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _is_str(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == _TAG + "str"


def _display_key(node: yaml.Node) -> str:
    return node.value if isinstance(node, yaml.ScalarNode) else f"<{_kind(node)}>"


def _kind(value: Any) -> str:
    if isinstance(value, yaml.MappingNode | dict):
        return "a mapping"
    if isinstance(value, yaml.SequenceNode | list):
        items = value.value if isinstance(value, yaml.Node) else value
        return "an empty list" if not items else "a list"
    if isinstance(value, yaml.Node):
        return f"a value tagged {value.tag}"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, datetime.date):
        return "a date"
    if isinstance(value, bytes):
        return "binary data"
    return "a value YAML could not read" if isinstance(value, _Invalid) else "a value"


def _show(value: Any) -> str:
    """A short rendering of a scalar for messages (long values cut, credentials never shown)."""
    if isinstance(value, str):
        if "@" in value:
            return "a string"
        shown = value if len(value) <= 80 else value[:77] + "..."
        return f"'{_escape(shown)}'"
    if isinstance(value, bool | int | float):
        return f"{_kind(value)} {json.dumps(value)}"
    return _kind(value)


def _escape(text: str) -> str:
    """Control characters written as escapes, so each message stays on one line."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def _jsonable(value: Any) -> Any:
    """Plain JSON data (str keys, finite floats, ISO dates) so the entry hashes canonically."""
    if isinstance(value, dict):
        return {
            k if isinstance(k, str) else json.dumps(_jsonable(k)): _jsonable(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, set):
        return sorted((_jsonable(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)
