"""JSON_BODY dispatch as Microcks' JsonEvaluationSpecification and JsonExpressionEvaluator: a JSON
pointer into the request, an operator (equals, range, regexp, size, presence) and named cases."""

from __future__ import annotations

import json
import re
from typing import Any

from .jsonnode import MISSING, as_text, at

OPERATORS = ("equals", "range", "regexp", "size", "presence")


class EvaluationFailed(Exception):
    """Where Microcks logs the JsonMappingException and dispatches with no criteria."""


def _specification(rules: str) -> tuple[str, str, dict[str, str]]:
    try:
        spec = json.loads(rules)
    except ValueError as exc:
        raise EvaluationFailed("not a JsonEvaluationSpecification") from exc
    if not isinstance(spec, dict) or not set(spec) <= {"exp", "operator", "cases"}:
        raise EvaluationFailed("not a JsonEvaluationSpecification")  # Jackson: unknown property
    operator, cases = spec.get("operator"), spec.get("cases") or {}
    if operator not in OPERATORS or not isinstance(cases, dict):
        raise EvaluationFailed("not a JsonEvaluationSpecification")
    return str(spec.get("exp") or ""), operator, {str(k): as_text(v) for k, v in cases.items()}


def json_pointer(node: Any, pointer: str) -> Any:
    """Jackson's JsonNode.at(), which refuses a pointer not starting with `/`."""
    if pointer and not pointer.startswith("/"):
        raise EvaluationFailed("Invalid input: JSON Pointer expression must start with '/'")
    return at(node, pointer)


def _range_case(number: float, cases: dict[str, str]) -> str | None:
    """foundRangeMatchingCase: `[a;b]`, `]a;b]`, `[a;b[`, `]a;b[` keys."""
    for key, value in cases.items():
        if key[:1] not in "[]" or key[-1:] not in "[]" or ";" not in key or len(key) < 3:
            continue
        low_text, high_text = key.split(";")[0][1:], key.split(";")[1][:-1]
        try:
            low, high = float(low_text), float(high_text)
        except ValueError:
            continue
        above = number >= low if key[0] == "[" else number > low
        below = number <= high if key[-1] == "]" else number < high
        if above and below:
            return value
    return cases.get("default")


def evaluate(rules: str, json_text: str | None) -> str | None:
    """The dispatch criteria JSON_BODY rules give for a JSON text; EvaluationFailed on bad input."""
    exp, operator, cases = _specification(rules)
    try:
        root = json.loads(json_text if json_text is not None else "")
    except ValueError as exc:
        raise EvaluationFailed("Exception while parsing Json payload") from exc
    node = json_pointer(root, exp)
    key = as_text(node) if not isinstance(node, (dict, list)) else ""
    if operator == "equals":
        return cases.get(key, cases.get("default"))
    if operator == "range":
        try:
            return _range_case(float(key), cases)
        except ValueError:
            return cases.get("default")
    if operator == "regexp":
        for choice, value in cases.items():
            if choice != "default" and re.fullmatch(choice, key):
                return value
    elif operator == "size":
        if isinstance(node, list):
            return _range_case(len(node), cases)
    elif operator == "presence":
        if node is not MISSING:  # a missing node's toString() is empty
            if "found" in cases:
                return cases["found"]
        elif "missing" in cases:
            return cases["missing"]
    return cases.get("default")


def json_body_criteria(rules: str | None, json_text: str | None) -> str | None:
    """Criteria, or None where Microcks catches the failure and dispatches without criteria."""
    if rules is None:
        return None
    try:
        return evaluate(rules, json_text)
    except (EvaluationFailed, re.error):
        return None
