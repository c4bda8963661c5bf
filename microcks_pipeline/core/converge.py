"""The artifact-level plan: what to upload, tombstone and put back so that a Microcks service holds
exactly one mock's desired artifacts (reference/microcks/CONVERGE.md). Pure: no HTTP, no DB.

Microcks keeps examples per (operation, uploaded file name), drops APIMetadata dispatchers on a
main re-upload, gives examples the dispatch criteria of the dispatcher in place when they are
uploaded, and replaces labels only when an upload carries them. Hence the rule:

1. upload the main artifact; then every APIMetadata, then every APIExamples (and any other
   secondary), each group in microcks.yaml order;
2. upload a tombstone (an APIExamples with `operations: {}`) under every upload name that may
   hold examples but is no longer desired: last applied but gone (renamed, moved, removed), or
   seen in Microcks without being ours (foreign);
3. when no desired artifact sets labels, put the desired (empty) labels and annotations;
4. an operation whose dispatcher differs from the desired one (overridden in Microcks) is put
   back with the desired values, then the artifacts are uploaded again so that examples carry
   criteria of that dispatcher.

`expected_state` is what the service must show afterwards; `differences` compares it with an
observation (the reconcile's verify and the drift audit use the same comparison).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from microcks_pipeline.core.desired import Artifact, DesiredMock
from microcks_pipeline.core.errors import ConfigError
from microcks_pipeline.core.observed import ObservedService
from microcks_pipeline.core.stamp import parse_document

Kind = Literal["main", "examples", "metadata", "other"]
Dispatch = tuple[str | None, str | None]  # (dispatcher, dispatcherRules)

_VERBS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_SECONDARY_KINDS: dict[str, Kind] = {"APIExamples": "examples", "APIMetadata": "metadata"}


# ---- values ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """What the service must show once the mock is applied."""

    allowed_sources: frozenset[str]  # upload names that may hold examples
    required_sources: frozenset[str]  # APIExamples names that must hold some
    dispatchers: Mapping[str, Dispatch] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AppliedArtifact:
    name: str  # upload name
    sha256: str  # content hash of the source file
    kind: Kind


@dataclass(frozen=True)
class AppliedRecord:
    """What the last verified apply uploaded, and what the service showed then."""

    artifacts: tuple[AppliedArtifact, ...]
    expected: Expected

    def to_json(self) -> dict[str, Any]:
        e = self.expected
        return {
            "artifacts": [[a.name, a.sha256, a.kind] for a in self.artifacts],
            "allowed_sources": sorted(e.allowed_sources),
            "required_sources": sorted(e.required_sources),
            "dispatchers": {op: list(d) for op, d in sorted(e.dispatchers.items())},
            "labels": dict(e.labels),
            "annotations": dict(e.annotations),
        }

    @classmethod
    def from_json(cls, value: Any) -> AppliedRecord | None:
        """The record, or None for a value this version cannot read (treated as unknown)."""
        try:
            artifacts = tuple(AppliedArtifact(str(n), str(h), k) for n, h, k in value["artifacts"])
            expected = Expected(
                allowed_sources=frozenset(value["allowed_sources"]),
                required_sources=frozenset(value["required_sources"]),
                dispatchers={op: (d[0], d[1]) for op, d in value["dispatchers"].items()},
                labels=dict(value["labels"]),
                annotations=dict(value["annotations"]),
            )
        except (KeyError, TypeError, ValueError, IndexError, AttributeError):
            return None
        return cls(artifacts, expected)


@dataclass(frozen=True)
class Upload:
    name: str
    content: bytes
    main: bool
    purpose: Literal["main", "metadata", "examples", "other", "tombstone"]


@dataclass(frozen=True)
class PutOperation:
    operation: str
    values: Mapping[str, Any]  # OperationOverrideDTO


@dataclass(frozen=True)
class PutMetadata:
    labels: Mapping[str, str]
    annotations: Mapping[str, str]


Action = Upload | PutOperation | PutMetadata


@dataclass(frozen=True)
class MockState:
    """A desired mock seen at the artifact level: its uploads in order, and what they yield."""

    mock: DesiredMock
    uploads: tuple[Upload, ...]
    record: AppliedRecord
    sets_labels: bool  # an upload (APIMetadata, or a main with info.x-microcks) sets labels


# ---- desired state --------------------------------------------------------------------------


def _doc(content: bytes) -> dict[str, Any]:
    try:
        parsed = parse_document(content)
    except ConfigError:
        return {}
    return parsed.data if parsed is not None else {}


def secondary_kind(artifact: Artifact) -> Kind:
    kind = _doc(artifact.content).get("kind")
    return _SECONDARY_KINDS.get(kind, "other") if isinstance(kind, str) else "other"


def _texts(value: Any) -> dict[str, str]:
    return {str(k): _as_text(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _as_text(value: Any) -> str:
    # Jackson's asText(): booleans lower-case, null "null", containers "" (not used for maps).
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return "" if isinstance(value, (dict, list)) else str(value)


def mock_state(mock: DesiredMock) -> MockState:
    """The uploads of `mock` in the order of the rule, and the record they should leave."""
    main_doc = _doc(mock.main.content)
    secondaries = [(a, secondary_kind(a)) for a in mock.secondaries]
    ordered = [(a, k) for a, k in secondaries if k == "metadata"]
    ordered += [(a, k) for a, k in secondaries if k != "metadata"]
    uploads = (Upload(mock.main.upload_name, mock.main.content, True, "main"),) + tuple(
        Upload(a.upload_name, a.content, False, k) for a, k in ordered
    )
    dispatchers = main_dispatchers(main_doc)
    x_microcks = (main_doc.get("info") or {}).get("x-microcks")
    labels = _texts((x_microcks or {}).get("labels")) if isinstance(x_microcks, dict) else {}
    annotations = _texts(x_microcks.get("annotations")) if isinstance(x_microcks, dict) else {}
    required: set[str] = set()
    for artifact, kind in ordered:
        doc = _doc(artifact.content)
        operations = doc.get("operations") if isinstance(doc.get("operations"), dict) else {}
        if kind == "metadata":
            metadata = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
            labels, annotations = (
                _texts(metadata.get("labels")),
                _texts(metadata.get("annotations")),
            )
            _apply_metadata_operations(dispatchers, operations)
        elif kind == "examples" and _has_examples(operations, dispatchers):
            required.add(artifact.upload_name)
    record = AppliedRecord(
        artifacts=(AppliedArtifact(mock.main.upload_name, mock.main.sha256, "main"),)
        + tuple(AppliedArtifact(a.upload_name, a.sha256, k) for a, k in secondaries),
        expected=Expected(
            allowed_sources=frozenset(u.name for u in uploads if u.purpose != "metadata"),
            required_sources=frozenset(required),
            dispatchers=dispatchers,
            labels=labels,
            annotations=annotations,
        ),
    )
    sets_labels = isinstance(x_microcks, dict) or any(k == "metadata" for _, k in secondaries)
    return MockState(mock, uploads, record, sets_labels)


def _apply_metadata_operations(dispatchers: dict[str, Dispatch], operations: Mapping) -> None:
    """A secondary APIMetadata sets the dispatcher and rules it names, on existing operations."""
    for name, props in operations.items():
        if name not in dispatchers or not isinstance(props, dict):
            continue
        dispatcher, rules = dispatchers[name]
        if "dispatcher" in props:
            dispatcher = _as_text(props["dispatcher"])
        if "dispatcherRules" in props:
            rules = _as_text(props["dispatcherRules"])
        dispatchers[name] = (dispatcher, rules)


def _has_examples(operations: Mapping, known: Mapping[str, Dispatch]) -> bool:
    """Whether an APIExamples document yields an example (request and response) for an
    operation the service has (Microcks ignores the others)."""
    return any(
        isinstance(examples, dict)
        and any(
            isinstance(e, dict) and "request" in e and "response" in e for e in examples.values()
        )
        for name, examples in operations.items()
        if name in known
    )


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
            dispatcher = _as_text(extension["dispatcher"]) if "dispatcher" in extension else None
            rules = (
                _as_text(extension["dispatcherRules"]) if "dispatcherRules" in extension else None
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
    has_query = any(_as_text(p.get("in")) == "query" for p in parameters)
    has_parts = "/:" in path_name or "/{" in path_name
    if has_query and has_parts:
        return "URI_ELEMENTS", _uri_parts(path_name) + " ?? " + _query_rules(doc, parameters)
    if has_query:
        return "URI_PARAMS", _query_rules(doc, parameters)
    if has_parts:
        return "URI_PARTS", _uri_parts(path_name)
    return None, rules


def _query_rules(doc: Mapping[str, Any], parameters: Sequence[Mapping[str, Any]]) -> str:
    """extractOperationParams: every non-path parameter, an object schema by its properties."""
    names: list[str] = []
    for parameter in parameters:
        if _as_text(parameter.get("in")) == "path":
            continue
        schema = _follow(doc, parameter.get("schema"))
        schema = schema if isinstance(schema, dict) else {}
        if _as_text(schema.get("type")) == "object":
            properties = schema.get("properties")
            names.append(" && ".join(properties) if isinstance(properties, dict) else "")
        else:
            names.append(_as_text(parameter.get("name")) if "name" in parameter else "")
    return " && ".join(names)


def _uri_parts(pattern: str) -> str:
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


# ---- plans ----------------------------------------------------------------------------------


def tombstone(name: str, version: str) -> bytes:
    """An APIExamples with no operations: uploaded under a file name, it deletes that name's
    examples from every operation of the service (updateArtifactMessages). `kind` comes first:
    Microcks picks the importer from the first line that matches one of its rules."""
    head = yaml.safe_dump({"kind": "APIExamples"}, sort_keys=False)
    rest = yaml.safe_dump(
        {
            "apiVersion": "mocks.microcks.io/v1alpha1",
            "metadata": {"name": name, "version": version},
            "operations": {},
        },
        sort_keys=False,
    )
    return (head + rest).encode("utf-8")


def _tombstones(state: MockState, names: Iterable[str]) -> list[Upload]:
    content = tombstone(state.mock.service_name, state.mock.version)
    return [Upload(n, content, False, "tombstone") for n in sorted(set(names))]


def first_pass(state: MockState, applied: AppliedRecord | None) -> tuple[Action, ...]:
    """What to do before anything is read: every upload in order, tombstones for upload names
    last applied but no longer desired, and labels cleared that only a removed artifact set."""
    actions: list[Action] = list(state.uploads)
    if applied is not None:
        desired = {u.name for u in state.uploads}
        stale = [a.name for a in applied.artifacts if a.kind != "metadata"]
        stale += applied.expected.allowed_sources
        actions += _tombstones(state, (n for n in stale if n not in desired))
        last = applied.expected
        if not state.sets_labels and (last.labels or last.annotations):
            actions.append(PutMetadata({}, {}))
    return tuple(actions)


def repair_pass(state: MockState, observed: ObservedService) -> tuple[Action, ...]:
    """What to do after an observation shows a difference: put overridden dispatchers back (then
    upload again, for the examples' criteria), tombstone foreign names, set labels."""
    expected = state.record.expected
    actions: list[Action] = []
    for name, (dispatcher, rules) in sorted(expected.dispatchers.items()):
        seen = observed.operations.get(name)
        if seen is not None and (seen.dispatcher, seen.rules) != (dispatcher, rules):
            values = {
                "dispatcher": dispatcher,
                "dispatcherRules": rules,
                "defaultDelay": seen.default_delay,
                "defaultDelayStrategy": seen.default_delay_strategy,
                "parameterConstraints": [dict(c) for c in seen.parameter_constraints] or None,
            }
            actions.append(PutOperation(name, values))
    if actions or expected.required_sources - observed.sources:
        actions += state.uploads
    actions += _tombstones(state, observed.sources - expected.allowed_sources)
    if (observed.labels, observed.annotations) != (expected.labels, expected.annotations):
        actions.append(PutMetadata(dict(expected.labels), dict(expected.annotations)))
    return tuple(actions)


def differences(expected: Expected, observed: ObservedService) -> list[str]:
    """Every way the observed service differs from what it must show; empty when it matches."""
    found: list[str] = []
    foreign = observed.sources - expected.allowed_sources
    if foreign:
        found.append(f"examples from files not desired: {', '.join(sorted(foreign))}")
    missing = expected.required_sources - observed.sources
    if missing:
        found.append(f"no examples from desired files: {', '.join(sorted(missing))}")
    for name, want in sorted(expected.dispatchers.items()):
        seen = observed.operations.get(name)
        if seen is None:
            found.append(f"operation {name!r} missing")
        elif (seen.dispatcher, seen.rules) != want:
            found.append(
                f"operation {name!r} dispatches {seen.dispatcher} {seen.rules!r}, "
                f"desired {want[0]} {want[1]!r}"
            )
    if dict(observed.labels) != dict(expected.labels):
        found.append(f"labels {dict(observed.labels)}, desired {dict(expected.labels)}")
    if dict(observed.annotations) != dict(expected.annotations):
        found.append(
            f"annotations {dict(observed.annotations)}, desired {dict(expected.annotations)}"
        )
    return found
