"""`microcks-pipeline validate`: 0 all valid, 1 some invalid, 2 usage error; one line per file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from config_fixtures import BAD_CASES, REPO, SAMPLE_CATALOG, VALID, BadCase

from microcks_pipeline.cli import main


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


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

    code = main(["validate", str(file)])

    out, err = capsys.readouterr()
    assert code == 1
    assert out == f"invalid {file}: 1 problem(s)\n"
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
