"""Specification of the artifact-level plan (converge.py), pure: what is uploaded in which order,
which upload names get tombstones, what is put back, and how an observation is judged."""

from __future__ import annotations

import json

import pytest
import yaml

from microcks_pipeline.core.converge import (
    AppliedArtifact,
    AppliedRecord,
    Expected,
    PutMetadata,
    PutOperation,
    Upload,
    differences,
    first_pass,
    mock_state,
    repair_pass,
    tombstone,
)
from microcks_pipeline.core.desired import Artifact, DesiredMock
from microcks_pipeline.core.observed import ObservedOperation, ObservedService, parse_service_view
from microcks_pipeline.kinds import artifact_facts
from microcks_pipeline.kinds.openapi import main_dispatchers

NAME, VERSION = "petstore", "bk-0123456789abcdef-default"

MAIN = {
    "openapi": "3.0.3",
    "info": {"title": NAME, "version": VERSION},
    "paths": {
        "/pets": {"get": {"responses": {}}},
        "/pets/{petId}": {"get": {"parameters": [{"name": "petId", "in": "path"}]}},
    },
}
EXAMPLES = {
    "kind": "APIExamples",
    "metadata": {"name": NAME, "version": VERSION},
    "operations": {
        "GET /pets/{petId}": {"spike": {"request": {}, "response": {"body": "x"}}},
    },
}
METADATA = {
    "kind": "APIMetadata",
    "metadata": {"name": NAME, "version": VERSION, "labels": {"domain": "store"}},
    "operations": {"GET /pets/{petId}": {"dispatcher": "FALLBACK", "dispatcherRules": "{}"}},
}


def _artifact(name: str, doc: dict, role: str = "secondary") -> Artifact:
    content = yaml.safe_dump(doc, sort_keys=False).encode()
    facts = artifact_facts(content, main=role == "main")
    return Artifact(role, "x", f"./{name}", name, content, "h-" + name, facts)  # type: ignore[arg-type]


def _mock(*secondaries: tuple[str, dict], main: dict = MAIN, main_name: str = "main.yaml"):
    return DesiredMock(
        entity_ref="api:default/petstore",
        mock_id="default",
        service_name=NAME,
        version=VERSION,
        include_in_swagger=False,
        main=_artifact(main_name, main, "main"),
        secondaries=tuple(_artifact(n, d) for n, d in secondaries),
        fingerprint="fp",
    )


def _observed(sources=(), dispatchers=None, labels=None) -> ObservedService:
    dispatchers = dispatchers or {
        "GET /pets": (None, None),
        "GET /pets/{petId}": ("URI_PARTS", "petId"),
    }
    return ObservedService(
        service_id="id-1",
        name=NAME,
        version=VERSION,
        sources=frozenset(sources),
        operations={
            name: ObservedOperation(name, d, r, default_delay=5)
            for name, (d, r) in dispatchers.items()
        },
        labels=labels or {},
    )


def _record(*names: tuple[str, str], labels=None) -> AppliedRecord:
    return AppliedRecord(
        artifacts=tuple(AppliedArtifact(n, "h", k) for n, k in names),  # type: ignore[arg-type]
        expected=Expected(
            allowed_sources=frozenset(n for n, k in names if k != "metadata"),
            required_sources=frozenset(),
            labels=labels or {},
        ),
    )


# ---- Microcks' dispatchers of a main artifact ---------------------------------------------------

QUERY = {"name": "status", "in": "query"}


@pytest.mark.parametrize(
    ("path", "operation", "expected"),
    [
        ("/pets", {}, (None, None)),
        ("/pets/{petId}", {}, ("URI_PARTS", "petId")),
        ("/a/{x}/b/{y}", {}, ("URI_PARTS", "x && y")),
        ("/a/:x/b", {}, ("URI_PARTS", "x")),
        (
            "/orders",
            {"parameters": [QUERY, {"name": "page", "in": "query"}]},
            ("URI_PARAMS", "status && page"),
        ),
        (
            "/o/{id}",
            {"parameters": [{"name": "id", "in": "path"}, QUERY]},
            ("URI_ELEMENTS", "id ?? status"),
        ),
        ("/o", {"parameters": [{"$ref": "#/components/parameters/s"}]}, ("URI_PARAMS", "status")),
        (
            "/o",
            {
                "parameters": [
                    {
                        "name": "f",
                        "in": "query",
                        "schema": {"type": "object", "properties": {"a": {}, "b": {}}},
                    }
                ]
            },
            ("URI_PARAMS", "a && b"),
        ),
        (
            "/o/{id}",
            {"x-microcks-operation": {"dispatcher": "FALLBACK", "dispatcherRules": "r"}},
            ("FALLBACK", "r"),
        ),
        ("/o", {"x-microcks-operation": {"dispatcherRules": "kept"}}, (None, "kept")),
    ],
)
def test_a_main_upload_sets_microcks_default_or_the_declared_dispatcher(path, operation, expected):
    doc = {"paths": {path: {"get": operation}}, "components": {"parameters": {"s": QUERY}}}

    assert main_dispatchers(doc) == {f"GET {path}": expected}


