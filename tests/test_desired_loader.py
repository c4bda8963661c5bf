"""load_entity_desired: stamped mocks from a real repository on disk (and a real local server),
and every bad input failing only its own mock or entity."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from artifacts_fixtures import (
    EXAMPLES_YAML,
    OPENAPI_YAML,
    LocalServer,
    RecordingTransport,
    Reply,
    Seen,
    file_entity,
    sniff,
    url_entity,
    write,
)
from desired_fixtures import MICROCKS_YAML, load, pet, pet_repo, store

from microcks_pipeline.core.desired import ENTITY_MOCK_ID, EntityDesired
from microcks_pipeline.core.identity import service_version
from microcks_pipeline.sources.artifacts import ArtifactReader, Source, sha256_hex
from microcks_pipeline.sources.urls import UrlPolicy

TOKEN = "loader-secret-token"


def assert_store_unaffected(repo: Path) -> None:
    other = load(store(repo))
    assert [m.mock_id for m in other.mocks] == ["default"] and other.failures == ()


# ---- the good path ------------------------------------------------------------------------


def test_every_mock_is_loaded_with_stamped_artifacts_in_order(tmp_path: Path) -> None:
    repo = pet_repo(tmp_path)
    entity = pet(repo)

    desired = load(entity)

    assert desired.failures == ()
    default, alt = desired.mocks
    assert (default.mock_id, alt.mock_id) == ("default", "alt")
    assert default.service_name == "PetStore"
    assert default.version == service_version(entity.ref, "default")
    assert (default.include_in_swagger, alt.include_in_swagger) == (True, False)
    assert default.main.location == "apis/pet/openapi.yaml"
    assert alt.main.location == "apis/pet/mocks/alt/openapi.json"
    assert [a.kind for a in default.secondaries] == ["examples", "metadata"]
    main_doc = yaml.safe_load(default.main.content)
    assert main_doc["info"] == {"title": "PetStore", "version": default.version}
    for artifact in default.secondaries:
        stamped = yaml.safe_load(artifact.content)["metadata"]
        assert (stamped["name"], stamped["version"]) == ("PetStore", default.version)


def test_artifact_hash_is_of_the_raw_content_before_stamping(tmp_path: Path) -> None:
    repo = pet_repo(tmp_path)

    default = load(pet(repo)).mocks[0]

    assert default.main.sha256 == sha256_hex((repo / "apis/pet/openapi.yaml").read_bytes())
    assert default.main.content != (repo / "apis/pet/openapi.yaml").read_bytes()


def test_stamped_outputs_are_sniffed_as_their_types(tmp_path: Path) -> None:
    repo = pet_repo(tmp_path)

    default, alt = load(pet(repo)).mocks

    assert sniff(default.main.content) == "openapi"
    assert sniff(alt.main.content) == "openapi"
    assert alt.main.content.lstrip().startswith(b"{")  # JSON main stays JSON
    assert [sniff(a.content) for a in default.secondaries] == ["APIExamples", "APIMetadata"]


def test_upload_names_are_stable_per_location_and_distinct(tmp_path: Path) -> None:
    repo = pet_repo(tmp_path)

    first = load(pet(repo))
    second = load(pet(repo))

    names = [a.upload_name for m in first.mocks for a in (m.main, *m.secondaries)]
    assert names == [a.upload_name for m in second.mocks for a in (m.main, *m.secondaries)]
    by_location = {a.location: a.upload_name for m in first.mocks for a in (m.main, *m.secondaries)}
    assert len(set(by_location.values())) == len(by_location)
    assert by_location["apis/pet/mocks/default/examples.yaml"].startswith("examples-")
    assert by_location["apis/pet/mocks/alt/openapi.json"].endswith(".json")


def test_inline_definition_is_the_main_artifact(tmp_path: Path) -> None:
    repo = pet_repo(tmp_path)

    desired = load(pet(repo, definition=OPENAPI_YAML))

    default = desired.mocks[0]
    assert default.main.location == "spec.definition"
    assert yaml.safe_load(default.main.content)["info"]["title"] == "PetStore"


def test_other_secondaries_are_uploaded_unchanged_with_a_warning(tmp_path: Path) -> None:
    postman = b'{\n  "_postman_id": "1",\n  "info": {"name": "x", "version": "1"}\n}\n'
    repo = pet_repo(tmp_path, **{"apis/pet/mocks/default/metadata.yaml": postman})

    default = load(pet(repo)).mocks[0]

    assert default.secondaries[1].content == postman
    assert len(default.warnings) == 1
    assert "apis/pet/mocks/default/metadata.yaml" in default.warnings[0]


def test_unknown_keys_in_microcks_yaml_are_entity_warnings(tmp_path: Path) -> None:
    repo = pet_repo(tmp_path, **{"apis/pet/microcks.yaml": MICROCKS_YAML + "extra: 1\n"})

    desired = load(pet(repo))

    assert len(desired.mocks) == 2
    assert any("extra" in w for w in desired.warnings)


class CountingReader(ArtifactReader):
    """A real reader that counts reads per location."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.reads: dict[str, int] = {}

    def read(self, source: Source) -> bytes:
        self.reads[source.location] = self.reads.get(source.location, 0) + 1
        return super().read(source)


