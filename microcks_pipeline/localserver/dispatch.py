"""Dispatch criteria and resource paths computed exactly as Microcks' DispatchCriteriaHelper and URIBuilder do."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Protocol, TypeVar
from urllib.parse import quote, quote_plus, unquote_plus

URI_PARTS = "URI_PARTS"
URI_PARAMS = "URI_PARAMS"
URI_ELEMENTS = "URI_ELEMENTS"
QUERY_HEADER = "QUERY_HEADER"
QUERY_ARGS = "QUERY_ARGS"
JSON_BODY = "JSON_BODY"
QUERY_MATCH = "QUERY_MATCH"
FALLBACK = "FALLBACK"
PROXY_FALLBACK = "PROXY_FALLBACK"

Pairs = list[tuple[str, str]]  # a Guava multimap: ordered (key, value) entries


class _Named(Protocol):
    name: str
    dispatch_criteria: str | None


R = TypeVar("R", bound=_Named)


@dataclass(frozen=True)
class FallbackSpec:
    dispatcher: str | None
    dispatcher_rules: str | None
    fallback: str | None


def parse_fallback(rules: str | None) -> FallbackSpec | None:
    """FallbackSpecification.buildFromJsonString; None where Jackson would fail."""
    if rules is None:
        return None
    try:
        data = json.loads(rules)
    except ValueError:
        return None
    allowed = {"dispatcher", "dispatcherRules", "fallback"}
    if not isinstance(data, dict) or not set(data) <= allowed:
        return None  # Jackson fails on unknown properties by default
    values = {}
    for key in allowed:
        value = data.get(key)
        if isinstance(value, (dict, list)):
            return None
        values[key] = None if value is None else _scalar_text(value)
    return FallbackSpec(values["dispatcher"], values["dispatcherRules"], values["fallback"])


@dataclass(frozen=True)
class Dispatch:
    """The dispatcher and rules an invocation uses: a FALLBACK hands over its wrapped ones."""

    dispatcher: str | None
    rules: str | None
    fallback: FallbackSpec | None


def effective_dispatch(dispatcher: str | None, rules: str | None) -> Dispatch:
    """getFallbackIfAny + getDispatcher/getDispatcherRules of Microcks' invocation processors."""
    fallback = parse_fallback(rules) if dispatcher == FALLBACK else None
    if fallback is not None:
        return Dispatch(fallback.dispatcher, fallback.dispatcher_rules, fallback)
    return Dispatch(dispatcher, rules, None)


def lookup_response(
    responses: list[R], criteria: str | None, dispatch: Dispatch, *, any_last: bool
) -> R | None:
    """Response lookup of the GraphQL and gRPC processors: by dispatch criteria, by name equal
    to the criteria, the fallback's named response, then (when `any_last`) the first one."""
    fallback_name = dispatch.fallback.fallback if dispatch.fallback is not None else None
    for candidates in (
        [r for r in responses if r.dispatch_criteria == criteria],
        [r for r in responses if r.name == criteria],
        [r for r in responses if fallback_name is not None and r.name == fallback_name],
        responses if any_last else [],
    ):
        if candidates:
            return candidates[0]
    return None


def _scalar_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def root_dispatcher(dispatcher: str | None, rules: str | None) -> tuple[str | None, str | None]:
    """extractDispatcherWithRules: a FALLBACK/PROXY_FALLBACK hands over its wrapped dispatcher."""
    if dispatcher in (FALLBACK, PROXY_FALLBACK):
        spec = parse_fallback(rules)
        if spec is not None:
            return spec.dispatcher, spec.dispatcher_rules
    return dispatcher, rules


def url_has_parts(url: str) -> bool:
    return "/:" in url or "/{" in url


_CURLY_PART = re.compile(r"(\{[^\}]+\})")
_COLON_PART_SLASHED = re.compile(r"(/:[^:^/]+)")
_COLON_PART = re.compile(r"(:[^:^/]+)")


def _fullmatch_groups(pattern: str, text: str) -> list[str] | None:
    try:
        match = re.fullmatch(pattern, text)
    except re.error:
        return None
    return list(match.groups()) if match else None


def extract_parts_from_uri_pattern(pattern: str) -> str:
    """Parts rule of a path pattern: `/pastry/{name}` -> `name`, several joined by ` && `."""
    if "?" in pattern:
        pattern = pattern[: pattern.index("?")]
    if "{{" in pattern and "}}" in pattern:
        pattern = pattern.replace("{{", "").replace("}}", "")
    pattern = pattern.replace("$", "")
    if "/{" in pattern:
        parts_pattern = _CURLY_PART.sub(lambda _m: r"\{(.+)\}", pattern)
    elif "/:" in pattern:
        parts_pattern = _COLON_PART_SLASHED.sub(lambda _m: "/:(.+)", pattern)
    else:
        return ""
    groups = _fullmatch_groups(parts_pattern, pattern)
    return " && ".join(groups) if groups else ""


def _rule_mentions(rule: str, key: str) -> bool:
    # Microcks' word-boundary test that also refuses a hyphen next to the key.
    try:
        return re.search(r"(^|[^-])\b" + key + r"\b([^-]|$)", rule) is not None
    except re.error:
        return False


