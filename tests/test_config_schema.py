"""The published JSON Schema is the parser's rule book: editors and the parser give one verdict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from config_fixtures import BAD_CASES, PATHS, SAMPLE_CATALOG, VALID, BadCase, problems_of

from microcks_pipeline.core.config import parse_config
from microcks_pipeline.core.config_schema import config_schema
from microcks_pipeline.core.identity import MOCK_ID_PATTERN

SAMPLE_FILES = sorted(SAMPLE_CATALOG.rglob("microcks.yaml"))

GOOD_DOCUMENTS = (
    VALID,
    "spec:\n  mocks:\n    - mockId: a\n",
    "spec:\n  mocks:\n    - {mockId: a, includeInSwagger: false, openapi: {path: o.yaml}}\n",
    "spec:\n  mocks:\n    - mockId: a\n      artifacts: []\n      x-note: unknown keys only warn\n",
    "spec:\n  mocks:\n    - mockId: a\n      artifacts:\n"
    "        - {kind: examples, path: 'https://raw.example.com/o/r/main/e.yaml'}\n",
)


def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(config_schema())


def _schema_accepts(data: Any) -> bool:
    return _validator().is_valid(data)


def _parser_accepts(text: str) -> bool:
    return not problems_of(text)[0]


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    schema = config_schema()

    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_the_schema_uses_the_same_mockId_pattern_as_identity() -> None:
    mock_id = config_schema()["$defs"]["mock"]["properties"]["mockId"]

    assert mock_id["pattern"] == MOCK_ID_PATTERN.pattern


def test_config_schema_returns_a_fresh_copy_each_time() -> None:
    first = config_schema()
    first["required"].append("tampered")

    assert "tampered" not in config_schema()["required"]


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: str(p.relative_to(SAMPLE_CATALOG)))
def test_every_sample_catalog_file_passes_schema_and_parser(path: Path) -> None:
    text = path.read_text()

    assert _schema_accepts(yaml.safe_load(text))
    assert parse_config(text, str(path)).warnings == ()


def test_the_sample_catalog_has_microcks_files_to_check() -> None:
    assert len(SAMPLE_FILES) >= 4


@pytest.mark.parametrize("text", GOOD_DOCUMENTS)
def test_good_documents_pass_both(text: str) -> None:
    assert _parser_accepts(text)
    assert _schema_accepts(yaml.safe_load(text))


@pytest.mark.parametrize("case", [c for c in BAD_CASES if c.schema_sees], ids=lambda c: c.name)
def test_bad_documents_fail_both(case: BadCase) -> None:
    assert not _parser_accepts(case.text)
    assert not _schema_accepts(yaml.safe_load(case.text))


@pytest.mark.parametrize("case", [c for c in BAD_CASES if not c.schema_sees], ids=lambda c: c.name)
def test_rules_beyond_json_schema_are_still_enforced_by_the_parser(case: BadCase) -> None:
    # Duplicates, several documents, size and alias caps are invisible to a schema of one value.
    assert not _parser_accepts(case.text)


@pytest.mark.parametrize(("path", "allowed"), PATHS, ids=repr)
def test_schema_and_parser_agree_on_artifact_paths(path: str, allowed: bool) -> None:
    document = {"spec": {"mocks": [{"mockId": "a", "artifacts": [{"kind": "k", "path": path}]}]}}
    text = yaml.safe_dump(document)

    assert _schema_accepts(document) is allowed
    assert _parser_accepts(text) is allowed


@pytest.mark.parametrize(("path", "allowed"), PATHS, ids=repr)
def test_schema_and_parser_agree_on_openapi_paths(path: str, allowed: bool) -> None:
    document = {"spec": {"mocks": [{"mockId": "a", "openapi": {"path": path}}]}}

    assert _schema_accepts(document) is allowed
    assert _parser_accepts(yaml.safe_dump(document)) is allowed


def test_the_path_fast_path_accepts_only_paths_the_rules_accept() -> None:
    # `if` lets plain paths skip the rules in `else`; it must never let a refused path through.
    path = config_schema()["$defs"]["path"]
    fast = jsonschema.Draft202012Validator(path["if"])
    rules = jsonschema.Draft202012Validator(path["else"])
    samples = [p for p, _ in PATHS] + [
        "./mocks/default/examples.yaml",
        "https://raw.example.com/org/repo/main/examples.yaml",
        "a/../b.yaml",
        ".hidden/x.yaml",
        "https://example.com/..",
        "x.yaml\n",
    ]

    taken = [p for p in samples if fast.is_valid(p)]

    assert "./mocks/default/examples.yaml" in taken  # the common case takes it
    assert [p for p in taken if not rules.is_valid(p)] == []
