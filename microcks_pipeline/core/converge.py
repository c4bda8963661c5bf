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

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from microcks_pipeline.core.desired import DesiredMock, Dispatch
from microcks_pipeline.core.desired import Purpose as Kind
from microcks_pipeline.core.identity import ENTITY_LABEL, OWNER_LABEL
from microcks_pipeline.core.observed import ObservedService

# ---- values ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """What the service must show once the mock is applied."""

    allowed_sources: frozenset[str]  # upload names that may hold examples
    required_sources: frozenset[str]  # APIExamples names that must hold some
    dispatchers: Mapping[str, Dispatch] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    service_type: str | None = None  # what the main's kind makes Microcks store; None: unknown


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
    # The service is ours by label, not by version (gRPC): finding it takes a label search.
    labelled: bool = False

    def to_json(self) -> dict[str, Any]:
        e = self.expected
        return {
            "labelled": self.labelled,
            "artifacts": [[a.name, a.sha256, a.kind] for a in self.artifacts],
            "allowed_sources": sorted(e.allowed_sources),
            "required_sources": sorted(e.required_sources),
            "dispatchers": {op: list(d) for op, d in sorted(e.dispatchers.items())},
            "labels": dict(e.labels),
            "annotations": dict(e.annotations),
            "service_type": e.service_type,
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
                service_type=value.get("service_type"),
            )
        except (KeyError, TypeError, ValueError, IndexError, AttributeError):
            return None
        return cls(artifacts, expected, value.get("labelled") is True)


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


def mock_state(mock: DesiredMock) -> MockState:
    """The uploads of `mock` in the order of the rule, and the record they should leave. What
    each upload yields comes from its facts (computed by its kind), whatever the kind."""
    secondaries = [(a, a.facts.purpose) for a in mock.secondaries]
    ordered = [(a, k) for a, k in secondaries if k == "metadata"]
    ordered += [(a, k) for a, k in secondaries if k != "metadata"]
    uploads = (Upload(mock.main.upload_name, mock.main.content, True, "main"),) + tuple(
        Upload(a.upload_name, a.content, False, k) for a, k in ordered
    )
    main = mock.main.facts
    dispatchers: dict[str, Dispatch] = dict(main.dispatchers or {})
    labels = dict(main.labels or {})
    annotations = dict(main.annotations or {})
    required: set[str] = set()
    for artifact, kind in ordered:
        facts = artifact.facts
        if kind == "metadata":
            labels, annotations = dict(facts.labels or {}), dict(facts.annotations or {})
            _apply_metadata_operations(dispatchers, facts.operation_overrides)
        elif kind == "examples" and _has_examples(facts.example_operations, main.dispatchers):
            required.add(artifact.upload_name)
    sets_labels = main.labels is not None or any(k == "metadata" for _, k in secondaries)
    if mock.labelled_owner:
        # Microcks' name and version are not ours (gRPC): the owner label says the service is.
        labels[OWNER_LABEL] = mock.owner_version
        labels[ENTITY_LABEL] = mock.entity_ref
    record = AppliedRecord(
        artifacts=(AppliedArtifact(mock.main.upload_name, mock.main.sha256, "main"),)
        + tuple(AppliedArtifact(a.upload_name, a.sha256, k) for a, k in secondaries),
        expected=Expected(
            allowed_sources=frozenset(u.name for u in uploads if u.purpose != "metadata"),
            required_sources=frozenset(required),
            dispatchers=dispatchers,
            labels=labels,
            annotations=annotations,
            service_type=main.service_type,
        ),
        labelled=mock.labelled_owner,
    )
    return MockState(mock, uploads, record, sets_labels)


def _apply_metadata_operations(
    dispatchers: dict[str, Dispatch], operations: Mapping[str, Mapping[str, str]]
) -> None:
    """A secondary APIMetadata sets the dispatcher and rules it names, on existing operations."""
    for name, props in operations.items():
        if name not in dispatchers:
            continue
        dispatcher, rules = dispatchers[name]
        dispatchers[name] = (props.get("dispatcher", dispatcher), props.get("rules", rules))


def _has_examples(operations: frozenset[str], known: Mapping[str, Dispatch] | None) -> bool:
    """Whether an examples document yields an example for an operation the service has
    (Microcks ignores the others); any operation counts when the main's are not known."""
    return bool(operations & set(known)) if known is not None else bool(operations)


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
    if state.mock.labelled_owner:
        # Mark the service ours right after the main upload may have created it (a run dying
        # later leaves it marked), and last when an APIMetadata replaced the labels. A service
        # verified labelled before keeps its labels (a proto and examples carry none); the
        # verify step repairs them if someone took them away.
        expected = state.record.expected
        mark = PutMetadata(dict(expected.labels), dict(expected.annotations))
        if applied is None or not applied.labelled:
            actions.insert(1, mark)
        if any(u.purpose == "metadata" for u in state.uploads):
            actions.append(mark)
    if applied is not None:
        desired = {u.name for u in state.uploads}
        stale = [a.name for a in applied.artifacts if a.kind != "metadata"]
        stale += applied.expected.allowed_sources
        actions += _tombstones(state, (n for n in stale if n not in desired))
        last = applied.expected
        if (
            not state.sets_labels
            and not state.mock.labelled_owner
            and (last.labels or last.annotations)
        ):
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
    seen_type = observed.service_type
    if expected.service_type and seen_type and seen_type != expected.service_type:
        found.append(f"service type {observed.service_type}, desired {expected.service_type}")
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
