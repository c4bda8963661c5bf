"""Every invalid microcks.yaml is refused with the file, the line and the field of the problem."""

from __future__ import annotations

import pytest
from config_fixtures import BAD_CASES, MARK, PATHS, VALID, BadCase

from microcks_pipeline.config import ConfigProblems, parse_config, path_problem
from microcks_pipeline.errors import ConfigError, PermanentError

FILE = "apis/orders/microcks.yaml"


@pytest.mark.parametrize("case", BAD_CASES, ids=lambda c: c.name)
def test_bad_input_is_refused_naming_file_line_and_field(case: BadCase) -> None:
    with pytest.raises(ConfigProblems) as caught:
        parse_config(case.text, FILE)

    [problem] = caught.value.problems
    assert isinstance(problem, ConfigError)
    assert (problem.file, problem.line, problem.field) == (FILE, case.line, case.field)
    assert case.says in str(problem)
    where = FILE + (f":{case.line}" if case.line else "")
    assert str(problem).startswith(where + ": ")
    if case.field:
        assert f"field '{case.field}'" in str(problem)


@pytest.mark.parametrize("case", BAD_CASES, ids=lambda c: c.name)
def test_bad_input_as_bytes_gives_the_same_error(case: BadCase) -> None:
    with pytest.raises(ConfigProblems) as as_text:
        parse_config(case.text, FILE)
    with pytest.raises(ConfigProblems) as as_bytes:
        parse_config(case.text.encode("utf-8"), FILE)

    assert str(as_bytes.value) == str(as_text.value)


def test_the_error_is_a_permanent_config_error_carrying_the_first_problem() -> None:
    text = "spec:\n  mocks:\n    - mockId: a/b\n    - mockId: c d\n"

    with pytest.raises(ConfigError) as caught:
        parse_config(text, FILE)

    assert isinstance(caught.value, PermanentError)
    assert (caught.value.file, caught.value.line, caught.value.field) == (
        FILE,
        3,
        "spec.mocks[0].mockId",
    )


def test_all_problems_are_reported_at_once_one_per_line_in_line_order() -> None:
    text = (
        "apiVersion: v2\n"  # 1
        "spec:\n"  # 2
        "  mocks:\n"  # 3
        "    - mockId: default\n"  # 4
        "      includeInSwagger: nope\n"  # 5
        "      artifacts:\n"  # 6
        "        - path: /etc/passwd\n"  # 7
        "    - mockId: default\n"  # 8
        "      openapi: {path: /x.yaml}\n"  # 9
    )

    with pytest.raises(ConfigProblems) as caught:
        parse_config(text, FILE)

    got = [(p.line, p.field) for p in caught.value.problems]
    assert got == [
        (1, "apiVersion"),
        (5, "spec.mocks[0].includeInSwagger"),
        (7, "spec.mocks[0].artifacts[0].kind"),
        (7, "spec.mocks[0].artifacts[0].path"),
        (8, "spec.mocks[1].mockId"),
        (9, "spec.mocks[1].openapi.path"),
    ]
    assert str(caught.value).splitlines() == [str(p) for p in caught.value.problems]


def test_one_bad_mock_does_not_hide_the_problems_of_another() -> None:
    text = VALID + "    - mockId: bad/one\n    - mockId: other\n      artifacts: [{kind: x}]\n"

    with pytest.raises(ConfigProblems) as caught:
        parse_config(text, FILE)

    assert [p.field for p in caught.value.problems] == [
        "spec.mocks[1].mockId",
        "spec.mocks[2].artifacts[0].path",
    ]


def test_a_refused_file_leaves_no_state_behind_for_the_next_parse() -> None:
    with pytest.raises(ConfigProblems):
        parse_config(_bad("duplicate mockId").text, FILE)

    config = parse_config(VALID, "other/microcks.yaml")

    assert [m.mock_id for m in config.mocks] == ["default"]
    assert config.warnings == ()


def test_messages_never_repeat_credentials_written_in_a_url() -> None:
    case = _bad("credentials inside a URL")
    secret = "hunter2secret"
    assert secret in case.text

    with pytest.raises(ConfigProblems) as caught:
        parse_config(case.text, FILE)

    assert secret not in str(caught.value)
    assert "robot" not in str(caught.value)


def test_long_values_are_cut_in_messages() -> None:
    mock_id = "x" * 5000
    with pytest.raises(ConfigProblems) as caught:
        parse_config(f"spec:\n  mocks:\n    - mockId: {mock_id}\n", FILE)

    assert len(str(caught.value)) < 400


def test_a_custom_tag_in_an_unknown_key_is_an_error_on_that_mock() -> None:
    text = "spec:\n  mocks:\n    - mockId: default\n      extra: !vault secret/path\n"

    with pytest.raises(ConfigProblems) as caught:
        parse_config(text, FILE)

    [problem] = caught.value.problems
    assert (problem.line, problem.field) == (4, "spec.mocks[0]")
    assert "!vault" in str(problem)


def test_a_self_referencing_merge_is_refused_before_it_is_walked() -> None:
    text = "spec: &s\n  mocks:\n    - mockId: a\n  <<: *s\n"

    with pytest.raises(ConfigProblems) as caught:
        parse_config(text, FILE)

    assert caught.value.problems[0].line == 1


@pytest.mark.parametrize(("path", "allowed"), PATHS, ids=repr)
def test_path_rule(path: str, allowed: bool) -> None:
    assert (path_problem(path) is None) is allowed


def _bad(name: str) -> BadCase:
    [case] = [c for c in BAD_CASES if c.name == name]
    assert MARK in case.text
    return case
