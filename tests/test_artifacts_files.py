"""ArtifactReader on repository files: what resolves, what is refused, and why."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from artifacts_fixtures import file_entity, write

from microcks_pipeline.core.errors import (
    ArtifactPolicyError,
    ConfigError,
    PermanentError,
    TransientError,
)
from microcks_pipeline.sources.artifacts import ArtifactReader, sha256_hex


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    write(
        root,
        {
            "apis/pet/openapi.yaml": "openapi: 3.0.0\n",
            "apis/pet/examples/ex.yaml": "kind: APIExamples\n",
            "shared/common.yaml": "kind: APIMetadata\n",
        },
    )
    (tmp_path / "outside.yaml").write_text("secret: outside the repository\n")
    return root


def read(repo: Path, ref: str, *, reader: ArtifactReader | None = None) -> tuple[str, bytes]:
    entity = file_entity(repo)
    reader = reader or ArtifactReader()
    source = reader.resolve(ref, base_dir=entity.location.base_dir, location=entity.location)
    return source.location, reader.read(source)


def test_relative_path_resolves_to_repo_relative_location_and_reads_content(repo: Path) -> None:
    location, content = read(repo, "./examples/ex.yaml")

    assert location == "apis/pet/examples/ex.yaml"
    assert content == (repo / "apis/pet/examples/ex.yaml").read_bytes()


def test_dotdot_that_stays_inside_the_repository_is_allowed(repo: Path) -> None:
    location, content = read(repo, "../../shared/common.yaml")

    assert location == "shared/common.yaml"
    assert content == b"kind: APIMetadata\n"


def test_dotdot_escaping_the_repository_is_refused_naming_the_ref(repo: Path) -> None:
    with pytest.raises(ArtifactPolicyError) as err:
        read(repo, "../../../outside.yaml")

    assert "../../../outside.yaml" in str(err.value)
    assert "leaves the repository" in str(err.value)


@pytest.mark.parametrize("ref", ["/etc/passwd", "//etc/passwd", "~/x.yaml"])
def test_absolute_paths_are_refused(repo: Path, ref: str) -> None:
    with pytest.raises(ArtifactPolicyError) as err:
        read(repo, ref)

    assert ref in str(err.value)


@pytest.mark.parametrize("ref", ["file:///etc/passwd", "ftp://host/x", "C:/x.yaml", "a\\..\\b"])
def test_other_schemes_and_backslash_paths_are_refused(repo: Path, ref: str) -> None:
    with pytest.raises(ArtifactPolicyError):
        read(repo, ref)


def test_symlink_pointing_outside_the_repository_is_refused(repo: Path) -> None:
    (repo / "apis/pet/link.yaml").symlink_to(repo.parent / "outside.yaml")

    with pytest.raises(ArtifactPolicyError) as err:
        read(repo, "./link.yaml")

    assert "symlink" in str(err.value)
    assert "apis/pet/link.yaml" in str(err.value)


def test_symlinked_folder_pointing_outside_is_refused(repo: Path) -> None:
    (repo / "apis/pet/ext").symlink_to(repo.parent, target_is_directory=True)

    with pytest.raises(ArtifactPolicyError):
        read(repo, "./ext/outside.yaml")


def test_symlink_inside_the_repository_is_followed(repo: Path) -> None:
    (repo / "apis/pet/alias.yaml").symlink_to(repo / "shared/common.yaml")

    location, content = read(repo, "alias.yaml")

    assert location == "apis/pet/alias.yaml"
    assert content == b"kind: APIMetadata\n"


def test_missing_file_is_a_permanent_config_error_with_repo_relative_path(repo: Path) -> None:
    with pytest.raises(ConfigError) as err:
        read(repo, "./nope.yaml")

    assert str(err.value) == "artifact not found: apis/pet/nope.yaml"
    assert str(repo) not in str(err.value)


def test_directory_is_refused_as_not_a_regular_file(repo: Path) -> None:
    with pytest.raises(ArtifactPolicyError) as err:
        read(repo, "./examples")

    assert "not a regular file" in str(err.value)


def test_fifo_is_refused_without_blocking(repo: Path) -> None:
    os.mkfifo(repo / "apis/pet/pipe.yaml")

    with pytest.raises(ArtifactPolicyError) as err:
        read(repo, "./pipe.yaml")

    assert "not a regular file" in str(err.value)


def test_file_over_the_size_limit_is_refused(repo: Path) -> None:
    write(repo, {"apis/pet/big.yaml": b"x" * 101})
    reader = ArtifactReader(max_file_bytes=100)

    with pytest.raises(ArtifactPolicyError) as err:
        read(repo, "./big.yaml", reader=reader)

    assert "101 bytes" in str(err.value)
    assert read(repo, "./openapi.yaml", reader=reader)[1] == b"openapi: 3.0.0\n"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_is_a_transient_error(repo: Path) -> None:
    target = repo / "apis/pet/openapi.yaml"
    target.chmod(0)
    try:
        with pytest.raises(TransientError):
            read(repo, "./openapi.yaml")
    finally:
        target.chmod(0o644)


def test_policy_refusals_and_missing_files_are_permanent(repo: Path) -> None:
    for ref in ("../../../outside.yaml", "./nope.yaml", "/abs.yaml"):
        with pytest.raises(PermanentError):
            read(repo, ref)


def test_sha256_hex_is_the_content_hash() -> None:
    assert sha256_hex(b"abc") == hashlib.sha256(b"abc").hexdigest()