def test_each_file_is_read_once_per_entity_even_when_mocks_share_it(tmp_path: Path) -> None:
    shared = "".join(
        f"    - mockId: m{i}\n      artifacts:\n        - kind: examples\n"
        "          path: ./mocks/default/examples.yaml\n"
        for i in range(3)
    )
    repo = pet_repo(tmp_path, **{"apis/pet/microcks.yaml": "spec:\n  mocks:\n" + shared})
    reader = CountingReader()

    desired = load(pet(repo), reader)

    assert len(desired.mocks) == 3
    assert reader.reads == {
        "apis/pet/microcks.yaml": 1,
        "apis/pet/openapi.yaml": 1,
        "apis/pet/mocks/default/examples.yaml": 1,
    }
    versions = {
        yaml.safe_load(m.secondaries[0].content)["metadata"]["version"] for m in desired.mocks
    }
    assert len(versions) == 3  # shared file, stamped per mock


# ---- entity-level failures ----------------------------------------------------------------


def assert_entity_failure(desired: EntityDesired, *fragments: str) -> None:
    assert desired.mocks == ()
    (failure,) = desired.failures
    assert failure.mock_id == ENTITY_MOCK_ID
    assert failure.permanent is True
    for fragment in fragments:
        assert fragment in failure.reason


def test_missing_microcks_yaml_fails_the_entity_only(tmp_path: Path) -> None:
    repo = pet_repo(tmp_path)
    (repo / "apis/pet/microcks.yaml").unlink()

    desired = load(pet(repo))

    assert_entity_failure(desired, "not found", "apis/pet/microcks.yaml")
    assert_store_unaffected(repo)


@pytest.mark.parametrize(
    "annotation", ["xyz:mocks", "file:./microcks.yaml", "/abs/mocks", "url:mocks", ""]
)
def test_invalid_annotation_fails_the_entity_only(tmp_path: Path, annotation: str) -> None:
    repo = pet_repo(tmp_path)

    desired = load(pet(repo, annotation=annotation))

    assert_entity_failure(desired, "invalid annotation bcgov/microcks-config-ref")
    assert_store_unaffected(repo)


def test_an_invalid_whole_file_field_fails_the_entity_naming_file_line_and_field(
    tmp_path: Path,
) -> None:
    broken = MICROCKS_YAML.replace("kind: MicrocksSync", "kind: Something")
    repo = pet_repo(tmp_path, **{"apis/pet/microcks.yaml": broken})

    desired = load(pet(repo))

    assert_entity_failure(desired, "apis/pet/microcks.yaml:2", "field 'kind'")
    assert_store_unaffected(repo)


def test_an_invalid_field_in_one_mock_entry_fails_that_mock_only(tmp_path: Path) -> None:
    broken = MICROCKS_YAML.replace("includeInSwagger: false", "includeInSwagger: 'yes'")
    repo = pet_repo(tmp_path, **{"apis/pet/microcks.yaml": broken})

    reason = only_failure(load(pet(repo)), "alt")

    line = broken.splitlines().index("      includeInSwagger: 'yes'") + 1
    field = "field 'spec.mocks[1].includeInSwagger'"
    assert reason.startswith(f"apis/pet/microcks.yaml:{line}: {field}: must be true or false")
    assert_store_unaffected(repo)


