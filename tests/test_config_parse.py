"""A valid microcks.yaml becomes MockSpec values in file order, with defaults and line numbers."""

from __future__ import annotations

import json

from config_fixtures import VALID

from microcks_pipeline.core.config import (
    API_VERSION,
    CONFIG_FILE_NAME,
    KIND,
    ArtifactRef,
    parse_config,
)

FILE = "apis/petstore/microcks.yaml"

FULL = """\
apiVersion: bcgov.dev/v1alpha1
kind: MicrocksSync
spec:
  mocks:
    - mockId: swagger
      artifacts:
        - kind: examples
          path: ./microcks/swagger/microcks-Examples.yaml
        - kind: metadata
          path: ./microcks/swagger/microcks-Metadata.yaml
    - mockId: sdpr
      includeInSwagger: false
      openapi:
        path: ./microcks/sdpr/openapi.yaml
      artifacts:
        - kind: examples
          path: https://raw.example.com/org/repo/main/sdpr-examples.yaml
"""


def test_the_original_plugin_example_parses_into_mocks_in_file_order() -> None:
    config = parse_config(FULL, FILE)

    assert config.file == FILE
    assert [m.mock_id for m in config.mocks] == ["swagger", "sdpr"]
    swagger, sdpr = config.mocks
    assert swagger.line == 5 and sdpr.line == 11
    assert swagger.include_in_swagger is True
    assert swagger.main_path is None
    assert swagger.artifacts == (
        ArtifactRef("examples", "./microcks/swagger/microcks-Examples.yaml", 7),
        ArtifactRef("metadata", "./microcks/swagger/microcks-Metadata.yaml", 9),
    )
    assert sdpr.include_in_swagger is False
    assert sdpr.main_path == "./microcks/sdpr/openapi.yaml"
    assert [a.path for a in sdpr.artifacts] == [
        "https://raw.example.com/org/repo/main/sdpr-examples.yaml"
    ]
    assert config.warnings == ()


def test_api_version_and_kind_are_optional() -> None:
    text = "spec:\n  mocks:\n    - mockId: default\n"

    config = parse_config(text, FILE)

    assert [m.mock_id for m in config.mocks] == ["default"]
    assert config.warnings == ()


def test_the_documented_header_is_accepted_without_warnings() -> None:
    assert f"apiVersion: {API_VERSION}\nkind: {KIND}\n" in VALID

    config = parse_config(VALID, CONFIG_FILE_NAME)

    assert [m.mock_id for m in config.mocks] == ["default"]
    assert config.warnings == ()


def test_a_mock_without_artifacts_has_none() -> None:
    config = parse_config("spec:\n  mocks:\n    - mockId: bare\n", FILE)

    assert config.mocks[0].artifacts == ()


def test_includeInSwagger_true_is_kept_true() -> None:
    config = parse_config("spec:\n  mocks:\n    - {mockId: a, includeInSwagger: true}\n", FILE)

    assert config.mocks[0].include_in_swagger is True


def test_unknown_keys_are_warnings_with_file_line_and_field() -> None:
    text = (
        "apiVersion: bcgov.dev/v1alpha1\n"  # 1
        "metadata: {owner: me}\n"  # 2
        "spec:\n"  # 3
        "  mockz: []\n"  # 4
        "  mocks:\n"  # 5
        "    - mockId: default\n"  # 6
        "      description: the main mock\n"  # 7
        "      openapi: {path: ./o.yaml, format: yaml}\n"  # 8
        "      artifacts:\n"  # 9
        "        - {kind: examples, path: ./e.yaml, order: 1}\n"  # 10
    )

    config = parse_config(text, FILE)

    assert [m.mock_id for m in config.mocks] == ["default"]
    assert config.warnings == (
        f"{FILE}:2: unknown key 'metadata'",
        f"{FILE}:4: field 'spec': unknown key 'mockz' (did you mean 'mocks'?)",
        f"{FILE}:7: field 'spec.mocks[0]': unknown key 'description'",
        f"{FILE}:8: field 'spec.mocks[0].openapi': unknown key 'format'",
        f"{FILE}:10: field 'spec.mocks[0].artifacts[0]': unknown key 'order'",
    )


