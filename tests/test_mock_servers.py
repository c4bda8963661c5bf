"""Specification: the servers Backstage's module injects into a definition never reach a
fingerprint or an upload (no feedback loop between the decoration and the sync).

The pipeline reads `spec.definition` back from Backstage after the module appended its mock
servers; the entity must load exactly as it did before the decoration.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from desired_fixtures import load, pet, pet_repo

from microcks_pipeline.core.mock_servers import is_mock_server, without_mock_servers


def mocked(mock_id: str, url: str = "http://mocks.test/rest/PetStore/v") -> dict[str, str]:
    return {
        "url": url,
        "description": f"Mocked Service ({mock_id}) with fixed responses for testing and "
        "development purposes",
    }


REAL = {"url": "https://pets.example.com/v1", "description": "Production"}

ORIGINAL_YAML = """openapi: 3.0.2
info:
  title: Pet Store
  version: 1.0.0
# the real server stays first
servers:
  - url: https://pets.example.com/v1
    description: Production
paths:
  /pets:
    get:
      responses:
        '200':
          description: ok
"""

# What the module writes: its lines inserted after the last server, every other byte kept.
DECORATED_YAML = ORIGINAL_YAML.replace(
    "    description: Production\n",
    "    description: Production\n"
    '  - url: "http://mocks.test/rest/PetStore/bk-1-default"\n'
    '    description: "Mocked Service (default) with fixed responses for testing and '
    'development purposes"\n',
)

NO_SERVERS_YAML = "openapi: 3.0.2\ninfo:\n  title: Pet Store\n  version: 1.0.0\npaths: {}\n"
NO_SERVERS_DECORATED = NO_SERVERS_YAML + (
    "servers:\n"
    '  - url: "http://mocks.test/rest/PetStore/bk-1-default"\n'
    '    description: "Mocked Service (default) with fixed responses for testing and '
    'development purposes"\n'
)


def _json_decorated(original: str) -> str:
    # The module re-serialises JSON with JSON.stringify(doc, null, <indent>).
    doc = json.loads(original)
    doc.setdefault("servers", []).append(mocked("default"))
    return json.dumps(doc, indent=2)


ORIGINAL_JSON = json.dumps(
    {
        "openapi": "3.0.1",
        "info": {"title": "Pet Store", "version": "1"},
        "servers": [REAL],
        "paths": {},
    },
    separators=(",", ":"),
)


@pytest.mark.parametrize(
    ("original", "decorated"),
    [
        (ORIGINAL_YAML, DECORATED_YAML),
        (NO_SERVERS_YAML, NO_SERVERS_DECORATED),
        (ORIGINAL_JSON, _json_decorated(ORIGINAL_JSON)),
    ],
    ids=["yaml-appended", "yaml-first-servers", "json-reserialised"],
)
def test_a_decorated_definition_loads_as_the_original(
    tmp_path: Path, original: str, decorated: str
) -> None:
    repo = pet_repo(tmp_path)
    before = load(pet(repo, definition=original))
    after = load(pet(repo, definition=decorated))

    assert decorated != original
    for was, now in zip(before.mocks, after.mocks, strict=True):
        assert now.fingerprint == was.fingerprint, now.mock_id
        if was.main.location == "spec.definition":
            assert now.main.content == was.main.content
            assert b"Mocked Service" not in now.main.content
    assert [m.mock_id for m in before.mocks] == [m.mock_id for m in after.mocks]
    # the author's own server is still uploaded
    default = next(m for m in after.mocks if m.mock_id == "default")
    assert b"https://pets.example.com/v1" in default.main.content or "servers" not in original


def test_a_real_edit_still_changes_the_fingerprint(tmp_path: Path) -> None:
    repo = pet_repo(tmp_path)
    before = load(pet(repo, definition=DECORATED_YAML))
    edited = load(
        pet(repo, definition=DECORATED_YAML.replace("description: ok", "description: OK"))
    )
    assert before.mocks[0].fingerprint != edited.mocks[0].fingerprint


def test_injected_openapi_servers_are_left_out_and_the_real_ones_kept() -> None:
    marked = {"url": "http://m.test/x", "x-microcks-pipeline-mock": "default"}
    data = {"openapi": "3.0.0", "servers": [REAL, mocked("default"), marked, mocked("v2")]}
    assert without_mock_servers(data) == {"openapi": "3.0.0", "servers": [REAL]}
    assert len(data["servers"]) == 4  # the parsed document itself is not changed


def test_only_injected_servers_leave_no_servers_key() -> None:
    data = {"openapi": "3.0.0", "servers": [mocked("default")], "paths": {}}
    assert without_mock_servers(data) == {"openapi": "3.0.0", "paths": {}}


def test_a_server_that_merely_looks_similar_is_kept() -> None:
    own = {"url": "http://m.test", "description": "Mocked Service for demos"}
    data = {"openapi": "3.0.0", "servers": [own]}
    assert without_mock_servers(data) is data


def test_asyncapi_servers_by_name_and_marker() -> None:
    data = {
        "asyncapi": "2.6.0",
        "servers": {
            "production": {"url": "kafka:9092", "protocol": "kafka"},
            "microcks-default": {"url": "ws://m.test/ws", **mocked("default")},
            "microcks-prod": {"url": "kafka-m:9092", "protocol": "kafka"},  # the author's own
            "sandbox": {"url": "ws://x", "x-microcks-pipeline-mock": "v2"},
        },
    }
    assert set(without_mock_servers(data)["servers"]) == {"production", "microcks-prod"}
    assert is_mock_server({"description": "Production"}, "microcks-x") is False


def test_swagger_2_is_never_touched() -> None:
    data = {"swagger": "2.0", "host": "pets.example.com", "basePath": "/v1"}
    assert without_mock_servers(data) is data
