"""Token provider and 401/403 handling against the local server's Keycloak stand-in."""

from __future__ import annotations

import logging

import pytest
from microcks_fixtures import (
    CLIENT_ID,
    ENTITY_NAME,
    ENTITY_REF,
    IN_PROCESS_URL,
    SECRET,
    in_process,
    openapi_main,
    over_http,
    server_config,
)

from microcks_pipeline.core.errors import AuthError, TransientError
from microcks_pipeline.core.identity import service_version
from microcks_pipeline.localserver import running_server
from microcks_pipeline.microcks import (
    MicrocksClient,
    MicrocksRejected,
    MicrocksUnreachable,
    TokenProvider,
)

VERSION = service_version(ENTITY_REF, "default")
MAIN = openapi_main(ENTITY_NAME, VERSION).encode()


def _statuses(m, path_prefix: str) -> list[int]:  # type: ignore[no-untyped-def]
    return [c.status for c in m.app.state.calls.calls(path_prefix=path_prefix)]


def test_one_token_serves_many_calls() -> None:
    m = in_process()

    for _ in range(5):
        m.client.get_service(ENTITY_NAME, VERSION)

    assert m.client.token_calls == 2  # Keycloak config + one token request
    assert m.client.calls == 5


def test_an_expired_token_is_refreshed_once_and_the_call_succeeds() -> None:
    m = in_process()
    m.client.upload("a.yaml", MAIN, main=True)
    token_calls_before = m.client.token_calls
    m.app.state.faults.expire_tokens()

    service = m.client.get_service(ENTITY_NAME, VERSION)

    assert service is not None
    assert m.client.token_calls - token_calls_before == 1  # one new token, no re-discovery
    assert _statuses(m, "/api/services/")[-2:] == [401, 200]


def test_a_401_that_persists_after_a_refresh_is_an_auth_error_after_exactly_one_retry() -> None:
    m = in_process()
    m.client.get_service(ENTITY_NAME, VERSION)
    m.app.state.faults.fail_next(2, 401, path_prefix="/api/services/")
    calls_before = m.client.calls

    with pytest.raises(AuthError, match="after a token refresh"):
        m.client.get_service(ENTITY_NAME, VERSION)

    assert m.client.calls - calls_before == 2


def test_a_client_without_the_manager_role_gets_auth_error_and_nothing_changes() -> None:
    m = in_process(roles=("user",))
    m.app.state.store.import_artifact(MAIN, "seeded.yaml", True)  # arranged directly on the server
    service = m.client.get_service(ENTITY_NAME, VERSION)  # `user` may read
    assert service is not None

    with pytest.raises(AuthError, match="HTTP 403"):
        m.client.delete_service(service["id"])
    with pytest.raises(AuthError, match="HTTP 403"):
        m.client.upload("a.yaml", MAIN, main=True)

    assert m.client.get_service(ENTITY_NAME, VERSION) == service


def test_a_wrong_secret_is_an_auth_error_that_does_not_show_the_secret() -> None:
    wrong = "wrong-" + SECRET
    m = in_process(secret=wrong)

    with pytest.raises(AuthError) as caught:
        m.client.upload("a.yaml", MAIN, main=True)

    assert wrong not in str(caught.value) and SECRET not in str(caught.value)
    assert CLIENT_ID in str(caught.value)
    assert m.client.calls == 0  # refused before any Microcks API call
    assert m.app.state.store.count() == 0


def test_without_a_token_provider_an_auth_enabled_microcks_answers_auth_error() -> None:
    m = in_process()
    anonymous = MicrocksClient(IN_PROCESS_URL, transport=m.transport)

    with pytest.raises(AuthError, match="HTTP 401"):
        anonymous.upload("a.yaml", MAIN, main=True)

    assert m.app.state.store.count() == 0


def test_keycloak_disabled_means_no_token_and_no_token_request() -> None:
    m = in_process(auth=False)
    provider = TokenProvider(
        IN_PROCESS_URL,
        CLIENT_ID,
        SECRET,
        transport=m.transport,
    )

    assert provider.token() is None
    assert provider.token() is None
    assert provider.calls == 1  # the Keycloak config, once
    assert _statuses(m, "/auth/") == []


def test_a_token_is_renewed_refresh_margin_seconds_before_it_expires() -> None:
    m = in_process()
    now = [1000.0]
    transport = m.transport
    provider = TokenProvider(
        IN_PROCESS_URL,
        CLIENT_ID,
        SECRET,
        transport=transport,
        refresh_margin=30.0,
        clock=lambda: now[0],
    )
    ttl = m.app.state.config.token_ttl_seconds
    first = provider.token()

    now[0] += ttl - 31
    assert provider.token() == first
    now[0] += 2
    second = provider.token()

    assert second is not None and second != first
    assert _statuses(m, "/auth/") == [200, 200]


def test_a_failing_token_endpoint_is_microcks_wide_and_transient() -> None:
    m = in_process()
    m.app.state.faults.fail_next(1, 503, path_prefix="/auth/")

    with pytest.raises(MicrocksUnreachable) as caught:  # shared by every run, like Microcks down
        m.client.get_service(ENTITY_NAME, VERSION)

    assert "token endpoint" in str(caught.value) and "HTTP 503" in str(caught.value)
    assert isinstance(caught.value, TransientError)
    assert m.client.calls == 0


def test_neither_secret_nor_token_reaches_any_log_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with over_http() as m:
        m.client.upload("a.yaml", MAIN, main=True)
        m.app.state.faults.expire_tokens()
        m.client.get_service(ENTITY_NAME, VERSION)
        token = m.client._tokens.token()  # the live token, to look for it in logs
        m.app.state.faults.fail_next(1, 400, path_prefix="/api/artifact", body=f"echo {token}")
        with pytest.raises(MicrocksRejected) as caught:
            m.client.upload("a.yaml", MAIN, main=True)

    assert token and token not in str(caught.value)
    assert caplog.records  # httpx did log the requests
    assert SECRET not in caplog.text and token not in caplog.text


def test_a_token_endpoint_that_does_not_answer_in_time_is_microcks_wide() -> None:
    with running_server(server_config()) as server:
        tokens = TokenProvider(server.base_url, CLIENT_ID, SECRET, timeout=0.3)
        server.app.state.faults.add_latency(2.0, path_prefix="/auth/", count=1)

        with pytest.raises(MicrocksUnreachable) as caught:  # every run would wait the same
            tokens.token()

        assert "token endpoint" in str(caught.value)
        assert "did not answer in time" in str(caught.value)
        assert tokens.token()  # answered once it is back
