"""Microcks client and token provider behaviour that needs no Microcks-compatible server."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import httpx
import pytest

from microcks_pipeline.core.errors import AuthError, ConfigError, PermanentError, TransientError
from microcks_pipeline.microcks import (
    MicrocksBusy,
    MicrocksClient,
    MicrocksTimeout,
    MicrocksUnreachable,
    TokenProvider,
)
from microcks_pipeline.microcks.errors import safe_url, sanitize_text
from microcks_pipeline.microcks.token import ClientCredentials

SECRET = "s3cr3t-value-never-shown"


@pytest.fixture
def closed_port() -> int:
    """A 127.0.0.1 port with nothing listening on it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A 127.0.0.1 port that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


# -- base URL checks happen before any connection ----------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["ftp://127.0.0.1/", "file:///etc/passwd", "127.0.0.1:8080", "http://", "not a url"],
)
def test_client_refuses_a_base_url_that_is_not_http(url: str) -> None:
    with pytest.raises(ConfigError, match="Microcks URL"):
        MicrocksClient(url)


def test_client_refuses_credentials_in_the_base_url_without_echoing_them() -> None:
    with pytest.raises(ConfigError) as caught:
        MicrocksClient(f"http://admin:{SECRET}@127.0.0.1:1/")
    assert SECRET not in str(caught.value)


def test_token_provider_refuses_credentials_in_the_base_url_without_echoing_them() -> None:
    with pytest.raises(ConfigError) as caught:
        TokenProvider(f"http://admin:{SECRET}@127.0.0.1:1", "id", "x")
    assert SECRET not in str(caught.value)


# -- secrets stay hidden ------------------------------------------------------------------------


def test_client_secret_is_absent_from_every_repr() -> None:
    provider = TokenProvider("http://127.0.0.1:1", "microcks-serviceaccount", SECRET)
    client = MicrocksClient("http://127.0.0.1:1", token_provider=provider)

    shown = (
        repr(provider) + repr(client) + repr(ClientCredentials("id", SECRET)) + str(vars(client))
    )

    assert SECRET not in shown
    assert "microcks-serviceaccount" in repr(provider)


def test_sanitize_text_removes_secrets_url_credentials_and_control_characters() -> None:
    raw = f"bad\r\nthing {SECRET} at https://bob:pw@host/x\x00 " + "y" * 1000

    text = sanitize_text(raw, [SECRET])

    assert SECRET not in text and "bob:pw" not in text
    assert "\n" not in text and "\x00" not in text
    assert len(text) <= 300
    assert text.startswith("bad thing *** at https://***@host/x")


def test_safe_url_drops_user_info_query_and_fragment() -> None:
    assert safe_url("https://u:p@h:8443/a/b?token=x#f") == "https://h:8443/a/b"


# -- URLs ------------------------------------------------------------------------------------------


def test_mock_url_encodes_spaces_as_percent_20_and_keeps_a_path_prefix() -> None:
    client = MicrocksClient("http://127.0.0.1:1/microcks/")

    url = client.mock_url("Pet Store", "bk-0123456789abcdef-default")

    assert url == "http://127.0.0.1:1/microcks/rest/Pet%20Store/bk-0123456789abcdef-default"


# -- connection failures over real sockets ------------------------------------------------------


def test_nothing_listening_is_microcks_unreachable(closed_port: int) -> None:
    client = MicrocksClient(f"http://127.0.0.1:{closed_port}")

    with pytest.raises(MicrocksUnreachable) as caught:
        client.get_service("petstore", "bk-0123456789abcdef-default")

    assert isinstance(caught.value, TransientError)
    assert client.calls == 1


def test_no_answer_in_time_is_a_transient_timeout(silent_server: int) -> None:
    client = MicrocksClient(f"http://127.0.0.1:{silent_server}", timeout=0.2)

    with pytest.raises(MicrocksTimeout) as caught:
        client.upload("petstore.yaml", b"openapi: 3.0.0", main=True)

    assert isinstance(caught.value, TransientError)


def test_unreachable_token_endpoint_is_transient_and_hides_the_secret(closed_port: int) -> None:
    provider = TokenProvider(f"http://127.0.0.1:{closed_port}", "microcks-serviceaccount", SECRET)

    with pytest.raises(MicrocksUnreachable) as caught:
        provider.token()

    assert SECRET not in str(caught.value)
    assert provider.calls == 1


