"""`microcks-pipeline validate`: 0 all valid, 1 some invalid, 2 usage error; one line per file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from config_fixtures import BAD_CASES, EXAMPLES, REPO, SAMPLE_CATALOG, VALID, BadCase

from microcks_pipeline.cli import main


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if "./examples.yaml" in text:  # VALID names it: give it the file it references
        (path.parent / "examples.yaml").write_text(EXAMPLES)
    return path


def _validate(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of `microcks-pipeline validate ARGV`."""
    code = main(["validate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _sample_files() -> list[Path]:
    return sorted(SAMPLE_CATALOG.rglob("microcks.yaml"))


def test_the_sample_catalog_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["validate", str(SAMPLE_CATALOG)])

    out, err = capsys.readouterr()
    assert code == 0
    assert err == ""
    lines = out.splitlines()
    assert len(lines) == len(_sample_files())
    assert all(line.startswith("ok ") for line in lines)
    assert {line.split(":")[0][3:] for line in lines} == {str(p) for p in _sample_files()}


def test_the_summary_line_names_the_mocks(tmp_path: Path, capsys) -> None:
    file = _write(tmp_path / "microcks.yaml", VALID)

    code = main(["validate", str(file)])

    assert code == 0
    assert capsys.readouterr().out == f"ok {file}: 1 mock(s): default\n"


@pytest.mark.parametrize("case", BAD_CASES, ids=lambda c: c.name)
def test_an_invalid_file_fails_while_a_valid_one_in_the_same_run_is_still_reported_valid(
    case: BadCase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = _write(tmp_path / "a-good" / "microcks.yaml", VALID)
    bad = _write(tmp_path / "b-bad" / "microcks.yaml", case.text)

    code = main(["validate", str(tmp_path)])

    out, err = capsys.readouterr()
    assert code == 1
    assert out.splitlines() == [
        f"ok {good}: 1 mock(s): default",
        f"invalid {bad}: 1 problem(s)",
    ]
    [message] = [line for line in err.splitlines() if line.startswith("error: ")]
    where = f"{bad}:{case.line}" if case.line else f"{bad}"
    assert message.startswith(f"error: {where}: ")
    if case.field:
        assert f"field '{case.field}'" in message
    assert case.says in message
    assert good.read_text() == VALID and bad.read_text() == case.text  # nothing rewritten


def test_every_problem_gets_its_own_line_on_stderr(tmp_path: Path, capsys) -> None:
    text = "spec:\n  mocks:\n    - mockId: a/b\n    - mockId: ok\n      artifacts: [{path: /x}]\n"
    bad = _write(tmp_path / "microcks.yaml", text)

    code = main(["validate", str(bad)])

    out, err = capsys.readouterr()
    assert code == 1
    assert out == f"invalid {bad}: 3 problem(s)\n"
    assert [line.split(": field ")[0] for line in err.splitlines()] == [
        f"error: {bad}:3",
        f"error: {bad}:5",
        f"error: {bad}:5",
    ]


def test_warnings_go_to_stderr_and_do_not_fail(tmp_path: Path, capsys) -> None:
    file = _write(
        tmp_path / "microcks.yaml", VALID.replace("kind: Micro", "owner: me\nkind: Micro")
    )

    code = main(["validate", str(file)])

    out, err = capsys.readouterr()
    assert code == 0
    assert out.startswith(f"ok {file}")
    assert err == f"warning: {file}:2: unknown key 'owner'\n"


def test_unknown_keys_are_reported_with_a_near_miss_even_when_the_file_has_errors(
    tmp_path: Path, capsys
) -> None:
    text = "spec:\n  mocks:\n    - mockId: a\n      artifacts:\n        - {kind: examples, pth: e.yaml}\n"
    file = _write(tmp_path / "microcks.yaml", text)

    code, out, err = _validate(capsys, str(file))

    assert (code, out) == (1, f"invalid {file}: 1 problem(s)\n")
    assert err.splitlines() == [
        f"error: {file}:5: field 'spec.mocks[0].artifacts[0].path': required field is missing; "
        "found unknown key 'pth' (did you mean 'path'?)",
        f"warning: {file}:5: field 'spec.mocks[0].artifacts[0]': unknown key 'pth' "
        "(did you mean 'path'?)",
    ]


def test_a_missing_path_is_a_usage_error_but_the_other_paths_are_still_checked(
    tmp_path: Path, capsys
) -> None:
    good = _write(tmp_path / "microcks.yaml", VALID)
    missing = tmp_path / "nope"

    code = main(["validate", str(missing), str(good)])

    out, err = capsys.readouterr()
    assert code == 2
    assert out == f"ok {good}: 1 mock(s): default\n"
    assert err == f"error: path not found: {missing}\n"


def test_a_folder_without_microcks_yaml_is_a_usage_error(tmp_path: Path, capsys) -> None:
    _write(tmp_path / "catalog-info.yaml", "kind: API\n")

    code = main(["validate", str(tmp_path)])

    assert code == 2
    assert capsys.readouterr().err == f"error: no microcks.yaml in: {tmp_path}\n"


def test_usage_errors_beat_invalid_files(tmp_path: Path, capsys) -> None:
    bad = _write(tmp_path / "microcks.yaml", "spec: {}\n")

    assert main(["validate", str(bad), str(tmp_path / "missing")]) == 2


@pytest.mark.parametrize("argv", [[], ["validate"], ["frobnicate", "x"]])
def test_bad_command_lines_exit_2(argv: list[str], capsys) -> None:
    assert main(argv) == 2
    assert "usage:" in capsys.readouterr().err


def test_help_exits_0(capsys) -> None:
    assert main(["--help"]) == 0
    assert "validate" in capsys.readouterr().out


def test_a_file_given_by_name_is_checked_whatever_it_is_called(tmp_path: Path, capsys) -> None:
    file = _write(tmp_path / "mocks.yml", VALID)

    assert main(["validate", str(file)]) == 0
    assert capsys.readouterr().out.startswith(f"ok {file}")


def test_folders_are_searched_recursively_skipping_hidden_folders(tmp_path: Path, capsys) -> None:
    deep = _write(tmp_path / "a" / "b" / "c" / "microcks.yaml", VALID)
    _write(tmp_path / ".git" / "microcks.yaml", "not: [valid\n")
    _write(tmp_path / "a" / "other.yaml", "not: [valid\n")

    code = main(["validate", str(tmp_path)])

    assert code == 0
    assert capsys.readouterr().out == f"ok {deep}: 1 mock(s): default\n"


def test_an_oversized_file_is_refused_without_parsing(tmp_path: Path, capsys) -> None:
    [case] = [c for c in BAD_CASES if c.name == "over the size limit"]
    bad = _write(tmp_path / "microcks.yaml", case.text)

    code = main(["validate", str(bad)])

    assert code == 1
    assert "byte limit" in capsys.readouterr().err


def test_non_utf8_bytes_are_an_invalid_file_not_a_crash(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "microcks.yaml"
    bad.write_bytes(b"spec:\n  mocks:\n    - mockId: \xff\xfe\n")

    assert main(["validate", str(bad)]) == 1
    [message] = capsys.readouterr().err.splitlines()
    assert message.startswith(f"error: {bad}: malformed YAML")


def test_the_installed_console_script_validates_the_sample_catalog() -> None:
    script = Path(sys.executable).parent / "microcks-pipeline"

    done = subprocess.run(
        [str(script), "validate", "examples/catalog"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\nok ") + done.stdout.startswith("ok ") == len(_sample_files())
    assert "ok examples/catalog/petstore/microcks.yaml: 2 mock(s): default, fallback" in done.stdout


def test_python_dash_m_runs_the_cli_with_exit_code_1_on_an_invalid_file(tmp_path: Path) -> None:
    bad = _write(tmp_path / "microcks.yaml", "spec:\n  mocks: []\n")

    done = subprocess.run(
        [sys.executable, "-m", "microcks_pipeline.cli", "validate", str(bad)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )

    assert done.returncode == 1
    assert f"error: {bad}:2: field 'spec.mocks'" in done.stderr


# ---- the files and URLs a microcks.yaml names ----------------------------------------------

OPENAPI = "openapi: 3.0.1\ninfo: {title: t, version: '1'}\npaths: {}\n"
METADATA = "apiVersion: mocks.microcks.io/v1alpha1\nkind: APIMetadata\nmetadata: {name: x}\n"


def _mock_file(folder: Path, artifacts: str, openapi: str | None = None) -> Path:
    text = "spec:\n  mocks:\n    - mockId: default\n"
    if openapi is not None:
        text += f"      openapi:\n        path: {openapi}\n"
    return _write(folder / "microcks.yaml", text + "      artifacts:\n" + artifacts)


def _errors(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]


def test_an_artifact_path_that_does_not_exist_is_an_error_at_its_line(
    tmp_path: Path, capsys
) -> None:
    file = _mock_file(tmp_path, "        - kind: examples\n          path: ./missing.yaml\n")

    code = main(["validate", str(file)])

    assert code == 1
    assert _errors(capsys) == [
        f"error: {file}:5: field 'spec.mocks[0].artifacts[0].path': "
        "artifact not found: missing.yaml"
    ]


def test_an_openapi_path_to_a_document_that_is_not_openapi_is_an_error(
    tmp_path: Path, capsys
) -> None:
    _write(tmp_path / "api.yaml", "just: a mapping\n")
    _write(tmp_path / "e.yaml", EXAMPLES)
    file = _mock_file(tmp_path, "        - {kind: examples, path: e.yaml}\n", openapi="./api.yaml")

    code = main(["validate", str(file)])

    assert code == 1
    assert _errors(capsys) == [
        f"error: {file}:5: field 'spec.mocks[0].openapi.path': "
        "api.yaml: not a kind Microcks recognises (OpenAPI, Swagger, AsyncAPI, GraphQL, gRPC "
        "proto3, Postman, SoapUI, APIExamples, APIMetadata): it would be read as a HAR archive "
        "and refused"
    ]


def test_an_artifact_must_be_the_document_its_kind_claims(tmp_path: Path, capsys) -> None:
    _write(tmp_path / "api.yaml", OPENAPI)
    _write(tmp_path / "meta.yaml", METADATA)
    _write(tmp_path / "ex.yaml", EXAMPLES)
    artifacts = (
        "        - {kind: examples, path: meta.yaml}\n"  # 6
        "        - {kind: metadata, path: ex.yaml}\n"  # 7
        "        - {kind: metadata, path: meta.yaml}\n"  # 8: right
        "        - {kind: postman, path: api.yaml}\n"  # 9: a free label promises nothing
    )
    file = _mock_file(tmp_path, artifacts, openapi="api.yaml")

    code = main(["validate", str(file)])

    assert code == 1
    assert _errors(capsys) == [
        f"error: {file}:7: field 'spec.mocks[0].artifacts[0].path': "
        "meta.yaml: kind 'examples' expects an APIExamples document, found APIMetadata",
        f"error: {file}:8: field 'spec.mocks[0].artifacts[1].path': "
        "ex.yaml: kind 'metadata' expects an APIMetadata document, found APIExamples",
    ]


def _repo_with_shared_examples(tmp_path: Path) -> Path:
    """repo/apis/pet/microcks.yaml whose artifact is a symlink to repo/shared/examples.yaml."""
    _write(tmp_path / "repo/shared/examples.yaml", EXAMPLES)
    file = _mock_file(tmp_path / "repo/apis/pet", "        - {kind: examples, path: ex.yaml}\n")
    (file.parent / "ex.yaml").symlink_to(tmp_path / "repo/shared/examples.yaml")
    return file


def test_the_repository_root_defaults_to_the_folder_holding_git(tmp_path: Path, capsys) -> None:
    file = _repo_with_shared_examples(tmp_path)
    (tmp_path / "repo/.git").mkdir()

    assert main(["validate", str(file)]) == 0
    assert _errors(capsys) == []


def test_without_git_the_files_folder_is_the_root_and_a_symlink_out_of_it_is_refused(
    tmp_path: Path, capsys
) -> None:
    file = _repo_with_shared_examples(tmp_path)

    code = main(["validate", str(file)])

    assert code == 1
    [error] = _errors(capsys)
    assert error.startswith(f"error: {file}:5: field 'spec.mocks[0].artifacts[0].path': ")
    assert "a symlink leads outside the repository" in error


def test_repo_sets_the_root_no_referenced_file_may_leave(tmp_path: Path, capsys) -> None:
    file = _repo_with_shared_examples(tmp_path)
    (tmp_path / "repo/.git").mkdir()

    narrow = main(["validate", "--repo", str(file.parent), str(file)])
    narrow_errors = _errors(capsys)
    wide = main(["validate", "--repo", str(tmp_path / "repo"), str(file)])

    assert narrow == 1 and "outside the repository" in narrow_errors[0]
    assert wide == 0
    assert (tmp_path / "repo/shared/examples.yaml").read_text() == EXAMPLES  # nothing touched


def test_an_http_url_is_refused_as_the_sync_would_unless_http_is_allowed(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MICROCKS_PIPELINE_ALLOW_HTTP", raising=False)
    monkeypatch.delenv("MICROCKS_PIPELINE_ALLOWED_HOSTS", raising=False)
    url = "http://raw.example.com/org/repo/main/examples.yaml"
    file = _mock_file(tmp_path, f"        - kind: examples\n          path: {url}\n")

    refused = main(["validate", str(file)])
    errors = _errors(capsys)
    monkeypatch.setenv("MICROCKS_PIPELINE_ALLOW_HTTP", "true")
    allowed = main(["validate", str(file)])

    assert refused == 1
    assert errors == [
        f"error: {file}:5: field 'spec.mocks[0].artifacts[0].path': "
        f"artifact URL {url} refused: only https URLs are allowed"
    ]
    assert allowed == 0


def test_url_hosts_are_checked_against_the_allow_list_only_when_one_is_configured(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MICROCKS_PIPELINE_ALLOWED_HOSTS", raising=False)
    url = "https://raw.example.com/org/repo/main/examples.yaml"
    file = _mock_file(tmp_path, f"        - kind: examples\n          path: {url}\n")

    unknown_list = main(["validate", str(file)])
    monkeypatch.setenv("MICROCKS_PIPELINE_ALLOWED_HOSTS", "git.example.com")
    other_host = main(["validate", str(file)])
    errors = _errors(capsys)
    monkeypatch.setenv("MICROCKS_PIPELINE_ALLOWED_HOSTS", "git.example.com,RAW.example.com")
    listed = main(["validate", str(file)])

    assert (unknown_list, other_host, listed) == (0, 1, 0)
    assert errors[-1].endswith("refused: host raw.example.com is not allowed")


def test_a_bad_url_setting_is_a_usage_error_naming_the_variable(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MICROCKS_PIPELINE_ALLOW_HTTP", "perhaps")
    file = _write(tmp_path / "microcks.yaml", VALID)

    assert main(["validate", str(file)]) == 2
    assert "MICROCKS_PIPELINE_ALLOW_HTTP" in capsys.readouterr().err


def test_the_help_documents_the_exit_codes(capsys) -> None:
    assert main(["validate", "--help"]) == 0
    out = capsys.readouterr().out
    assert "0 every file valid, 1 a file invalid, 2 a path missing" in out


def test_the_pre_commit_hook_runs_the_installed_validate_on_microcks_files_only() -> None:
    import re

    import yaml

    [hook] = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    pyproject = (REPO / "pyproject.toml").read_text()

    assert hook["entry"] == "microcks-pipeline validate"
    assert 'microcks-pipeline = "microcks_pipeline.cli:main"' in pyproject
    assert hook["language"] == "python"
    files = re.compile(hook["files"])
    assert files.search("apis/pet/microcks.yaml") and files.search("microcks.yml")
    assert not files.search("apis/pet/catalog-info.yaml")
    assert not files.search("apis/pet/my-microcks.yaml")


def test_a_repo_that_is_not_a_directory_is_a_usage_error(tmp_path: Path, capsys) -> None:
    file = _write(tmp_path / "microcks.yaml", VALID)

    code, out, err = _validate(capsys, "--repo", str(tmp_path / "nope"), str(file))

    assert (code, out) == (2, "")
    assert err == f"error: --repo {tmp_path / 'nope'}: not a directory\n"


# ---- every kind ------------------------------------------------------------------------------

SAMPLES = Path(__file__).parent / "samples"


@pytest.mark.parametrize(
    "sample",
    [
        "films.graphql",
        "hello-v1.proto",
        "UserSignedUpAPI-asyncapi-ws.yml",
        "HelloService-to-set-proxy-soapui-project.xml",
        "BeerCatalogAPI-collection.json",
    ],
)
def test_main_path_accepts_every_kind_microcks_imports(tmp_path: Path, capsys, sample: str) -> None:
    (tmp_path / sample).write_bytes((SAMPLES / sample).read_bytes())
    _write(
        tmp_path / "microcks.yaml",
        f"spec:\n  mocks:\n    - mockId: default\n      main: {{path: ./{sample}}}\n",
    )

    code = main(["validate", str(tmp_path / "microcks.yaml")])

    assert code == 0, capsys.readouterr().err


def test_a_main_microcks_would_misdetect_is_named_at_its_line(tmp_path: Path, capsys) -> None:
    collection = json.loads((SAMPLES / "BeerCatalogAPI-collection.json").read_text())
    (tmp_path / "beer.json").write_text(json.dumps(collection, separators=(",", ":")))
    (tmp_path / "hello.wsdl").write_bytes((SAMPLES / "HelloService.wsdl").read_bytes())
    file = _write(
        tmp_path / "microcks.yaml",
        "spec:\n  mocks:\n    - mockId: beer\n      main: {path: ./beer.json}\n"
        "    - mockId: soap\n      main: {path: ./hello.wsdl}\n",
    )

    code = main(["validate", str(file)])

    errors = _errors(capsys)
    assert code == 1
    assert errors[0].startswith(f"error: {file}:4: field 'spec.mocks[0].main.path': beer.json: ")
    assert 'a line beginning with `"_postman_id":`' in errors[0]
    assert errors[1].startswith(f"error: {file}:6: field 'spec.mocks[1].main.path': hello.wsdl: ")
    assert "a bare WSDL" in errors[1]


def test_main_and_openapi_together_are_an_error(tmp_path: Path, capsys) -> None:
    _write(tmp_path / "api.yaml", OPENAPI)
    file = _write(
        tmp_path / "microcks.yaml",
        "spec:\n  mocks:\n    - mockId: default\n      main: {path: ./api.yaml}\n"
        "      openapi: {path: ./api.yaml}\n",
    )

    code = main(["validate", str(file)])

    assert code == 1
    assert "give the main artifact once: 'main.path' or 'openapi.path', not both" in (
        "\n".join(_errors(capsys))
    )
