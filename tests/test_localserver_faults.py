"""Specification of fault injection, driven from Python and over HTTP against a real uvicorn server."""

from __future__ import annotations

import httpx
import pytest
from localserver_fixtures import SECRET, UPLOAD, open_client, pastry_openapi

from microcks_pipeline.localserver import (
    DEFAULT_CLIENT_ID,
    FaultsDisabled,
    ServerConfig,
    running_server,
)

TOKEN_PATH = "/auth/realms/microcks/protocol/openid-connect/token"


@pytest.fixture(scope="module")
def server():
    config = ServerConfig(
        auth_enabled=True,
        clients={DEFAULT_CLIENT_ID: (SECRET, ["user", "manager"])},
        faults_enabled=True,
    )
    with running_server(config) as running:
        yield running


@pytest.fixture
def http(server):
    server.app.state.faults.clear()
    server.app.state.store.clear()
    server.app.state.calls.clear()
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        yield client


def _token(http: httpx.Client) -> str:
    answer = http.post(
        TOKEN_PATH,
        data={
            "grant_type": "client_credentials",
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": SECRET,
        },
    )
    return answer.json()["access_token"]


def _upload(http: httpx.Client, token: str) -> httpx.Response:
    return http.post(
        UPLOAD,
        files={"file": ("pastry.yaml", pastry_openapi().encode())},
        headers={"Authorization": f"Bearer {token}"},
    )


def test_next_n_matching_requests_fail_then_requests_succeed(server, http):
    token = _token(http)
    server.app.state.faults.fail_next(
        2, 503, method="POST", path_prefix="/api/artifact", body="down"
    )

    answers = [_upload(http, token) for _ in range(3)]

    assert [a.status_code for a in answers] == [503, 503, 201]
    assert answers[0].text == "down"
    assert server.app.state.store.count() == 1


def test_failures_only_hit_matching_requests(server, http):
    server.app.state.faults.fail_next(1, 500, path_prefix="/api/artifact")

    config = http.get("/api/keycloak/config")

    assert config.status_code == 200
    assert server.app.state.faults.active()[0]["remaining"] == 1


def test_throttling_answers_429_with_retry_after(server, http):
    token = _token(http)
    server.app.state.faults.throttle_next(1, retry_after=7, path_prefix="/api/")

    throttled = _upload(http, token)
    after = _upload(http, token)

    assert throttled.status_code == 429
    assert throttled.headers["retry-after"] == "7"
    assert after.status_code == 201


def test_latency_delays_matching_requests_without_changing_answers(server, http):
    server.app.state.faults.add_latency(0.05, path_prefix="/api/services", count=1)

    answer = http.get("/api/keycloak/config")
    delayed = http.get("/api/services", headers={"Authorization": f"Bearer {_token(http)}"})

    assert answer.status_code == 200
    assert delayed.status_code == 200
    assert server.app.state.faults.active() == []  # the one-shot latency was consumed


def test_expire_tokens_makes_issued_tokens_fail_and_new_ones_work(server, http):
    token = _token(http)

    server.app.state.faults.expire_tokens()
    refused = _upload(http, token)
    accepted = _upload(http, _token(http))

    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    assert accepted.status_code == 201


def test_faults_are_driven_over_http(server, http):
    token = _token(http)

    set_fail = http.post(
        "/_faults/fail", json={"count": 1, "status": 502, "path_prefix": "/api/artifact"}
    )
    set_throttle = http.post(
        "/_faults/throttle", json={"count": 1, "retry_after": 3, "path_prefix": "/api/artifact"}
    )
    answers = [_upload(http, token) for _ in range(3)]
    expire = http.post("/_faults/expire-tokens")
    expired = _upload(http, token)

    assert set_fail.status_code == set_throttle.status_code == expire.status_code == 200
    assert [a.status_code for a in answers] == [502, 429, 201]
    assert expired.status_code == 401


def test_token_ttl_is_set_over_http(server, http):
    answer = http.post("/_faults/token-ttl", json={"seconds": 5})

    token = http.post(
        TOKEN_PATH,
        data={
            "grant_type": "client_credentials",
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": SECRET,
        },
    ).json()

    assert answer.status_code == 200
    assert token["expires_in"] == 5
    http.post("/_faults/token-ttl", json={"seconds": 300})


def test_request_log_counts_calls_and_is_readable_over_http(server, http):
    http.get("/api/keycloak/config")
    http.get("/rest/Nothing/1/x")

    calls = http.get("/_faults/calls").json()["calls"]

    assert [(c["method"], c["path"], c["status"]) for c in calls] == [
        ("GET", "/api/keycloak/config", 200),
        ("GET", "/rest/Nothing/1/x", 404),
    ]
    assert len(server.app.state.calls.calls(path_prefix="/rest/")) == 1


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/_faults/fail", {"count": 0}),
        ("/_faults/fail", {"count": "two"}),
        ("/_faults/fail", {"status": 42}),
        ("/_faults/throttle", {"retry_after": -1}),
        ("/_faults/latency", {"seconds": -1}),
        ("/_faults/token-ttl", {"seconds": 0}),
    ],
)
def test_bad_fault_requests_answer_400_and_add_nothing(server, http, path, body):
    answer = http.post(path, json=body)

    assert answer.status_code == 400
    assert server.app.state.faults.active() == []


def test_faults_disabled_refuse_python_control_and_hide_http_endpoints():
    client = open_client(faults_enabled=False)

    with pytest.raises(FaultsDisabled):
        client.app.state.faults.fail_next(1)
    answer = client.post("/_faults/fail", json={"count": 1})

    assert answer.status_code == 404
    assert client.get("/api/keycloak/config").status_code == 200


def test_running_server_serves_real_http_and_stops_on_exit():
    with running_server(ServerConfig(auth_enabled=False)) as running:
        with httpx.Client(base_url=running.base_url) as client:
            uploaded = client.post(UPLOAD, files={"file": ("p.yaml", pastry_openapi().encode())})
            mock = client.get("/rest/API%20Pastry/2.0.0/pastry/Millefeuille")
        base_url = running.base_url

    assert uploaded.status_code == 201
    assert mock.json()["name"] == "Millefeuille"
    with pytest.raises(httpx.ConnectError):
        httpx.get(base_url + "/api/keycloak/config", timeout=2)


def test_running_server_on_a_busy_port_fails_with_a_clear_error(server):
    port = int(server.base_url.rsplit(":", 1)[1])

    with pytest.raises(RuntimeError, match="could not start"):
        with running_server(ServerConfig(auth_enabled=False), port=port):
            pass
