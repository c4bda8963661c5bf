"""Specification of authentication: Keycloak config, OIDC discovery, client-credentials tokens, role rules (NOTES §9)."""

from __future__ import annotations

import base64
import json

import pytest
from localserver_fixtures import (
    PASTRY_NAME,
    PASTRY_VERSION,
    SECRET,
    UPLOAD,
    InProcessClient,
    assert_schema,
    fetch_token,
    pastry_openapi,
)

from microcks_pipeline.localserver import DEFAULT_CLIENT_ID, ServerConfig, create_app

TOKEN_PATH = "/auth/realms/microcks/protocol/openid-connect/token"
CLIENTS = {
    DEFAULT_CLIENT_ID: (SECRET, ["user", "manager"]),
    "reader": ("reader-secret", ["user"]),
    "uploader": ("uploader-secret", ["manager"]),
}


def _client(**config) -> InProcessClient:
    config.setdefault("clients", dict(CLIENTS))
    return InProcessClient(create_app(ServerConfig(auth_enabled=True, **config)))


def _claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _upload(client: InProcessClient, token: str | None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post(
        UPLOAD, files={"file": ("pastry.yaml", pastry_openapi().encode())}, headers=headers
    )


# --- Keycloak endpoints ---------------------------------------------------------------------


def test_keycloak_config_points_at_this_server_auth_url():
    client = _client()

    body = client.get("/api/keycloak/config").json()

    assert body["enabled"] is True
    assert body["auth-server-url"] == "http://testserver/auth"
    assert body["resource"] == "microcks-app-js"
    assert_schema(body, "KeycloakConfig")


def test_discovery_document_names_the_token_endpoint():
    client = _client()

    body = client.get("/auth/realms/microcks/.well-known/openid-configuration").json()

    assert body["issuer"] == "http://testserver/auth/realms/microcks"
    assert body["token_endpoint"] == "http://testserver" + TOKEN_PATH
    assert "client_credentials" in body["grant_types_supported"]


def test_token_endpoint_issues_an_expiring_bearer_jwt_with_client_roles():
    client = _client(token_ttl_seconds=120)

    answer = client.post(
        TOKEN_PATH,
        data={
            "grant_type": "client_credentials",
            "client_id": "reader",
            "client_secret": "reader-secret",
        },
    )

    body = answer.json()
    claims = _claims(body["access_token"])
    assert answer.status_code == 200
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 120)
    assert claims["resource_access"]["microcks-app"]["roles"] == ["user"]
    assert claims["exp"] - claims["iat"] == 120
    assert claims["iss"] == "http://testserver/auth/realms/microcks"


def test_token_endpoint_accepts_http_basic_client_authentication():
    client = _client()
    basic = base64.b64encode(f"{DEFAULT_CLIENT_ID}:{SECRET}".encode()).decode()

    answer = client.post(
        TOKEN_PATH,
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )

    assert answer.status_code == 200
    assert _claims(answer.json()["access_token"])["azp"] == DEFAULT_CLIENT_ID


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"client_id": DEFAULT_CLIENT_ID, "client_secret": SECRET}, 400, "invalid_request"),
        (
            {"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "x"},
            401,
            "invalid_client",
        ),
        (
            {
                "grant_type": "client_credentials",
                "client_id": DEFAULT_CLIENT_ID,
                "client_secret": "wrong",
            },
            401,
            "unauthorized_client",
        ),
        (
            {"grant_type": "password", "client_id": DEFAULT_CLIENT_ID, "client_secret": SECRET},
            400,
            "unsupported_grant_type",
        ),
    ],
)
def test_token_endpoint_refusals_are_oauth_errors_without_secrets(form, status, error):
    client = _client()

    answer = client.post(TOKEN_PATH, data=form)

    assert answer.status_code == status
    assert answer.json()["error"] == error
    assert SECRET not in answer.text and "wrong" not in answer.text


def test_default_config_has_the_service_account_client_with_a_generated_secret():
    config = ServerConfig()
    client = InProcessClient(create_app(config))
    secret, roles = config.clients[DEFAULT_CLIENT_ID]

    token = fetch_token(client, DEFAULT_CLIENT_ID, secret)

    assert roles == ["user", "manager"]
    assert secret and secret not in repr(config)
    assert _claims(token)["resource_access"]["microcks-app"]["roles"] == ["user", "manager"]


# --- role rules ---------------------------------------------------------------------------------