def test_an_entry_with_an_invalid_mockId_fails_under_its_position(tmp_path: Path) -> None:
    broken = MICROCKS_YAML.replace("- mockId: alt", "- mockId: 'bad id!'")
    repo = pet_repo(tmp_path, **{"apis/pet/microcks.yaml": broken})

    desired = load(pet(repo))

    line = broken.splitlines().index("    - mockId: 'bad id!'") + 1
    assert [m.mock_id for m in desired.mocks] == ["default"]
    (failure,) = desired.failures
    assert (failure.mock_id, failure.permanent) == ("spec.mocks[1]", True)
    assert failure.reason.startswith(f"apis/pet/microcks.yaml:{line}: field 'spec.mocks[1].mockId'")
    assert_store_unaffected(repo)


@pytest.mark.parametrize("bad_path", ["/etc/passwd", "C:/outside.yaml"])
def test_absolute_artifact_path_fails_its_mock_with_its_line(tmp_path: Path, bad_path: str) -> None:
    # microcks.yaml validation refuses these outright (file:line:field), before any read;
    # a `..` escape is refused by the reader instead (see test_repository_paths.py).
    config = MICROCKS_YAML.replace("./mocks/alt/examples.yaml", bad_path)
    repo = pet_repo(tmp_path, **{"apis/pet/microcks.yaml": config})

    reason = only_failure(load(pet(repo)), "alt")

    line = config.splitlines().index(f"          path: {bad_path}") + 1
    assert reason.startswith(f"apis/pet/microcks.yaml:{line}: ")
    assert_store_unaffected(repo)


@pytest.mark.parametrize("depth", [300, 600, 990, 5000])
def test_deeply_nested_microcks_yaml_never_stops_the_pass(tmp_path: Path, depth: int) -> None:
    nested = "[" * depth + "]" * depth
    config = MICROCKS_YAML + f"    - mockId: deep\n      x-extra: {nested}\n"
    repo = pet_repo(tmp_path, **{"apis/pet/microcks.yaml": config})

    desired = load(pet(repo))

    if desired.failures:
        assert [m.mock_id for m in desired.mocks] in ([], ["default", "alt"])
        assert "nest" in desired.failures[0].reason
    else:
        assert [m.mock_id for m in desired.mocks] == ["default", "alt", "deep"]
    assert_store_unaffected(repo)


# ---- mock-level failures ------------------------------------------------------------------


def only_failure(desired: EntityDesired, mock_id: str, *, permanent: bool = True) -> str:
    assert [m.mock_id for m in desired.mocks] == [m for m in ("default", "alt") if m != mock_id]
    (failure,) = desired.failures
    assert failure.mock_id == mock_id
    assert failure.permanent is permanent
    assert "Traceback" not in failure.reason
    return failure.reason


def test_symlink_escaping_the_repository_fails_that_mock_only(tmp_path: Path) -> None:
    repo = pet_repo(tmp_path / "repo")
    (tmp_path / "secret.yaml").write_text("kind: APIExamples\n")
    target = repo / "apis/pet/mocks/alt/examples.yaml"
    target.unlink()
    target.symlink_to(tmp_path / "secret.yaml")

    reason = only_failure(load(pet(repo)), "alt")

    assert "symlink" in reason and "apis/pet/mocks/alt/examples.yaml" in reason
    assert_store_unaffected(repo)


def test_text_reference_outside_the_repository_fails_mocks_using_it(tmp_path: Path) -> None:
    repo = pet_repo(tmp_path / "repo")
    (tmp_path / "openapi.yaml").write_text(OPENAPI_YAML)

    reason = only_failure(load(pet(repo, definition={"$text": "../../../openapi.yaml"})), "default")

    assert "leaves the repository" in reason


def test_missing_definition_fails_mocks_without_openapi_path(tmp_path: Path) -> None:
    repo = pet_repo(tmp_path)
    entity = file_entity(repo, "apis/pet", name="PetStore")  # no spec.definition

    reason = only_failure(load(entity), "default")

    assert "no OpenAPI definition" in reason


