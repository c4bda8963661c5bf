"""Stamping main and secondary artifacts: name/version set, format kept, Microcks still sniffs
the right importer (the sniffing rules live in artifacts_fixtures.sniff)."""

from __future__ import annotations

import json

import pytest
import yaml
from artifacts_fixtures import EXAMPLES_YAML, METADATA_YAML, OPENAPI_YAML, sniff

from microcks_pipeline import kinds
from microcks_pipeline.core.errors import PermanentError


def stamp_main(content: bytes, name: str, version: str) -> bytes:
    return kinds.stamp_main(kinds.read_main(content), name, version)


def stamp_secondary(content: bytes, name: str, version: str) -> tuple[bytes, bool]:
    parsed = kinds.read_secondary(content)
    out = kinds.stamp_secondary(parsed, name, version) if parsed is not None else None
    return (content, False) if out is None else (out, True)


NAME = "PetStore"
VERSION = "bk-0123456789abcdef-default"


def test_openapi3_yaml_gets_title_and_version_and_stays_yaml() -> None:
    out = stamp_main(OPENAPI_YAML.encode(), NAME, VERSION)

    doc = yaml.safe_load(out)
    assert doc["info"] == {"title": NAME, "version": VERSION}
    assert doc["paths"] == yaml.safe_load(OPENAPI_YAML)["paths"]
    assert not out.lstrip().startswith(b"{")
    assert sniff(out) == "openapi"


def test_openapi3_json_stays_indented_json() -> None:
    source = {"openapi": "3.1.0", "info": {"title": "x", "version": "1"}, "paths": {}}
    out = stamp_main(json.dumps(source).encode(), NAME, VERSION)

    doc = json.loads(out)
    assert doc["info"] == {"title": NAME, "version": VERSION}
    assert b"\n  " in out  # indented
    assert sniff(out) == "openapi"


def test_swagger2_json_is_stamped_and_sniffed_as_swagger() -> None:
    source = {"swagger": "2.0", "info": {"title": "x", "version": "1"}, "paths": {}}
    out = stamp_main(json.dumps(source).encode(), NAME, VERSION)

    doc = json.loads(out)
    assert doc["swagger"] == "2.0"
    assert doc["info"] == {"title": NAME, "version": VERSION}
    assert sniff(out) == "swagger"


def test_missing_info_is_created() -> None:
    out = stamp_main(b"openapi: 3.0.0\npaths: {}\n", NAME, VERSION)

    assert yaml.safe_load(out)["info"] == {"title": NAME, "version": VERSION}


def test_versions_that_look_like_numbers_stay_strings() -> None:
    yaml_out = stamp_main(OPENAPI_YAML.encode(), NAME, "1.0")
    json_out = stamp_main(b'{"openapi": "3.0.0", "paths": {}}', NAME, "2")

    assert yaml.safe_load(yaml_out)["info"]["version"] == "1.0"
    assert json.loads(json_out)["info"]["version"] == "2"


def test_other_info_fields_and_key_order_are_kept() -> None:
    source = "openapi: 3.0.0\ninfo:\n  description: about\n  title: x\n  version: '1'\npaths: {}\n"

    out = stamp_main(source.encode(), NAME, VERSION)

    assert list(yaml.safe_load(out)["info"]) == ["description", "title", "version"]
    assert yaml.safe_load(out)["info"]["description"] == "about"


def test_dates_in_examples_are_kept_as_written() -> None:
    source = "openapi: 3.0.0\ninfo: {title: x, version: '1'}\nx-example: 2024-05-01\npaths: {}\n"

    out = stamp_main(source.encode(), NAME, VERSION)

    assert "2024-05-01" in out.decode()
    assert "00:00:00" not in out.decode()


def test_version_key_moves_first_so_a_swagger_looking_line_cannot_win_the_sniff() -> None:
    # Microcks takes the first matching line: a description line mentioning "swagger:" placed
    # before `openapi:` would make it use the Swagger importer.
    source = "info:\n  title: x\n  description: 'swagger: legacy'\n  version: '1'\nopenapi: 3.0.0\npaths: {}\n"

    out = stamp_main(source.encode(), NAME, VERSION)

    assert out.decode().splitlines()[0].startswith("openapi:")
    assert sniff(out) == "openapi"


def test_aliases_are_expanded_in_the_output() -> None:
    source = "openapi: 3.0.0\nx-a: &a {k: v}\nx-b: *a\npaths: {}\n"

    out = stamp_main(source.encode(), NAME, VERSION)

    assert b"&" not in out and b"*a" not in out


