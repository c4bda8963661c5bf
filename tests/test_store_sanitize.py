"""Specification of sanitize_error: one short line, no tokens, no credentials, no stack traces."""

from __future__ import annotations

import pytest

from microcks_pipeline.store import sanitize_error


@pytest.mark.parametrize(
    ("message", "secret", "kept"),
    [
        ("Authorization: Bearer abc123XYZ rejected", "abc123XYZ", "rejected"),
        ('headers {"Authorization": "Basic dXNlcjpwYXNz"}', "dXNlcjpwYXNz", "headers"),
        ("sent bearer tok.en-value_42 to microcks", "tok.en-value_42", "to microcks"),
        ("GET https://alice:s3cret@git.example/repo failed", "s3cret", "git.example/repo"),
        ("clone https://ghtoken123@git.example/repo", "ghtoken123", "git.example/repo"),
        ("GET https://h.example/x?access_token=abc123&page=2", "abc123", "page=2"),
        ("GET https://h.example/x?page=2&api_key=zzz999", "zzz999", "page=2"),
        ("GET https://h.example/x?password=pw&sig=sg1", "pw&", "h.example/x"),
        ("form client_secret=hunter2 grant_type=client_credentials", "hunter2", "grant_type"),
        ('{"access_token": "eyJabc", "expires_in": 300}', "eyJabc", "expires_in"),
        (
            "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl seen",
            "eyJhbGciOiJIUzI1NiJ9",
            "seen",
        ),
        ("token ghp_abcdefghijklmnopqrstuvwxyz0123 leaked", "ghp_abcdef", "leaked"),
        ("postgresql://postgres:dbpw@127.0.0.1:5432/db down", "dbpw", "127.0.0.1:5432/db"),
    ],
)
def test_secrets_are_masked_and_the_rest_is_kept(message: str, secret: str, kept: str) -> None:
    cleaned = sanitize_error(message)

    assert secret not in cleaned
    assert "***" in cleaned
    assert kept in cleaned


def test_a_python_traceback_becomes_its_exception_line() -> None:
    trace = (
        "Traceback (most recent call last):\n"
        '  File "/srv/app/x.py", line 3, in <module>\n'
        '    raise ValueError("boom")\n'
        "KeyError: 'a'\n"
        "\n"
        "During handling of the above exception, another exception occurred:\n"
        "\n"
        "Traceback (most recent call last):\n"
        '  File "/srv/app/x.py", line 5, in <module>\n'
        "ValueError: boom with token=abc"
    )

    assert sanitize_error(trace) == "ValueError: boom with token=***"


def test_only_the_first_line_of_a_multi_line_message_is_kept() -> None:
    assert sanitize_error("\n  upload failed: 400\n  at frame one\n  at frame two") == (
        "upload failed: 400"
    )


def test_control_characters_and_runs_of_spaces_are_flattened() -> None:
    assert sanitize_error("bad\tvalue  \x1b[31mred\x00") == "bad value [31mred"


def test_long_messages_are_cut_to_the_limit() -> None:
    cleaned = sanitize_error("x" * 1000, limit=50)

    assert len(cleaned) == 50
    assert cleaned.endswith("…")
    assert len(sanitize_error("y" * 1000)) == 500


def test_harmless_messages_pass_unchanged() -> None:
    message = "404 for https://microcks.local/api/services/petstore:bk-0123456789abcdef-default"

    assert sanitize_error(message) == message
    assert sanitize_error("token refresh failed: timeout") == "token refresh failed: timeout"
    assert sanitize_error("") == ""


def test_a_secret_cut_by_the_limit_never_shows_a_prefix() -> None:
    cleaned = sanitize_error("failed with Authorization: Bearer abcdefghijklmnop", limit=40)

    assert "abc" not in cleaned


def test_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="limit"):
        sanitize_error("x", limit=0)