def test_entry_is_the_mocks_own_json_data_including_unknown_keys() -> None:
    text = (
        "spec:\n"
        "  mocks:\n"
        "    - mockId: a\n"
        "      includeInSwagger: false\n"
        "      artifacts: [{kind: examples, path: ./a.yaml}]\n"
        "      note: 2024-05-01\n"
        "    - mockId: b\n"
    )

    a, b = parse_config(text, FILE).mocks

    assert a.entry == {
        "mockId": "a",
        "includeInSwagger": False,
        "artifacts": [{"kind": "examples", "path": "./a.yaml"}],
        "note": "2024-05-01",
    }
    assert b.entry == {"mockId": "b"}
    json.dumps(a.entry, allow_nan=False)  # canonical JSON must be possible


def test_editing_one_mock_changes_only_that_mocks_entry() -> None:
    before = parse_config(FULL, FILE).mocks
    after = parse_config(FULL.replace("sdpr-examples.yaml", "sdpr-examples-v2.yaml"), FILE).mocks

    assert before[0].entry == after[0].entry
    assert before[1].entry != after[1].entry


def test_entry_data_that_json_cannot_hold_is_made_json() -> None:
    text = (
        "spec:\n"
        "  mocks:\n"
        "    - mockId: a\n"
        "      extra:\n"
        "        1: one\n"
        "        when: 2024-05-01T10:00:00Z\n"
        "        blob: !!binary aGVsbG8=\n"
        "        big: .inf\n"
        "        tags: !!set {x, y}\n"
    )

    [mock] = parse_config(text, FILE).mocks

    json.dumps(mock.entry, allow_nan=False, sort_keys=True)
    extra = mock.entry["extra"]
    assert extra["1"] == "one"
    assert extra["when"].startswith("2024-05-01T10:00:00")
    assert extra["blob"] == "aGVsbG8="
    assert extra["big"] == "inf"
    assert sorted(extra["tags"]) == ["x", "y"]


def test_anchors_and_merge_keys_are_followed() -> None:
    text = (
        "x-common: &common\n"  # 1
        "  includeInSwagger: false\n"  # 2
        "  artifacts:\n"  # 3
        "    - {kind: examples, path: ./shared.yaml}\n"  # 4
        "spec:\n"  # 5
        "  mocks:\n"  # 6
        "    - <<: *common\n"  # 7
        "      mockId: a\n"  # 8
        "    - <<: *common\n"  # 9
        "      mockId: b\n"  # 10
        "      includeInSwagger: true\n"  # 11
    )

    config = parse_config(text, FILE)

    a, b = config.mocks
    assert (a.mock_id, a.include_in_swagger) == ("a", False)
    assert (b.mock_id, b.include_in_swagger) == ("b", True)
    assert a.artifacts == b.artifacts == (ArtifactRef("examples", "./shared.yaml", 4),)
    assert "<<" not in a.entry and a.entry["includeInSwagger"] is False
    assert config.warnings == (f"{FILE}:1: unknown key 'x-common'",)


def test_a_mockId_may_use_the_full_alphabet_and_63_characters() -> None:
    ids = ["a", "A.b_c-9", "9" + "z" * 62]
    text = "spec:\n  mocks:\n" + "".join(f"    - mockId: '{i}'\n" for i in ids)

    config = parse_config(text, FILE)

    assert [m.mock_id for m in config.mocks] == ids


def test_yes_and_no_are_yaml_booleans_for_includeInSwagger() -> None:
    # PyYAML follows YAML 1.1, so an unquoted `no` is false (and so is the JSON Schema's view).
    config = parse_config("spec:\n  mocks:\n    - {mockId: a, includeInSwagger: no}\n", FILE)

    assert config.mocks[0].include_in_swagger is False


def test_mock_specs_are_hashable_values() -> None:
    first = parse_config(FULL, FILE)
    again = parse_config(FULL, FILE)

    assert first == again
    assert len({*first.mocks, *again.mocks}) == 2


def test_warnings_stay_on_one_line_even_for_keys_with_control_characters() -> None:
    text = 'spec:\n  mocks:\n    - mockId: a\n      "odd\\nkey": 1\n'

    config = parse_config(text, FILE)

    assert config.warnings == (f"{FILE}:4: field 'spec.mocks[0]': unknown key 'odd\\nkey'",)
