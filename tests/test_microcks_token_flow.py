"""The token as an httpx.Auth flow, and the Keycloak token endpoint remembered between runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from dagster_fixtures import CLIENT_SECRET, World, make_world
from microcks_fixtures import CLIENT_ID, IN_PROCESS_URL, SECRET, in_process

from microcks_pipeline.core.errors import AuthError
from microcks_pipeline.defs.resources import MicrocksResource
from microcks_pipeline.localserver import DEFAULT_CLIENT_ID
from microcks_pipeline.microcks import TokenProvider
from microcks_pipeline.microcks.token import MicrocksAuth

KEYCLOAK_CONFIG = "/api/keycloak/config"
SERVICES = f"{IN_PROCESS_URL}/api/services"


def _paths(app, prefix: str) -> list[int]:  # type: ignore[no-untyped-def]
    return [c.status for c in app.state.calls.calls(path_prefix=prefix)]


# ---- the flow itself, on any httpx client ---------------------------------------------------


def test_any_httpx_client_with_the_flow_is_authorized_and_retries_once_after_a_401() -> None:
    m = in_process()
    tokens = TokenProvider(IN_PROCESS_URL, CLIENT_ID, SECRET, transport=m.transport)
    with httpx.Client(transport=m.transport, auth=MicrocksAuth(tokens)) as http:
        assert http.get(SERVICES).status_code == 200
        m.app.state.faults.expire_tokens()

        assert http.get(SERVICES).status_code == 200

    assert _paths(m.app, "/api/services")[-2:] == [401, 200]
    assert tokens.calls == 3  # discovery + first token + one refresh


def test_a_401_standing_after_the_refresh_comes_back_after_exactly_one_retry() -> None:
    m = in_process()
    tokens = TokenProvider(IN_PROCESS_URL, CLIENT_ID, SECRET, transport=m.transport)
    m.app.state.faults.fail_next(2, 401, path_prefix="/api/services")
    with httpx.Client(transport=m.transport, auth=MicrocksAuth(tokens)) as http:
        assert http.get(SERVICES).status_code == 401
    assert _paths(m.app, "/api/services") == [401, 401]

    with pytest.raises(AuthError, match="after a token refresh"):
        m.app.state.faults.fail_next(2, 401, path_prefix="/api/services/")
        m.client.get_service("petstore", "1")


# ---- the token endpoint, remembered --------------------------------------------------------


def test_a_remembered_token_endpoint_skips_the_keycloak_config_request() -> None:
    m = in_process()
    first = TokenProvider(IN_PROCESS_URL, CLIENT_ID, SECRET, transport=m.transport)
    first.token()
    assert _paths(m.app, KEYCLOAK_CONFIG) == [200]

    again = TokenProvider(
        IN_PROCESS_URL, CLIENT_ID, SECRET, transport=m.transport, known_token_url=first.token_url
    )

    assert again.token()
    assert _paths(m.app, KEYCLOAK_CONFIG) == [200]  # no second discovery
    assert again.calls == 1


def test_a_stale_remembered_endpoint_is_replaced_by_one_discovery() -> None:
    m = in_process()
    found: list[str] = []
    tokens = TokenProvider(
        IN_PROCESS_URL,
        CLIENT_ID,
        SECRET,
        transport=m.transport,
        known_token_url=f"{IN_PROCESS_URL}/auth/realms/moved/protocol/openid-connect/token",
        on_discovered=found.append,
    )

    assert tokens.token()
    assert _paths(m.app, KEYCLOAK_CONFIG) == [200]
    assert found == [tokens.token_url] and "moved" not in found[0]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with make_world(tmp_path) as w:
        yield w


def test_a_second_run_does_not_ask_microcks_for_its_keycloak_config(world: World) -> None:
    assert all(r.success for r in world.sync())
    discovered = len(world.server.app.state.calls.calls(path_prefix=KEYCLOAK_CONFIG))
    assert discovered >= 1
    petstore = world.catalog_dir / "petstore" / "mocks" / "default" / "petstore-examples.yaml"
    petstore.write_text(petstore.read_text().replace("Spike", "Spiky"))

    tokens_before = len(world.server.app.state.calls.calls(path_prefix="/auth/"))

    (run,) = world.sync()

    assert run.success
    assert len(world.server.app.state.calls.calls(path_prefix=KEYCLOAK_CONFIG)) == discovered
    # one token request per step that calls Microcks: the sync step and the asset check
    token_requests = len(world.server.app.state.calls.calls(path_prefix="/auth/")) - tokens_before
    assert token_requests == 2, token_requests
    stored = world.store.known_token_endpoint(world.server.base_url)
    assert stored is not None and stored.endswith("/protocol/openid-connect/token")


def test_a_changed_microcks_url_discovers_its_own_endpoint(world: World) -> None:
    world.store.remember_token_endpoint(
        "https://old-microcks.example", "https://old-keycloak.example/token"
    )
    resource = MicrocksResource(
        base_url=world.server.base_url, client_id=DEFAULT_CLIENT_ID, client_secret=CLIENT_SECRET
    )

    with resource.client(world.store) as client:
        client.search("^nothing$")

    assert len(world.server.app.state.calls.calls(path_prefix=KEYCLOAK_CONFIG)) == 1
    assert world.store.known_token_endpoint(world.server.base_url) is not None


def test_a_remembered_endpoint_refusing_the_secret_is_asked_once_more_not_twice() -> None:
    m = in_process()
    first = TokenProvider(IN_PROCESS_URL, CLIENT_ID, SECRET, transport=m.transport)
    first.token()
    refused = TokenProvider(
        IN_PROCESS_URL, CLIENT_ID, "wrong", transport=m.transport, known_token_url=first.token_url
    )

    with pytest.raises(AuthError, match="refused client"):
        refused.token()
    assert refused.calls == 2  # the token request, one discovery; no second token request