def test_missing_artifact_fails_that_mock_only(tmp_path: Path) -> None:
    repo = pet_repo(tmp_path)
    (repo / "apis/pet/mocks/alt/examples.yaml").unlink()

    reason = only_failure(load(pet(repo)), "alt")

    assert reason == "artifact not found: apis/pet/mocks/alt/examples.yaml"


def test_unstampable_main_fails_that_mock_only(tmp_path: Path) -> None:
    repo = pet_repo(tmp_path, **{"apis/pet/mocks/alt/openapi.json": '{"asyncapi": "1.2.0"}'})

    reason = only_failure(load(pet(repo)), "alt")

    assert (
        "apis/pet/mocks/alt/openapi.json" in reason
        and "not an AsyncAPI 2.x or 3.x document" in reason
    )


def test_artifact_over_the_size_limit_fails_that_mock_only(tmp_path: Path) -> None:
    big = EXAMPLES_YAML + "#" + "x" * 5000 + "\n"
    repo = pet_repo(tmp_path, **{"apis/pet/mocks/alt/examples.yaml": big})

    reason = only_failure(load(pet(repo), ArtifactReader(max_file_bytes=4000)), "alt")

    assert "byte limit" in reason


# ---- URL artifacts ------------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as s:
        yield s


def with_url_artifact(tmp_path: Path, url: str) -> Path:
    return pet_repo(
        tmp_path,
        **{"apis/pet/microcks.yaml": MICROCKS_YAML.replace("./mocks/alt/examples.yaml", url)},
    )


def local_reader(**overrides: object) -> ArtifactReader:
    values: dict[str, object] = {
        "allowed_hosts": frozenset({"127.0.0.1"}),
        "allow_http": True,
        "allow_private": True,
    }
    values.update(overrides)
    return ArtifactReader(UrlPolicy(**values))  # type: ignore[arg-type]


def test_url_artifact_is_read_with_its_token_and_stamped(
    tmp_path: Path, server: LocalServer
) -> None:
    def guarded(seen: Seen) -> Reply:
        ok = seen.headers.get("authorization") == f"Bearer {TOKEN}"
        return Reply(200, EXAMPLES_YAML.encode()) if ok else Reply(403)

    server.routes["/examples.yaml"] = guarded
    repo = with_url_artifact(tmp_path, server.url("/examples.yaml"))

    desired = load(pet(repo), local_reader(host_tokens={"127.0.0.1": TOKEN}))

    assert desired.failures == ()
    alt = desired.mocks[1]
    assert alt.secondaries[0].location == server.url("/examples.yaml")
    assert yaml.safe_load(alt.secondaries[0].content)["metadata"]["version"] == alt.version


def test_url_to_a_host_not_allowed_fails_that_mock_without_a_request(tmp_path: Path) -> None:
    transport = RecordingTransport()
    repo = with_url_artifact(tmp_path, "https://evil.example.com/examples.yaml")

    desired = load(pet(repo), ArtifactReader(transport=transport))

    assert "evil.example.com is not allowed" in only_failure(desired, "alt")
    assert transport.requests == []


@pytest.mark.parametrize("host", ["127.0.0.1", "10.0.0.1"])
def test_url_to_a_private_address_fails_that_mock_before_connecting(
    tmp_path: Path, host: str
) -> None:
    transport = RecordingTransport()
    repo = with_url_artifact(tmp_path, f"http://{host}/examples.yaml")
    policy = UrlPolicy(allowed_hosts=frozenset({host}), allow_http=True)

    desired = load(pet(repo), ArtifactReader(policy, transport=transport))

    assert "private" in only_failure(desired, "alt")
    assert transport.requests == []


def test_url_redirecting_to_a_host_not_allowed_fails_that_mock(
    tmp_path: Path, server: LocalServer
) -> None:
    server.routes["/examples.yaml"] = Reply(
        302, headers={"Location": "http://evil.example.com/x.yaml"}
    )
    repo = with_url_artifact(tmp_path, server.url("/examples.yaml"))

    desired = load(pet(repo), local_reader())

    assert "evil.example.com is not allowed" in only_failure(desired, "alt")