def test_api_calls_without_a_token_answer_401_with_a_bearer_challenge():
    client = _client()

    upload = _upload(client, None)
    listing = client.get("/api/services")

    assert (upload.status_code, upload.content) == (401, b"")
    assert upload.headers["www-authenticate"].startswith("Bearer")
    assert listing.status_code == 401


def test_manager_token_uploads_and_deletes():
    client = _client()
    token = fetch_token(client)

    upload = _upload(client, token)
    delete = client.delete(
        f"/api/services/{PASTRY_NAME}:{PASTRY_VERSION}",
        headers={"Authorization": f"Bearer {token}"},
    )

    assert upload.status_code == 201
    assert delete.status_code == 200


def test_user_only_token_reads_but_cannot_upload_or_delete():
    client = _client()
    _upload(client, fetch_token(client))
    reader = fetch_token(client, "reader", "reader-secret")
    auth = {"Authorization": f"Bearer {reader}"}

    listing = client.get("/api/services", headers=auth)
    upload = _upload(client, reader)
    delete = client.delete(f"/api/services/{PASTRY_NAME}:{PASTRY_VERSION}", headers=auth)

    assert listing.status_code == 200
    assert (upload.status_code, upload.content) == (403, b"")
    assert 'error="insufficient_scope"' in upload.headers["www-authenticate"]
    assert delete.status_code == 403
    assert client.get("/api/services/count", headers=auth).json() == {"counter": 1}


def test_manager_without_user_role_cannot_get_a_single_service():
    # Microcks' first rule: GET /api/services/* needs `user` only.
    client = _client()
    uploader = fetch_token(client, "uploader", "uploader-secret")
    auth = {"Authorization": f"Bearer {uploader}"}

    upload = _upload(client, uploader)
    single = client.get(f"/api/services/{PASTRY_NAME}:{PASTRY_VERSION}", headers=auth)
    listing = client.get("/api/services", headers=auth)

    assert upload.status_code == 201
    assert single.status_code == 403
    assert listing.status_code == 200


def test_mocks_and_keycloak_config_need_no_token():
    client = _client()
    _upload(client, fetch_token(client))

    mock = client.get("/rest/API Pastry/2.0.0/health")
    config = client.get("/api/keycloak/config")

    assert mock.status_code == 200
    assert config.status_code == 200


@pytest.mark.parametrize(
    "token",
    ["not-a-jwt", "a.b.c", "eyJhbGciOiJub25lIn0.eyJleHAiOjk5OTk5OTk5OTl9."],
)
def test_invalid_tokens_answer_401_invalid_token_even_on_open_api_paths(token):
    client = _client()

    guarded = client.get("/api/services", headers={"Authorization": f"Bearer {token}"})
    open_path = client.get("/api/keycloak/config", headers={"Authorization": f"Bearer {token}"})

    assert (guarded.status_code, guarded.content) == (401, b"")
    assert 'error="invalid_token"' in guarded.headers["www-authenticate"]
    assert open_path.status_code == 401


def test_token_from_another_server_is_refused():
    other = _client()
    client = _client()

    answer = client.get("/api/services", headers={"Authorization": f"Bearer {fetch_token(other)}"})

    assert answer.status_code == 401


def test_expired_token_answers_401_invalid_token():
    client = _client(token_ttl_seconds=1, jwt_clock_skew_seconds=0, faults_enabled=True)
    token = fetch_token(client)
    client.app.state.faults.expire_tokens()

    answer = client.get("/api/services", headers={"Authorization": f"Bearer {token}"})
    fresh = client.get("/api/services", headers={"Authorization": f"Bearer {fetch_token(client)}"})

    assert answer.status_code == 401
    assert "expired" in answer.headers["www-authenticate"]
    assert fresh.status_code == 200


def test_auth_disabled_permits_everything_and_has_no_token_endpoint():
    client = InProcessClient(create_app(ServerConfig(auth_enabled=False)))

    upload = _upload(client, None)
    delete = client.delete(f"/api/services/{PASTRY_NAME}:{PASTRY_VERSION}")
    token = client.post(TOKEN_PATH, data={"grant_type": "client_credentials"})

    assert upload.status_code == 201
    assert delete.status_code == 200
    assert token.status_code == 404


@pytest.mark.parametrize(
    "config",
    [
        {"token_ttl_seconds": 0},
        {"max_upload_bytes": 0},
        {"clients": {"x": ("", ["user"])}},
        {"clients": {"x": ("s",)}},
    ],
)
def test_invalid_server_config_is_refused(config):
    with pytest.raises(ValueError):
        ServerConfig(**config)
