"""End to end: `microcks-pipeline serve-microcks` in a real subprocess turns an uploaded OpenAPI file into a mock."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import grpc
import httpx
from localserver_fixtures import UPLOAD, pastry_openapi, sample

TOKEN_PATH = "/auth/realms/microcks/protocol/openid-connect/token"
SECRET = "cli-test-secret"


@contextmanager
def serve_microcks(*args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """Start the command on a free port and yield the base URL it prints."""
    process = subprocess.Popen(
        [sys.executable, "-m", "microcks_pipeline.cli", "serve-microcks", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    try:
        line = process.stdout.readline().strip()
        assert line.startswith("http://127.0.0.1:"), process.stderr.read()
        yield line
    finally:
        process.terminate()
        process.wait(timeout=10)


def _upload(base_url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    # What `curl -F file=@openapi.yaml <base>/api/artifact/upload` sends.
    return httpx.post(
        base_url + UPLOAD,
        files={"file": ("openapi.yaml", pastry_openapi().encode(), "application/octet-stream")},
        headers=headers or {},
        timeout=10,
    )


def test_upload_with_auth_off_gives_a_working_mock_endpoint():
    with serve_microcks("--no-auth") as base_url:
        uploaded = _upload(base_url)
        mock = httpx.get(base_url + "/rest/API%20Pastry/2.0.0/pastry/Eclair%20Chocolat", timeout=10)

    assert (uploaded.status_code, uploaded.text) == (201, "API Pastry:2.0.0")
    assert mock.status_code == 200
    assert mock.json() == {"name": "Eclair Chocolat", "price": 2.5}


def test_upload_with_a_token_from_the_token_endpoint_gives_a_working_mock():
    with serve_microcks(env={"MICROCKS_CLIENT_SECRET": SECRET}) as base_url:
        config = httpx.get(base_url + "/api/keycloak/config", timeout=10).json()
        token = httpx.post(
            config["auth-server-url"] + "/realms/microcks/protocol/openid-connect/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "microcks-serviceaccount",
                "client_secret": SECRET,
            },
            timeout=10,
        ).json()["access_token"]
        refused = _upload(base_url)
        uploaded = _upload(base_url, {"Authorization": f"Bearer {token}"})
        mock = httpx.get(base_url + "/rest/API+Pastry/2.0.0/pastry?size=S", timeout=10)

    assert config["enabled"] is True
    assert refused.status_code == 401
    assert uploaded.status_code == 201
    assert mock.json()[0]["name"] == "Tartelette Fraise"


def test_custom_client_id_and_secret_flags_are_used():
    with serve_microcks("--client-id", "pipeline", "--client-secret", SECRET) as base_url:
        good = httpx.post(
            base_url + TOKEN_PATH,
            data={
                "grant_type": "client_credentials",
                "client_id": "pipeline",
                "client_secret": SECRET,
            },
            timeout=10,
        )
        default = httpx.post(
            base_url + TOKEN_PATH,
            data={
                "grant_type": "client_credentials",
                "client_id": "microcks-serviceaccount",
                "client_secret": SECRET,
            },
            timeout=10,
        )

    assert good.status_code == 200
    assert default.status_code == 401


def test_faults_flag_enables_the_fault_endpoints():
    with serve_microcks("--no-auth", "--faults") as base_url:
        fault = httpx.post(base_url + "/_faults/fail", json={"count": 1, "status": 503}, timeout=10)
        failed = httpx.get(base_url + "/api/services", timeout=10)
        fine = httpx.get(base_url + "/api/services", timeout=10)

    assert fault.status_code == 200
    assert (failed.status_code, fine.status_code) == (503, 200)


def test_auth_without_a_secret_refuses_to_start():
    env = {k: v for k, v in os.environ.items() if k != "MICROCKS_CLIENT_SECRET"}

    result = subprocess.run(
        [sys.executable, "-m", "microcks_pipeline.cli", "serve-microcks", "--port", "0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )

    assert result.returncode == 2
    assert "MICROCKS_CLIENT_SECRET" in result.stderr
    assert result.stdout == ""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_grpc_port_option_serves_grpc_mocks_of_an_uploaded_proto():
    grpc_port = _free_port()
    with serve_microcks("--no-auth", "--grpc-port", str(grpc_port)) as base_url:
        for name, main in (("hello-v1.proto", "true"), ("HelloService.postman.json", "false")):
            answer = httpx.post(
                base_url + UPLOAD,
                params={"mainArtifact": main},
                files={"file": (name, sample(name))},
                timeout=30,
            )
            assert answer.status_code == 201, answer.text
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            reply = channel.unary_unary("/io.github.microcks.grpc.hello.v1.HelloService/greeting")(
                # HelloRequest{firstname: "John", lastname: "Doe"} on the wire
                b"\x0a\x04John\x12\x03Doe",
                timeout=10,
            )

    assert b"Hello John Doe !" in reply


def test_a_non_positive_async_frequency_is_refused_with_a_clear_error():
    done = subprocess.run(
        [sys.executable, "-m", "microcks_pipeline.cli", "serve-microcks", "--port", "0"]
        + ["--no-auth", "--async-frequency", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 2
    assert "async_frequency_override_seconds must be positive" in done.stderr


def test_a_grpc_port_already_taken_is_reported_clearly():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "microcks_pipeline.cli", "serve-microcks", "--port", "0"]
            + ["--no-auth", "--grpc-port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert done.returncode == 1
    assert f"the gRPC mock server could not bind 127.0.0.1:{port}" in done.stderr
