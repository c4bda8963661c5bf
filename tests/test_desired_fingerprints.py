"""Per-mock fingerprints: content decides, one mock's edits requeue that mock only."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from desired_fixtures import MICROCKS_YAML, load, pet, pet_repo

from microcks_pipeline.core import desired as desired_module
from microcks_pipeline.core.desired import mock_fingerprint


def fingerprints(repo: Path, **kwargs: object) -> dict[str, str]:
    return {m.mock_id: m.fingerprint for m in load(pet(repo, **kwargs)).mocks}


def test_loading_twice_gives_the_same_fingerprints(tmp_path: Path) -> None:
    repo = pet_repo(tmp_path)

    assert fingerprints(repo) == fingerprints(repo)


def test_editing_one_mocks_example_file_changes_only_that_mock(tmp_path: Path) -> None:
    repo = pet_repo(tmp_path)
    before = fingerprints(repo)

    with (repo / "apis/pet/mocks/alt/examples.yaml").open("a") as f:
        f.write("# edited\n")
    after = fingerprints(repo)

    assert after["alt"] != before["alt"]
    assert after["default"] == before["default"]


def test_editing_another_mocks_entry_in_microcks_yaml_changes_nothing_for_this_mock(
    tmp_path: Path,
) -> None:
    repo = pet_repo(tmp_path)
    before = fingerprints(repo)

    edited = MICROCKS_YAML.replace("includeInSwagger: false", "includeInSwagger: true")
    (repo / "apis/pet/microcks.yaml").write_text("# a comment\n" + edited)
    after = fingerprints(repo)

    assert after["alt"] != before["alt"]
    assert after["default"] == before["default"]


def test_adding_a_mock_leaves_existing_mocks_alone(tmp_path: Path) -> None:
    repo = pet_repo(tmp_path)
    before = fingerprints(repo)

    (repo / "apis/pet/microcks.yaml").write_text(MICROCKS_YAML + "    - mockId: extra\n")
    after = fingerprints(repo)

    assert set(after) == {"default", "alt", "extra"}
    assert {k: after[k] for k in before} == before


def test_touching_files_without_changing_content_changes_nothing(tmp_path: Path) -> None:
    repo = pet_repo(tmp_path)
    before = fingerprints(repo)

    for path in (repo / "apis/pet").rglob("*"):
        if path.is_file():
            os.utime(path, (1, 1))
    after = fingerprints(repo)

    assert after == before


def test_editing_the_shared_definition_changes_the_mocks_that_use_it(tmp_path: Path) -> None:
    repo = pet_repo(tmp_path)
    before = fingerprints(repo)

    with (repo / "apis/pet/openapi.yaml").open("a") as f:
        f.write("x-edited: true\n")
    after = fingerprints(repo)

    assert after["default"] != before["default"]
    assert after["alt"] == before["alt"]  # alt has its own openapi.path


def test_renaming_the_entity_in_another_case_changes_fingerprints(tmp_path: Path) -> None:
    # The ref is lower-cased, but metadata.name is stamped as the service name as written.
    repo = pet_repo(tmp_path)
    entity = pet(repo)
    renamed = type(entity)(**{**entity.__dict__, "name": "Petstore"})

    before = {m.mock_id: m.fingerprint for m in load(entity).mocks}
    after = {m.mock_id: m.fingerprint for m in load(renamed).mocks}

    assert entity.ref == renamed.ref
    assert all(after[k] != before[k] for k in before)


def test_same_content_at_another_location_changes_the_fingerprint(tmp_path: Path) -> None:
    repo = pet_repo(tmp_path)
    before = fingerprints(repo)

    moved = MICROCKS_YAML.replace("./mocks/alt/examples.yaml", "./mocks/default/examples.yaml")
    (repo / "apis/pet/microcks.yaml").write_text(moved)
    after = fingerprints(repo)

    assert after["alt"] != before["alt"]


def test_stamp_format_version_is_part_of_the_fingerprint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = pet_repo(tmp_path)
    before = fingerprints(repo)

    monkeypatch.setattr(
        desired_module, "STAMP_FORMAT_VERSION", desired_module.STAMP_FORMAT_VERSION + 1
    )
    after = fingerprints(repo)

    assert all(after[k] != before[k] for k in before)


def test_mock_fingerprint_ignores_key_order_but_not_values() -> None:
    artifacts = [("main", "apis/pet/openapi.yaml", "a" * 64)]

    one = mock_fingerprint("api:default/pet", {"mockId": "m", "includeInSwagger": True}, artifacts)
    same = mock_fingerprint("api:default/pet", {"includeInSwagger": True, "mockId": "m"}, artifacts)
    other = mock_fingerprint(
        "api:default/pet", {"mockId": "m", "includeInSwagger": False}, artifacts
    )

    assert one == same
    assert one != other


def test_mock_fingerprint_follows_artifact_order() -> None:
    a = ("secondary:examples", "a.yaml", "1" * 64)
    b = ("secondary:metadata", "b.yaml", "2" * 64)

    assert mock_fingerprint("api:default/pet", {}, [a, b]) != mock_fingerprint(
        "api:default/pet", {}, [b, a]
    )
