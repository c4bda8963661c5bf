"""The sample catalog covers the documented shapes and its mocks would answer on a real Microcks.

Microcks matches APIExamples and APIMetadata to operations by the exact name `VERB /path`, and
computes each example's dispatch criteria from `request.parameters`; a FALLBACK dispatcher
answers with the example its `fallback` names. These tests check the sample files against
those rules (reference/microcks/NOTES.md §3-§6), reading them with plain YAML.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from config_fixtures import SAMPLE_CATALOG

from microcks_pipeline.core.config import CONFIG_FILE_NAME, MockSpec, parse_config
from microcks_pipeline.core.identity import ANNOTATION

VERBS = ("get", "put", "post", "delete", "patch", "head", "options")


@dataclass
class Doc:
    file: Path
    body: dict[str, Any]


@dataclass
class Operation:
    path_params: set[str]
    query_params: set[str]
    examples: set[str] = field(default_factory=set)  # named examples Microcks will serve


def _catalog_docs() -> tuple[list[Doc], list[Path]]:
    """Every document reached from the root Location, and every file read to get them."""
    todo, seen, docs = [SAMPLE_CATALOG / "catalog-info.yaml"], [], []
    while todo:
        file = todo.pop(0)
        seen.append(file)
        for body in yaml.safe_load_all(file.read_text()):
            docs.append(Doc(file, body))
            if body["kind"] == "Location":
                todo += [(file.parent / t).resolve() for t in body["spec"]["targets"]]
    return docs, seen


def _config_path(doc: Doc) -> Path:
    ref = doc.body["metadata"]["annotations"][ANNOTATION]
    if ref.startswith("dir:"):
        return (doc.file.parent / ref[4:] / CONFIG_FILE_NAME).resolve()
    return (doc.file.parent / ref).resolve()


def _annotated() -> list[Doc]:
    docs, _ = _catalog_docs()
    return [
        d
        for d in docs
        if d.body["kind"] == "API" and ANNOTATION in d.body["metadata"].get("annotations", {})
    ]


def _main_text(doc: Doc, mock: MockSpec, config_dir: Path) -> tuple[str, Path | None]:
    if mock.main_path:
        file = (config_dir / mock.main_path).resolve()
        return file.read_text(), file
    definition = doc.body["spec"]["definition"]
    if isinstance(definition, str):
        return definition, None
    file = (doc.file.parent / definition["$text"]).resolve()
    return file.read_text(), file


def _operations(spec: dict[str, Any]) -> dict[str, Operation]:
    ops: dict[str, Operation] = {}
    for path, item in spec["paths"].items():
        for verb in VERBS:
            if verb not in item:
                continue
            op = item[verb]
            params = op.get("parameters", [])
            operation = Operation(
                path_params=set(re.findall(r"{([^}]+)}", path)),
                query_params={p["name"] for p in params if p["in"] == "query"},
            )
            for response in op.get("responses", {}).values():
                for media in response.get("content", {}).values():
                    operation.examples |= set(media.get("examples", {}))
            for name in operation.examples:  # Microcks pairs them with same-named param examples
                for p in params:
                    if p["in"] == "path":
                        assert name in p.get("examples", {}), f"{verb} {path}: {p['name']}/{name}"
            ops[f"{verb.upper()} {path}"] = operation
    return ops


def _mocks() -> list[tuple[Doc, MockSpec, Path]]:
    out = []
    for doc in _annotated():
        config_file = _config_path(doc)
        for mock in parse_config(config_file.read_text(), str(config_file)).mocks:
            out.append((doc, mock, config_file.parent))
    return out


MOCKS = _mocks()
# The OpenAPI-shaped checks below hold for the OpenAPI/Swagger entities; the AsyncAPI, GraphQL
# and gRPC ones are checked by kind in test_kinds*.py.
OPENAPI_MOCKS = [m for m in MOCKS if m[0].body["spec"].get("type") == "openapi"]


def _id(item: tuple[Doc, MockSpec, Path]) -> str:
    return f"{item[0].body['metadata']['name']}/{item[1].mock_id}"


def test_the_root_is_a_location_whose_targets_all_exist() -> None:
    root = yaml.safe_load((SAMPLE_CATALOG / "catalog-info.yaml").read_text())

    assert root["kind"] == "Location"
    for target in root["spec"]["targets"]:
        assert (SAMPLE_CATALOG / target).is_file()


def test_the_catalog_shows_every_documented_shape() -> None:
    docs, files = _catalog_docs()
    apis = [d for d in docs if d.body["kind"] == "API"]
    annotated = _annotated()
    refs = {d.body["metadata"]["annotations"][ANNOTATION] for d in annotated}
    definitions = [d.body["spec"]["definition"] for d in apis]

    assert 4 <= len(apis) <= 10
    assert any(len([d for d in docs if d.file == f]) > 1 for f in files), "a multi-document file"
    assert len(apis) - len(annotated) >= 1, "an API without the annotation"
    assert {"dir:.", "dir:mocks", "./microcks.yaml"} <= refs
    assert sum(isinstance(d, str) for d in definitions) == 1, "one inline definition"
    assert sum(isinstance(d, dict) and "$text" in d for d in definitions) >= 3
    assert any(not m.include_in_swagger for _, m, _ in MOCKS)
    assert any(m.main_path for _, m, _ in MOCKS)
    assert {d.body["spec"]["type"] for d in apis} == {"openapi", "asyncapi", "graphql", "grpc"}
    for doc in annotated:
        if doc.body["spec"]["type"] == "openapi":
            assert len([m for d, m, _ in MOCKS if d.body == doc.body]) >= 2


def test_main_artifacts_are_openapi_3_yaml_mostly_and_one_swagger_2_json() -> None:
    kinds = []
    for doc, mock, folder in OPENAPI_MOCKS:
        text, file = _main_text(doc, mock, folder)
        spec = yaml.safe_load(text)
        is_json = file is not None and file.suffix == ".json"
        if is_json:
            json.loads(text)
        kinds.append(("swagger" if "swagger" in spec else "openapi", is_json))

    assert ("swagger", True) in kinds
    assert sum(k == ("openapi", False) for k in kinds) > len(kinds) / 2


@pytest.mark.parametrize("item", OPENAPI_MOCKS, ids=_id)
def test_secondary_artifacts_match_the_main_artifacts_operations(item) -> None:
    doc, mock, folder = item
    text, _ = _main_text(doc, mock, folder)
    ops = _operations(yaml.safe_load(text))
    secondaries = [yaml.safe_load((folder / a.path).read_text()) for a in mock.artifacts]

    for artifact in secondaries:
        assert artifact["apiVersion"] == "mocks.microcks.io/v1alpha1"
        assert {"name", "version"} <= set(artifact["metadata"])
        for name in artifact["operations"]:
            assert name in ops, f"{name} is not an operation of the main artifact"
    for artifact in (a for a in secondaries if a["kind"] == "APIExamples"):
        for name, examples in artifact["operations"].items():
            for example_name, example in examples.items():
                assert {"request", "response"} <= set(example), example_name
                given = set(example["request"].get("parameters", {}))
                assert ops[name].path_params <= given, f"{example_name}: path params missing"
                ops[name].examples.add(example_name)
    for artifact in (a for a in secondaries if a["kind"] == "APIMetadata"):
        for name, props in artifact["operations"].items():
            _check_dispatcher(ops[name], props)


def _check_dispatcher(op: Operation, props: dict[str, Any]) -> None:
    dispatcher = props.get("dispatcher")
    if dispatcher == "FALLBACK":
        rules = json.loads(props["dispatcherRules"])
        assert rules["fallback"] in op.examples, "FALLBACK must name an example of the mock"
        _check_dispatcher(op, rules)
    elif dispatcher == "URI_PARTS":
        assert set(props["dispatcherRules"].split(" && ")) == op.path_params
    elif dispatcher == "URI_PARAMS":
        assert set(props["dispatcherRules"].split(" && ")) <= op.query_params
    else:
        assert dispatcher is None, f"dispatcher {dispatcher} is not checked here"


def test_an_APIMetadata_sets_a_dispatcher() -> None:
    dispatchers = set()
    for _, mock, folder in OPENAPI_MOCKS:
        for a in mock.artifacts:
            data = yaml.safe_load((folder / a.path).read_text())
            if data["kind"] == "APIMetadata":
                dispatchers |= {p.get("dispatcher") for p in data["operations"].values()}

    assert dispatchers & {"FALLBACK", "URI_PARAMS"}


@pytest.mark.parametrize("item", OPENAPI_MOCKS, ids=_id)
def test_every_openapi_3_main_artifact_serves_named_examples_alone(item) -> None:
    doc, mock, folder = item
    spec = yaml.safe_load(_main_text(doc, mock, folder)[0])
    if "swagger" in spec:
        pytest.skip("Swagger 2.0 has no named examples; its mocks rely on APIExamples")

    assert any(op.examples for op in _operations(spec).values())


def test_every_file_in_the_sample_catalog_is_used() -> None:
    _, catalog_files = _catalog_docs()
    used = set(catalog_files)
    for doc in _annotated():
        used.add(_config_path(doc))
    for doc, mock, folder in MOCKS:
        used |= {(folder / a.path).resolve() for a in mock.artifacts}
        file = _main_text(doc, mock, folder)[1]
        if file is not None:
            used.add(file)
    for doc in _catalog_docs()[0]:
        definition = doc.body.get("spec", {}).get("definition")
        if isinstance(definition, dict):
            used.add((doc.file.parent / definition["$text"]).resolve())

    present = {p.resolve() for p in SAMPLE_CATALOG.rglob("*") if p.is_file()}
    assert present - used == {(SAMPLE_CATALOG / "README.md").resolve()}
