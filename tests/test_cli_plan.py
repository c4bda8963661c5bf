"""`microcks-pipeline plan`: what the next sync would create, update or delete and why, read
from the configured catalog, status store and (with --live) Microcks — without writing anything.

Exit codes: 0 nothing to do, 3 changes pending, 1 errors."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster_fixtures import CLIENT_SECRET, World, break_petstore_fallback, make_world, services

from microcks_pipeline.cli import main
from microcks_pipeline.core.identity import service_version
from microcks_pipeline.defs import settings as s
from microcks_pipeline.localserver import DEFAULT_CLIENT_ID

PETSTORE = "api:default/petstore"
USERS = "api:default/users-api"
ALL_MOCKS = 12  # of the sample catalog


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """The Dagster test world, and the environment a deployment would give `plan` for it."""
    with make_world(tmp_path) as w:
        for name in list(os.environ):
            if name.startswith(("MICROCKS_", "DAGSTER_")):
                monkeypatch.delenv(name)
        monkeypatch.setenv(s.CATALOG_ROOT, str(w.catalog_dir))
        monkeypatch.setenv(s.DB_URL, w.db_url)
        monkeypatch.setenv(s.MICROCKS_URL, w.server.base_url)
        monkeypatch.setenv(s.MICROCKS_CLIENT_ID, DEFAULT_CLIENT_ID)
        monkeypatch.setenv(s.MICROCKS_CLIENT_SECRET, CLIENT_SECRET)
        yield w


@pytest.fixture
def synced(world: World) -> World:
    assert all(r.success for r in world.sync())
    return world


def _plan(capsys: pytest.CaptureFixture[str], *flags: str) -> tuple[int, list[str]]:
    code = main(["plan", *flags])
    return code, capsys.readouterr().out.splitlines()


def _writes(world: World) -> int:
    """Microcks API calls that could change something (anything but GET)."""
    return len(
        [c for c in world.server.app.state.calls.calls(path_prefix="/api/") if c.method != "GET"]
    )


def _untouched(world: World) -> tuple[object, ...]:
    return (world.store.rows(), world.store.events(limit=1000), services(world), _writes(world))


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_before_the_first_sync_every_mock_is_new_and_nothing_is_created(world: World, capsys):
    db_file = Path(world.db_url.removeprefix("sqlite:///"))

    code, lines = _plan(capsys)

    assert code == 3
    assert "api:default/petstore" in lines
    petstore = "/rest/petstore/bk-ac940b38f46428ca"
    assert f"  create  default: new mock -> {petstore}-default" in lines
    assert f"  create  fallback: new mock -> {petstore}-fallback" in lines
    # every kind says where it will answer
    assert "  create  default: new mock -> POST /graphql/movies-graphql/" in "\n".join(lines)
    assert (
        "  create  default: new mock -> gRPC io.github.microcks.grpc.hello.v1.HelloService/<method>"
        in "\n".join(lines)
    )
    assert "-> WebSocket /api/ws/user-signedup-events/" in "\n".join(lines)
    assert lines[-1] == f"plan: {ALL_MOCKS} create (Microcks not read; --live adds drift)"
    assert not db_file.exists()  # not even an empty store file
    assert world.calls("/") == 0


def test_after_a_sync_there_is_nothing_to_do_in_the_store_nor_live(synced: World, capsys):
    before = _untouched(synced)

    code, lines = _plan(capsys)
    live_code, live_lines = _plan(capsys, "--live")

    assert (code, lines) == (0, ["plan: nothing to do (Microcks not read; --live adds drift)"])
    assert (live_code, live_lines) == (0, ["plan: nothing to do"])
    assert _untouched(synced) == before


def test_edits_show_as_update_delete_and_entity_gone_with_their_reasons(synced: World, capsys):
    catalog = synced.catalog_dir
    _edit(catalog / "petstore/mocks/default/petstore-examples.yaml", "Spike", "Spiky")
    config = catalog / "orders/mocks/microcks.yaml"
    config.write_text(config.read_text().split("    - mockId: backorder")[0])
    _edit(catalog / "catalog-info.yaml", "    - ./users/catalog-info.yaml\n", "")
    shutil.rmtree(catalog / "users")
    before = _untouched(synced)

    code, lines = _plan(capsys)

    assert code == 3
    assert lines == [
        "api:default/orders-api",
        "  delete  backorder: removed from microcks.yaml",
        "api:default/petstore",
        "  update  default: content changed -> /rest/petstore/bk-ac940b38f46428ca-default",
        "api:default/users-api",
        "  delete  default: entity gone from the catalog",
        "  delete  empty: entity gone from the catalog",
        "plan: 1 update, 3 delete (Microcks not read; --live adds drift)",
    ]
    assert _untouched(synced) == before  # no row, no event, no Microcks call that writes


def test_an_invalid_mock_entry_is_an_error_naming_file_line_and_field(synced: World, capsys):
    _, line = break_petstore_fallback(synced)
    before = _untouched(synced)

    code, lines = _plan(capsys)

    assert code == 1
    assert lines[:2] == [
        "api:default/petstore",
        f"  error   fallback: petstore/microcks.yaml:{line}: field 'spec.mocks[1].includeInSwagger'"
        ": must be true or false, found 'yes'",
    ]
    assert _untouched(synced) == before


def test_live_shows_a_service_missing_from_microcks_and_an_extra_service_of_ours(
    synced: World, capsys
) -> None:
    with synced.microcks.client() as client:
        gone = services(synced)[f"petstore:{service_version(PETSTORE, 'fallback')}"]
        client.delete_service(gone)
        ghost = service_version(PETSTORE, "ghost")
        openapi = f"openapi: 3.0.1\ninfo: {{title: petstore, version: {ghost}}}\npaths: {{}}\n"
        client.upload("ghost.yaml", openapi.encode(), main=True)
    before = _untouched(synced)

    store_code, store_lines = _plan(capsys)
    code, lines = _plan(capsys, "--live")

    assert store_code == 0  # the status table alone cannot see it
    assert code == 3
    assert lines == [
        "api:default/petstore",
        f"  drift   fallback: service missing: {service_version(PETSTORE, 'fallback')} not in "
        "Microcks",
        f"  drift   ghost: extra service: petstore:{ghost} is ours but no mock wants it",
        "plan: 2 drift",
    ]
    assert _untouched(synced) == before  # searches only: GET


def test_json_gives_the_same_plan_for_machines(synced: World, capsys):
    _edit(synced.catalog_dir / "petstore/mocks/default/petstore-examples.yaml", "Spike", "Spiky")

    code = main(["plan", "--json"])

    report = json.loads(capsys.readouterr().out)
    assert code == report["exit_code"] == 3
    assert report["counts"] == {"create": 0, "update": 1, "delete": 0, "error": 0, "drift": 0}
    assert report["entities"] == [
        {
            "entity_ref": PETSTORE,
            "changes": [
                {
                    "mock_id": "default",
                    "action": "update",
                    "why": "content changed",
                    "mock": "/rest/petstore/bk-ac940b38f46428ca-default",
                }
            ],
            "drift": [],
            "error": None,
        }
    ]
    assert report["live"] is False


def test_a_catalog_that_cannot_be_listed_is_an_error(world: World, capsys, monkeypatch):
    monkeypatch.setenv(s.CATALOG_ROOT, str(world.catalog_dir / "nowhere"))

    code, lines = _plan(capsys)

    assert code == 1
    assert lines[0] == "error: the catalog listing was incomplete"
    assert any(line.startswith("error: ") and "nowhere" in line for line in lines)


def test_live_without_microcks_configured_is_an_error_naming_the_variable(
    world: World, capsys, monkeypatch
):
    monkeypatch.delenv(s.MICROCKS_URL)

    code, lines = _plan(capsys, "--live")

    assert code == 1
    assert lines[0] == f"error: --live: Microcks is not configured: set {s.MICROCKS_URL}"
    assert world.calls("/") == 0


def test_a_bad_setting_is_an_error_line_not_a_traceback(world: World, capsys, monkeypatch):
    monkeypatch.setenv(s.ALLOW_HTTP, "perhaps")

    code, lines = _plan(capsys)

    assert code == 1
    assert lines == [
        f"error: {s.ALLOW_HTTP} must be true or false, got 'perhaps'",
        "plan: not made, see the error above",
    ]
