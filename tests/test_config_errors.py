"""Every invalid microcks.yaml is refused with the file, the line and the field of the problem.

A problem inside one mock's entry fails that mock only; anything else fails the whole file."""

from __future__ import annotations

import pytest
from config_fixtures import BAD_CASES, MARK, PATHS, VALID, BadCase, problems_of

from microcks_pipeline.core.config import ConfigProblems, parse_config, path_problem
from microcks_pipeline.core.errors import ConfigError, PermanentError

FILE = "apis/orders/microcks.yaml"


@pytest.mark.parametrize("case", BAD_CASES, ids=lambda c: c.name)
def test_bad_input_is_refused_naming_file_line_and_field(case: BadCase) -> None:
    problems, whole_file = problems_of(case.text, FILE)

    [problem] = problems
    assert whole_file is case.whole_file
    assert isinstance(problem, ConfigError)
    assert (problem.file, problem.line, problem.field) == (FILE, case.line, case.field)
    assert case.says in str(problem)
    where = FILE + (f":{case.line}" if case.line else "")
    assert str(problem).startswith(where + ": ")
    if case.field:
        assert f"field '{case.field}'" in str(problem)


@pytest.mark.parametrize("case", BAD_CASES, ids=lambda c: c.name)
def test_bad_input_as_bytes_gives_the_same_error(case: BadCase) -> None:
    as_text = problems_of(case.text, FILE)
    as_bytes = problems_of(case.text.encode("utf-8"), FILE)

    assert [str(p) for p in as_bytes[0]] == [str(p) for p in as_text[0]]


@pytest.mark.parametrize("case", [c for c in BAD_CASES if not c.whole_file], ids=lambda c: c.name)
def test_a_bad_mock_entry_fails_that_mock_while_the_other_mocks_stay_valid(case: BadCase) -> None:
    other = "    - mockId: zz-other\n      artifacts: [{kind: examples, path: ./zz.yaml}]\n"

    config = parse_config(case.text + other, FILE)

    [invalid] = config.invalid
    assert invalid.mock_id in ("default", "spec.mocks[0]")
    assert "zz-other" in [m.mock_id for m in config.mocks]
    assert invalid.mock_id not in [m.mock_id for m in config.mocks]
    assert case.says in invalid.reason and invalid.reason.startswith(f"{FILE}:{case.line}: ")


def test_an_entry_without_a_valid_mockId_is_named_by_its_position() -> None:
    text = "spec:\n  mocks:\n    - mockId: ok\n    - mockId: team/x\n    - includeInSwagger: no\n"

    config = parse_config(text, FILE)

    assert [m.mock_id for m in config.mocks] == ["ok"]
    assert [m.mock_id for m in config.invalid] == ["spec.mocks[1]", "spec.mocks[2]"]


def test_a_duplicate_mockId_fails_every_entry_of_that_id_and_no_other() -> None:
    text = "spec:\n  mocks:\n    - mockId: a\n    - mockId: b\n    - mockId: a\n"

    config = parse_config(text, FILE)

    assert [m.mock_id for m in config.mocks] == ["b"]
    [invalid] = config.invalid
    assert invalid.mock_id == "a"
    assert "duplicate mockId 'a' (first at line 3)" in invalid.reason


def test_a_whole_file_problem_fails_the_file_and_lists_the_mock_problems_too() -> None:
    text = "apiVersion: v9\nspec:\n  mocks:\n    - {mockId: a, includeInSwagger: 'yes'}\n"

    with pytest.raises(ConfigProblems) as caught:
        parse_config(text, FILE)

    assert [(p.line, p.field) for p in caught.value.problems] == [
        (1, "apiVersion"),
        (4, "spec.mocks[0].includeInSwagger"),
    ]


def test_the_error_is_a_permanent_config_error_carrying_the_first_problem() -> None:
    text = "kind: Other\nspec:\n  mocks:\n    - mockId: a/b\n    - mockId: c d\n"

    with pytest.raises(ConfigError) as caught:
        parse_config(text, FILE)

    assert isinstance(caught.value, PermanentError)
    assert (caught.value.file, caught.value.line, caught.value.field) == (FILE, 1, "kind")


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

    config = parse_config(text, FILE)

    assert [m.mock_id for m in config.mocks] == ["default"]
    assert [p.field for p in config.problems] == [
        "spec.mocks[1].mockId",
        "spec.mocks[2].artifacts[0].path",
    ]


def test_a_refused_file_leaves_no_state_behind_for_the_next_parse() -> None:
    with pytest.raises(ConfigProblems):
        parse_config(_bad("wrong kind").text, FILE)

    config = parse_config(VALID, "other/microcks.yaml")

    assert [m.mock_id for m in config.mocks] == ["default"]
    assert config.warnings == () and config.invalid == ()


def test_a_misspelt_key_gets_a_did_you_mean_in_its_warning_and_in_the_missing_field_error() -> None:
    text = (
        "spec:\n  mocks:\n    - mockId: default\n      artifacts:\n"
        "        - kind: examples\n          pth: ./examples.yaml\n"
    )

    config = parse_config(text, FILE)

    assert config.warnings == (
        f"{FILE}:6: field 'spec.mocks[0].artifacts[0]': unknown key 'pth' (did you mean 'path'?)",
    )
    [problem] = config.problems
    assert problem.field == "spec.mocks[0].artifacts[0].path"
    assert "required field is missing; found unknown key 'pth' (did you mean 'path'?)" in str(
        problem
    )


def test_unknown_keys_are_still_reported_when_the_file_has_an_error() -> None:
    text = "kind: Other\nspek: {}\nspec:\n  mocks: [{mockId: a}]\n"

    with pytest.raises(ConfigProblems) as caught:
        parse_config(text, FILE)

    assert caught.value.warnings == (f"{FILE}:2: unknown key 'spek' (did you mean 'spec'?)",)


def test_messages_never_repeat_credentials_written_in_a_url() -> None:
    case = _bad("credentials inside a URL")
    secret = "hunter2secret"
    assert secret in case.text

    problems, _ = problems_of(case.text, FILE)

    assert problems and secret not in str(problems)
    assert "robot" not in str(problems)


def test_long_values_are_cut_in_messages() -> None:
    mock_id = "x" * 5000
    [problem], _ = problems_of(f"spec:\n  mocks:\n    - mockId: {mock_id}\n", FILE)

    assert len(str(problem)) < 400


def test_a_custom_tag_in_an_unknown_key_is_an_error_on_that_mock() -> None:
    text = "spec:\n  mocks:\n    - mockId: default\n      extra: !vault secret/path\n"

    config = parse_config(text, FILE)

    [problem] = config.problems
    assert (problem.line, problem.field) == (4, "spec.mocks[0].extra")
    assert "!vault" in str(problem)
    assert config.mocks == ()


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