# -- corner cases a faithful server cannot produce (httpx.MockTransport) ------------------------


def _client(handler) -> MicrocksClient:  # type: ignore[no-untyped-def]
    return MicrocksClient("http://127.0.0.1:1", transport=httpx.MockTransport(handler))


def test_connect_timeout_counts_as_unreachable_not_as_a_slow_answer() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("no route", request=request)

    with pytest.raises(MicrocksUnreachable):
        _client(handler).search("^petstore$")


def test_retry_after_given_as_an_http_date_is_ignored_not_misread() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})

    with pytest.raises(MicrocksBusy) as caught:
        _client(handler).search("^petstore$")

    assert caught.value.retry_after is None
    assert caught.value.status == 429


def test_a_proxy_page_instead_of_json_is_transient() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>maintenance</html>")

    with pytest.raises(MicrocksBusy):
        _client(handler).search("^petstore$")


@pytest.mark.parametrize(
    ("call", "answer", "message"),
    [
        ("search", "{}", "a non-list to service search"),
        ("read", "[]", "a non-object to read of petstore:v1"),
        ("read", "<html>maintenance</html>", "non-JSON to read of petstore:v1"),
        ("list", '{"services": []}', "a non-list to service listing"),
    ],
)
def test_json_of_the_wrong_shape_is_transient_and_names_the_request(
    call: str, answer: str, message: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text=answer, headers={"Content-Type": "application/json"})

    client = _client(handler)
    calls = {
        "search": lambda: client.search("^petstore$"),
        "read": lambda: client.get_service("petstore", "v1"),
        "list": lambda: next(client.list_services()),
    }
    with pytest.raises(MicrocksBusy, match=message) as caught:
        calls[call]()

    assert caught.value.status == 200


def test_an_unexpected_status_is_permanent_and_names_the_request() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(405)

    with pytest.raises(PermanentError, match="HTTP 405 to upload of a.yaml"):
        _client(handler).upload("a.yaml", b"x", main=True)


def test_a_token_server_answering_without_access_token_is_an_auth_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/api/keycloak/config"):
            return httpx.Response(
                200,
                json={
                    "enabled": True,
                    "realm": "microcks",
                    "auth-server-url": "http://127.0.0.1:1",
                },
            )
        return httpx.Response(200, json={"token_type": "Bearer"})

    provider = TokenProvider(
        "http://127.0.0.1:1", "id", SECRET, transport=httpx.MockTransport(handler)
    )

    with pytest.raises(AuthError, match="no access_token") as caught:
        provider.token()
    assert SECRET not in str(caught.value)


def test_list_services_refuses_a_page_size_below_one_before_any_call() -> None:
    client = MicrocksClient("http://127.0.0.1:1")

    with pytest.raises(ValueError):
        next(client.list_services(page_size=0))
    assert client.calls == 0


@pytest.mark.parametrize(
    "config",
    [
        {"enabled": True, "realm": "microcks", "auth-server-url": "ftp://127.0.0.1/auth"},
        {"enabled": True, "realm": "microcks", "auth-server-url": "http://u:p@127.0.0.1/auth"},
        {"enabled": True, "auth-server-url": "http://127.0.0.1/auth"},
        ["not", "an", "object"],
    ],
    ids=["ftp", "credentials", "no-realm", "not-an-object"],
)
def test_an_unusable_keycloak_config_is_an_auth_error_and_nothing_is_sent_to_it(config) -> None:  # type: ignore[no-untyped-def]
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(200, json=config)

    provider = TokenProvider(
        "http://127.0.0.1:1", "id", SECRET, transport=httpx.MockTransport(handler)
    )

    with pytest.raises(AuthError) as caught:
        provider.token()

    assert seen == ["/api/keycloak/config"]  # the secret was never posted anywhere
    assert SECRET not in str(caught.value) and "u:p" not in str(caught.value)


def test_a_microcks_without_keycloak_config_endpoint_is_an_auth_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404)

    provider = TokenProvider(
        "http://127.0.0.1:1", "id", SECRET, transport=httpx.MockTransport(handler)
    )

    with pytest.raises(AuthError, match="HTTP 404"):
        provider.token()