@pytest.mark.parametrize(
    "content",
    [
        b"openapi: 2.0\n",
        b"swagger: '1.2'\n",
        b"- just\n- a list\n",
        b"openapi: 3.0.0\n---\nopenapi: 3.0.0\n",
        b"openapi: [unclosed\n",
        b"openapi: 3.0.0\ninfo: not-a-mapping\n",
        b"\xff\xfe not utf-8",
        b"",
        EXAMPLES_YAML.encode(),
    ],
)
def test_unstampable_main_is_a_permanent_error(content: bytes) -> None:
    with pytest.raises(PermanentError):
        stamp_main(content, NAME, VERSION)


def test_alias_bomb_main_is_refused() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(6)
    )

    with pytest.raises(PermanentError) as err:
        stamp_main(("openapi: 3.0.0\n" + bomb).encode(), NAME, VERSION)

    assert "alias bomb" in str(err.value)


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize("depth", [400, 600, 800, 990, 1200, 5000])
def test_deeply_nested_main_is_stamped_or_refused_permanently_never_a_crash(depth: int) -> None:
    # Parsers and Python's encoders have different depth limits; whichever is hit first must
    # surface as a permanent error on the mock, not as a RecursionError that stops the pass.
    for content in (
        b'{"openapi": "3.0.0", "x": ' + nested(depth) + b"}",
        b"openapi: 3.0.0\nx: " + nested(depth) + b"\n",
    ):
        try:
            out = stamp_main(content, NAME, VERSION)
        except PermanentError as err:
            assert "nest" in str(err)
        else:
            assert sniff(out) == "openapi"


@pytest.mark.parametrize(
    ("source", "kind"), [(EXAMPLES_YAML, "APIExamples"), (METADATA_YAML, "APIMetadata")]
)
def test_examples_and_metadata_get_name_and_version(source: str, kind: str) -> None:
    out, stamped = stamp_secondary(source.encode(), NAME, VERSION)

    assert stamped is True
    doc = yaml.safe_load(out)
    assert doc["metadata"]["name"] == NAME
    assert doc["metadata"]["version"] == VERSION
    assert doc["operations"] == yaml.safe_load(source)["operations"]
    assert sniff(out) == kind


def test_metadata_labels_survive_stamping() -> None:
    out, _ = stamp_secondary(METADATA_YAML.encode(), NAME, VERSION)

    assert yaml.safe_load(out)["metadata"]["labels"] == {"domain": "pets"}


def test_json_examples_are_stamped_as_yaml_because_microcks_sniffs_the_yaml_kind_line() -> None:
    source = json.dumps(yaml.safe_load(EXAMPLES_YAML), indent=2).encode()
    assert sniff(source) != "APIExamples"  # the problem being solved

    out, stamped = stamp_secondary(source, NAME, VERSION)

    assert stamped is True
    assert not out.lstrip().startswith(b"{")
    assert sniff(out) == "APIExamples"


def test_examples_mentioning_openapi_are_still_sniffed_as_examples() -> None:
    # An example body line `openapi: 3.0.0` before the kind line would make Microcks use the
    # OpenAPI importer; stamping puts `kind:` on the first line.
    source = (
        "apiVersion: mocks.microcks.io/v1alpha1\n"
        "operations:\n  GET /spec:\n    spec:\n      request: {}\n"
        "      response:\n        body: {openapi: 3.0.0}\n"
        "kind: APIExamples\nmetadata: {name: x, version: y}\n"
    )
    assert sniff(source.encode()) == "openapi"  # as written, Microcks would misread it

    out, stamped = stamp_secondary(source.encode(), NAME, VERSION)

    assert stamped is True
    assert sniff(out) == "APIExamples"


def test_missing_metadata_is_created() -> None:
    out, stamped = stamp_secondary(b"kind: APIExamples\noperations: {}\n", NAME, VERSION)

    assert stamped is True
    assert yaml.safe_load(out)["metadata"] == {"name": NAME, "version": VERSION}


@pytest.mark.parametrize(
    "content",
    [
        b'{"_postman_id": "1", "info": {"name": "x"}}',
        b"kind: SomethingElse\nmetadata: {name: a}\n",
        OPENAPI_YAML.encode(),
        b"not: [valid\n",
        b"<?xml version='1.0'?><x/>",
        b"kind: APIExamples\n---\nkind: APIExamples\n",
    ],
)
def test_other_secondaries_are_returned_unchanged(content: bytes) -> None:
    out, stamped = stamp_secondary(content, NAME, VERSION)

    assert stamped is False
    assert out == content
