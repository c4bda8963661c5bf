"""The annotation `bcgov/microcks-config-ref` → the microcks.yaml it names."""

from __future__ import annotations

from pathlib import Path

import pytest
from artifacts_fixtures import RecordingTransport, file_entity, url_entity

from microcks_pipeline.core.errors import ConfigError
from microcks_pipeline.sources.artifacts import ArtifactReader
from microcks_pipeline.sources.locate import locate_config
from microcks_pipeline.sources.urls import UrlPolicy


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        ("dir:.", "apis/pet/microcks.yaml"),
        ("dir:mocks", "apis/pet/mocks/microcks.yaml"),
        ("dir:./mocks/", "apis/pet/mocks/microcks.yaml"),
        ("  dir:mocks  ", "apis/pet/mocks/microcks.yaml"),
        ("dir:../shared", "apis/shared/microcks.yaml"),
        ("./microcks.yaml", "apis/pet/microcks.yaml"),
        ("microcks.yaml", "apis/pet/microcks.yaml"),
        ("./mocks/", "apis/pet/mocks/microcks.yaml"),
        ("mocks", "apis/pet/mocks/microcks.yaml"),
        ("mocks/custom.yml", "apis/pet/mocks/custom.yml"),
        (".", "apis/pet/microcks.yaml"),
    ],
)
def test_file_annotation_forms_resolve_against_the_entity_folder(
    tmp_path: Path, annotation: str, expected: str
) -> None:
    entity = file_entity(tmp_path, annotation=annotation)

    source = locate_config(entity, ArtifactReader())

    assert source.kind == "file"
    assert source.location == expected


def test_url_annotation_appends_the_file_name() -> None:
    reader = ArtifactReader(UrlPolicy(allowed_hosts=frozenset({"raw.example.org"})))
    entity = file_entity(
        Path("/repo"), annotation="url:https://raw.example.org/org/repo/main/mocks"
    )

    source = locate_config(entity, reader)

    assert source.url == "https://raw.example.org/org/repo/main/mocks/microcks.yaml"


def test_dir_annotation_of_a_url_located_entity_is_a_url_in_its_repository() -> None:
    reader = ArtifactReader(
        UrlPolicy(allowed_hosts=frozenset({"git.example.org"})), transport=RecordingTransport()
    )
    entity = url_entity(
        "https://git.example.org/org/repo/raw/main/", "apis/pet", annotation="dir:."
    )

    source = locate_config(entity, reader)

    assert source.url == "https://git.example.org/org/repo/raw/main/apis/pet/microcks.yaml"


@pytest.mark.parametrize(
    "annotation",
    [
        "",
        "   ",
        "/abs/mocks",
        "dir:/abs",
        "dir:",
        "file:./microcks.yaml",
        "xyz:mocks",
        "url:./mocks",
        "url:mocks",
        "https://raw.example.org/mocks",
        "dir:../../../..",
    ],
)
def test_invalid_annotations_are_config_errors_naming_the_annotation(
    tmp_path: Path, annotation: str
) -> None:
    entity = file_entity(tmp_path, annotation=annotation)

    with pytest.raises(ConfigError) as err:
        locate_config(entity, ArtifactReader())

    assert str(err.value).startswith("invalid annotation bcgov/microcks-config-ref: ")
    assert err.value.entity_ref == entity.ref


def test_missing_annotation_is_a_config_error(tmp_path: Path) -> None:
    entity = file_entity(tmp_path, annotation=None)

    with pytest.raises(ConfigError):
        locate_config(entity, ArtifactReader())


def test_url_annotation_to_a_host_not_allowed_is_an_annotation_error() -> None:
    transport = RecordingTransport()
    entity = file_entity(Path("/repo"), annotation="url:https://evil.example.com/mocks/")

    with pytest.raises(ConfigError) as err:
        locate_config(entity, ArtifactReader(transport=transport))

    assert "evil.example.com is not allowed" in str(err.value)
    assert transport.requests == []