# ---- upload order and expected state -------------------------------------------------------------


@pytest.mark.parametrize(
    ("listed", "order"),
    [
        ([("ex.yaml", EXAMPLES), ("meta.yaml", METADATA)], ["main.yaml", "meta.yaml", "ex.yaml"]),
        ([("meta.yaml", METADATA), ("ex.yaml", EXAMPLES)], ["main.yaml", "meta.yaml", "ex.yaml"]),
        (
            [
                ("b.yaml", EXAMPLES),
                ("m1.yaml", METADATA),
                ("a.yaml", EXAMPLES),
                ("m2.yaml", METADATA),
            ],
            ["main.yaml", "m1.yaml", "m2.yaml", "b.yaml", "a.yaml"],
        ),
        ([("ex.yaml", EXAMPLES)], ["main.yaml", "ex.yaml"]),
    ],
)
def test_uploads_go_main_then_apimetadata_then_apiexamples_whatever_the_listed_order(listed, order):
    state = mock_state(_mock(*listed))

    assert [u.name for u in state.uploads] == order
    assert [u.main for u in state.uploads] == [True] + [False] * (len(order) - 1)


def test_the_expected_state_follows_the_apimetadata_on_top_of_the_main() -> None:
    expected = mock_state(_mock(("ex.yaml", EXAMPLES), ("meta.yaml", METADATA))).record.expected

    assert expected.dispatchers == {
        "GET /pets": (None, None),
        "GET /pets/{petId}": ("FALLBACK", "{}"),
    }
    assert expected.labels == {"domain": "store"}
    assert expected.allowed_sources == {"main.yaml", "ex.yaml"}
    assert expected.required_sources == {"ex.yaml"}


def test_examples_for_an_operation_the_service_lacks_are_not_required() -> None:
    stray = {**EXAMPLES, "operations": {"GET /nope": {"e": {"request": {}, "response": {}}}}}

    expected = mock_state(_mock(("ex.yaml", stray))).record.expected

    assert expected.required_sources == frozenset()
    assert expected.allowed_sources == {"main.yaml", "ex.yaml"}


# ---- first pass: tombstones and labels -----------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "desired", "applied", "tombstones"),
    [
        ("first apply", [("ex.yaml", EXAMPLES)], None, []),
        (
            "unchanged names",
            [("ex.yaml", EXAMPLES)],
            [("main.yaml", "main"), ("ex.yaml", "examples")],
            [],
        ),
        (
            "renamed file",
            [("new.yaml", EXAMPLES)],
            [("main.yaml", "main"), ("old.yaml", "examples")],
            ["old.yaml"],
        ),
        ("removed secondary", [], [("main.yaml", "main"), ("ex.yaml", "examples")], ["ex.yaml"]),
        ("main moved", [], [("old-main.json", "main")], ["old-main.json"]),
        (
            "removed metadata holds no examples",
            [],
            [("main.yaml", "main"), ("meta.yaml", "metadata")],
            [],
        ),
    ],
)
def test_every_upload_name_no_longer_desired_gets_a_tombstone(case, desired, applied, tombstones):
    state = mock_state(_mock(*desired))

    actions = first_pass(state, _record(*applied) if applied is not None else None)

    uploads = [a for a in actions if isinstance(a, Upload)]
    assert [u.name for u in uploads if u.purpose == "tombstone"] == tombstones, case
    assert uploads[: len(state.uploads)] == list(state.uploads), "uploads come first, in order"


def test_a_tombstone_names_the_service_with_no_operations_and_kind_first() -> None:
    content = tombstone(NAME, VERSION)

    assert content.decode().splitlines()[0] == "kind: APIExamples"
    assert yaml.safe_load(content) == {
        "kind": "APIExamples",
        "apiVersion": "mocks.microcks.io/v1alpha1",
        "metadata": {"name": NAME, "version": VERSION},
        "operations": {},
    }