def test_url_not_found_is_permanent_and_server_error_transient(
    tmp_path: Path, server: LocalServer
) -> None:
    server.routes["/broken.yaml"] = Reply(503)
    missing = with_url_artifact(tmp_path / "a", server.url("/missing.yaml?token=" + TOKEN))
    broken = with_url_artifact(tmp_path / "b", server.url("/broken.yaml"))

    permanent = load(pet(missing), local_reader())
    transient = load(pet(broken), local_reader())

    assert "404" in only_failure(permanent, "alt", permanent=True)
    assert TOKEN not in permanent.failures[0].reason
    assert "503" in only_failure(transient, "alt", permanent=False)
    assert transient.transient_failure is True


def test_failure_fingerprint_is_stable_and_follows_the_reason(tmp_path: Path) -> None:
    repo = pet_repo(tmp_path)
    (repo / "apis/pet/mocks/alt/examples.yaml").unlink()

    first = load(pet(repo)).failures[0]
    again = load(pet(repo)).failures[0]
    write(repo, {"apis/pet/mocks/alt/examples.yaml": "kind: [broken\n"})
    (repo / "apis/pet/mocks/alt/openapi.json").unlink()
    changed = load(pet(repo)).failures[0]

    assert first.fingerprint == again.fingerprint
    assert changed.fingerprint != first.fingerprint


def test_url_annotation_reads_microcks_yaml_and_its_relative_artifacts_from_the_server(
    tmp_path: Path, server: LocalServer
) -> None:
    server.routes["/mocks/microcks.yaml"] = Reply(
        200,
        b"spec:\n  mocks:\n    - mockId: web\n      artifacts:\n        - kind: examples\n          path: ./ex/examples.yaml\n",
    )
    server.routes["/mocks/ex/examples.yaml"] = Reply(200, EXAMPLES_YAML.encode())
    entity = file_entity(
        tmp_path,
        "apis/web",
        name="web",
        annotation="url:" + server.url("/mocks"),
        definition=OPENAPI_YAML,
    )

    desired = load(entity, local_reader())

    (mock,) = desired.mocks
    assert mock.secondaries[0].location == server.url("/mocks/ex/examples.yaml")
    assert yaml.safe_load(mock.secondaries[0].content)["metadata"]["name"] == "web"


def test_an_entity_located_by_its_file_page_reads_the_raw_files_beside_it(
    tmp_path: Path, server: LocalServer
) -> None:
    # As Backstage locates an entity in GitLab: the page showing its catalog-info.yaml.
    pages = server.url("/group/repo/-/blob/main/")
    raw = "/group/repo/-/raw/main/apis/web/"
    server.routes[raw + "microcks.yaml"] = Reply(
        200,
        b"spec:\n  mocks:\n    - mockId: web\n      artifacts:\n        - kind: examples\n          path: ./ex/examples.yaml\n",
    )
    server.routes[raw + "ex/examples.yaml"] = Reply(200, EXAMPLES_YAML.encode())
    entity = url_entity(pages, "apis/web", name="web", definition=OPENAPI_YAML)

    desired = load(entity, local_reader())

    assert desired.failures == ()
    (mock,) = desired.mocks
    assert mock.secondaries[0].location == pages + "apis/web/ex/examples.yaml"  # the page URL
    assert yaml.safe_load(mock.secondaries[0].content)["metadata"]["name"] == "web"
    # Besides GitLab's commit endpoint (this stand-in has none: 404), only the raw files.
    files = {s.path for s in server.seen if not s.path.startswith("/api/v4/")}
    assert files == {raw + "microcks.yaml", raw + "ex/examples.yaml"}


def test_unreachable_microcks_yaml_is_a_transient_entity_failure(
    tmp_path: Path, server: LocalServer
) -> None:
    server.routes["/mocks/microcks.yaml"] = Reply(503)
    entity = file_entity(
        tmp_path, "apis/web", name="web", annotation="url:" + server.url("/mocks/")
    )

    desired = load(entity, local_reader())

    (failure,) = desired.failures
    assert failure.mock_id == ENTITY_MOCK_ID
    assert failure.permanent is False
    assert desired.transient_failure is True