def _sorted_unique(entries: Pairs) -> Pairs:
    # Guava's TreeMultimap: keys and values sorted, duplicate entries collapsed.
    return sorted(set(entries))


def build_from_parts_map(parts_rule: str, parts: Pairs | None) -> str:
    if "??" in parts_rule:
        parts_rule = parts_rule.split("??")[0]
    if not parts:
        return ""
    return "".join(
        f"/{key}={value}" for key, value in _sorted_unique(parts) if _rule_mentions(parts_rule, key)
    )


def build_from_params_map(params_rule: str, params: Pairs | None) -> str:
    if "??" in params_rule:
        pieces = params_rule.split("??")
        params_rule = pieces[1] if len(pieces) > 1 else ""
    if not params:
        return ""
    return "".join(
        f"?{key}={value}"
        for key, value in _sorted_unique(params)
        if _rule_mentions(params_rule, key)
    )


def extract_map_from_uri_pattern(pattern: str, real_uri: str) -> dict[str, str]:
    """Path variables of a real URI against the operation's pattern (`{x}` or `:x`), sorted by name."""
    pattern = pattern.replace("+", " ")
    real_uri = real_uri.replace("+", " ")
    if "/{" in pattern:
        parts_pattern = _CURLY_PART.sub(lambda _m: r"\{(.+)\}", pattern)
        values_pattern = _CURLY_PART.sub(lambda _m: "(.+)", pattern)
    else:
        parts_pattern = _COLON_PART.sub(lambda _m: r"\:(.+)", pattern)
        values_pattern = _COLON_PART.sub(lambda _m: "(.+)", pattern)
    if "$" in pattern:
        parts_pattern = parts_pattern.replace("$", r"\$")
        values_pattern = values_pattern.replace("$", r"\$")
    names = _fullmatch_groups(parts_pattern, pattern)
    values = _fullmatch_groups(values_pattern, real_uri)
    if names is None or values is None or len(names) != len(values):
        return {}
    return dict(sorted(zip(names, values, strict=True)))


def extract_from_uri_pattern(rules: str, pattern: str, real_uri: str) -> str:
    """URI_PARTS criteria of a request: `/k=v` for each rule part, sorted by name."""
    if "??" in rules:
        rules = rules.split("??")[0]
    wanted = {piece.strip() for piece in rules.split("&&")}
    if "?" in real_uri:
        real_uri = real_uri[: real_uri.index("?")]
    found = extract_map_from_uri_pattern(pattern, real_uri)
    return "".join(f"/{key}={value}" for key, value in found.items() if key in wanted)


def _java_url_decode(text: str) -> str:
    # java.net.URLDecoder rejects malformed escapes; the caller turns that into a 500.
    if re.search(r"%(?![0-9A-Fa-f]{2})", text):
        raise ValueError("URLDecoder: Illegal hex characters in escape (%) pattern")
    return unquote_plus(text)


def extract_from_uri_params(rules: str, full_uri: str) -> str:
    """URI_PARAMS criteria: `?k=v` for each query parameter the rules mention (substring test)."""
    entries: Pairs = []
    if "?" in full_uri and "=" in full_uri:
        for parameter in full_uri[full_uri.index("?") + 1 :].split("&"):
            pair = _java_split(parameter, "=")
            if len(pair) > 1:
                key = _java_url_decode(pair[0])
                value = _java_url_decode(pair[1])
                if key in rules:
                    entries.append((key, value))
    return "".join(f"?{key}={value}" for key, value in _sorted_unique(entries) if key in rules)


def extract_from_param_map(rules: str, params: dict[str, str]) -> str:
    return "".join(f"?{key}={params[key]}" for key in sorted(params) if key in rules)


def _java_split(text: str, separator: str) -> list[str]:
    # String.split drops trailing empty strings.
    pieces = text.split(separator)
    while pieces and pieces[-1] == "":
        pieces.pop()
    return pieces or [""]


def encode_path(value: str) -> str:
    """Spring's UriUtils.encodePath."""
    return quote(value, safe="-._~!$&'()*+,;=:@/")


def encode_value(value: str) -> str:
    """java.net.URLEncoder.encode (form encoding)."""
    return quote_plus(value, safe="*").replace("~", "%7E")


def build_uri_from_pattern(pattern: str, parameters: Pairs | None) -> str:
    """URIBuilder.buildURIFromPattern over a multimap, keys in first-seen order."""
    if not parameters:
        return pattern
    keys: list[str] = []
    for key, _ in parameters:
        if key not in keys:
            keys.append(key)
    for key in keys:
        for name, value in parameters:
            if name != key:
                continue
            if "{" + key + "}" in pattern:
                pattern = pattern.replace("{" + key + "}", encode_path(value))
            elif "/:" + key in pattern:
                pattern = pattern.replace(":" + key, encode_path(value))
            else:
                if "?" not in pattern:
                    pattern += "?"
                if "=" in pattern:
                    pattern += "&"
                pattern += key + "=" + encode_value(value)
    return pattern