@pytest.mark.parametrize(
    ("desired", "last_labels", "cleared"),
    [
        ([], {"domain": "store"}, True),  # the APIMetadata that set them was removed
        ([], {}, False),
        ([("meta.yaml", METADATA)], {"domain": "store"}, False),  # its upload replaces them
    ],
)
def test_labels_only_a_removed_artifact_set_are_cleared(desired, last_labels, cleared):
    state = mock_state(_mock(*desired))

    actions = first_pass(state, _record(("main.yaml", "main"), labels=last_labels))

    assert (PutMetadata({}, {}) in actions) is cleared


def test_a_main_with_x_microcks_sets_the_labels_itself() -> None:
    main = {**MAIN, "info": {**MAIN["info"], "x-microcks": {"labels": {"team": "c"}}}}
    state = mock_state(_mock(main=main))

    actions = first_pass(state, _record(("main.yaml", "main"), labels={"domain": "x"}))

    assert not any(isinstance(a, PutMetadata) for a in actions)
    assert state.record.expected.labels == {"team": "c"}


# ---- repair pass and verify ----------------------------------------------------------------------


def test_an_observation_as_expected_needs_no_repair() -> None:
    state = mock_state(_mock(("ex.yaml", EXAMPLES)))
    observed = _observed(sources=["ex.yaml", "main.yaml"])

    assert differences(state.record.expected, observed) == []
    assert repair_pass(state, observed) == ()


def test_a_foreign_example_source_gets_a_tombstone_and_nothing_else() -> None:
    state = mock_state(_mock(("ex.yaml", EXAMPLES)))
    observed = _observed(sources=["ex.yaml", "added-by-hand.json"])

    actions = repair_pass(state, observed)

    assert differences(state.record.expected, observed) == [
        "examples from files not desired: added-by-hand.json"
    ]
    assert [(a.name, a.purpose) for a in actions] == [("added-by-hand.json", "tombstone")]


def test_an_overridden_dispatcher_is_put_back_then_everything_is_uploaded_again() -> None:
    state = mock_state(_mock(("ex.yaml", EXAMPLES)))
    observed = _observed(
        sources=["ex.yaml"],
        dispatchers={"GET /pets": (None, None), "GET /pets/{petId}": ("FALLBACK", "{}")},
    )

    actions = repair_pass(state, observed)

    assert actions[0] == PutOperation(
        "GET /pets/{petId}",
        {
            "dispatcher": "URI_PARTS",
            "dispatcherRules": "petId",
            "defaultDelay": 5,
            "defaultDelayStrategy": None,
            "parameterConstraints": None,
        },
    )
    assert list(actions[1:]) == list(state.uploads)
    assert (
        "dispatches FALLBACK '{}', desired URI_PARTS 'petId'"
        in differences(state.record.expected, observed)[0]
    )


def test_labels_set_in_microcks_are_put_back_to_the_desired_ones() -> None:
    state = mock_state(_mock(("meta.yaml", METADATA)))
    observed = _observed(
        dispatchers={"GET /pets": (None, None), "GET /pets/{petId}": ("FALLBACK", "{}")},
        labels={"domain": "hacked"},
    )

    assert repair_pass(state, observed) == (PutMetadata({"domain": "store"}, {}),)


def test_missing_desired_examples_are_uploaded_again() -> None:
    state = mock_state(_mock(("ex.yaml", EXAMPLES)))

    actions = repair_pass(state, _observed(sources=[]))

    assert list(actions) == list(state.uploads)


def test_an_applied_record_survives_its_json_form() -> None:
    record = mock_state(_mock(("ex.yaml", EXAMPLES), ("meta.yaml", METADATA))).record

    assert AppliedRecord.from_json(json.loads(json.dumps(record.to_json()))) == record
    assert AppliedRecord.from_json({"artifacts": "garbage"}) is None


def test_a_service_view_is_observed_by_its_sources_dispatchers_and_labels() -> None:
    view = {
        "service": {
            "id": "abc",
            "name": NAME,
            "version": VERSION,
            "metadata": {"labels": {"a": "b"}, "annotations": {}},
            "operations": [
                {"name": "GET /pets", "dispatcher": "URI_PARAMS", "dispatcherRules": "q"}
            ],
        },
        "messagesMap": {
            "GET /pets": [
                {"request": {"sourceArtifact": "x.yaml"}, "response": {"sourceArtifact": "x.yaml"}},
                {"request": {"sourceArtifact": "y.yaml"}, "response": {"sourceArtifact": "y.yaml"}},
            ]
        },
    }

    observed = parse_service_view(view)

    assert observed.sources == {"x.yaml", "y.yaml"}
    assert observed.operations["GET /pets"].dispatcher == "URI_PARAMS"
    assert (observed.service_id, dict(observed.labels)) == ("abc", {"a": "b"})
