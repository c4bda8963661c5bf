"""End to end: `microcks-pipeline demo` brings up the local Microcks and `dagster dev`, serves the
sample mock, follows an edit of the copied catalog, and stops every process on SIGTERM.

The slow test of the suite (about a minute): real processes, real sensors, real runs.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import grpc
import httpx
import pytest
import yaml
from demo_fixtures import LineReader, Tracker, environ_of, free_ports, still_running
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from microcks_pipeline.core.identity import entity_ref, service_version
from microcks_pipeline.localserver.importer_protobuf import compile_proto

REPO = Path(__file__).resolve().parent.parent
SAMPLE_FILE = Path("petstore/mocks/default/petstore-examples.yaml")
EXAMPLE = ("GET /pets/{petId}", "spike")  # the example the demo's printed mock URL answers

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")


def _example_body(catalog: Path) -> object:
    doc = yaml.safe_load((catalog / SAMPLE_FILE).read_text())
    operation, name = EXAMPLE
    return doc["operations"][operation][name]["response"]["body"]


def _rename_pet(catalog: Path, new_name: str) -> None:
    path = catalog / SAMPLE_FILE
    doc = yaml.safe_load(path.read_text())
    operation, name = EXAMPLE
    doc["operations"][operation][name]["response"]["body"]["name"] = new_name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def _graphql_director(client: httpx.Client, microcks_port: int, timeout: float = 60) -> object:
    """The director of film 2, asked of the movies-graphql mock once it is synced."""
    version = service_version(entity_ref("movies-graphql"), "default")
    url = f"http://127.0.0.1:{microcks_port}/graphql/movies-graphql/{version}"
    query = {"query": 'query { film(id: "ZmlsbXM6Mg==") { director } }'}
    deadline, seen = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        reply = client.post(url, json=query)
        if reply.status_code == 200:
            return reply.json()["data"]["film"]["director"]
        seen = (reply.status_code, reply.text)
        time.sleep(0.5)
    return seen


def _greeting(grpc_port: int) -> str:
    """HelloService/greeting called on the demo's gRPC port (proto compiled as a client would)."""
    pool = descriptor_pool.DescriptorPool()
    proto = (REPO / "examples/catalog/greeter/hello-v1.proto").read_text()
    for file in descriptor_pb2.FileDescriptorSet.FromString(compile_proto(proto)).file:
        pool.Add(file)
    package = "io.github.microcks.grpc.hello.v1."
    request = message_factory.GetMessageClass(pool.FindMessageTypeByName(package + "HelloRequest"))
    reply = message_factory.GetMessageClass(pool.FindMessageTypeByName(package + "HelloResponse"))
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        call = channel.unary_unary(
            f"/{package}HelloService/greeting",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=reply.FromString,
        )
        return call(request(firstname="John", lastname="Doe"), timeout=10).greeting


def _poll_body(client: httpx.Client, url: str, expected: object, timeout: float) -> object:
    """The last body seen; returns as soon as it equals `expected`."""
    deadline, seen = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        reply = client.get(url)
        seen = reply.json() if reply.status_code == 200 else (reply.status_code, reply.text)
        if seen == expected:
            break
        time.sleep(0.5)
    return seen


def test_demo_serves_the_sample_mock_follows_an_edit_and_stops_every_process(tmp_path: Path):
    # Arrange: a working directory outside the repository, free ports.
    workdir = tmp_path / "demo"
    ui_port, microcks_port, status_port, grpc_port = free_ports(4)
    sample_before = (REPO / "examples/catalog" / SAMPLE_FILE).read_bytes()
    command = [sys.executable, "-m", "microcks_pipeline.cli", "demo", "--workdir", str(workdir)]
    command += ["--grpc-port", str(grpc_port)]
    command += ["--port", str(ui_port), "--microcks-port", str(microcks_port)]
    demo = subprocess.Popen(
        [*command, "--status-port", str(status_port), "--ready-timeout", "75"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # our own group: a stray signal never reaches pytest
    )
    out, err = LineReader(demo.stdout), LineReader(demo.stderr)
    processes = Tracker(demo)
    try:
        # Act 1: wait for "ready" and call the printed mock URL.
        ready = out.wait_for(lambda line: line.startswith("ready"), timeout=80)
        assert ready, f"demo never got ready:\n{out.text(0)}\n{err.text(0)}"
        printed = {k.strip(): v.strip() for k, _, v in (x.partition(":") for x in out.lines)}
        mock_url = printed["mock URL"]
        assert mock_url.startswith(f"http://127.0.0.1:{microcks_port}/rest/petstore/")
        assert printed["Dagster UI"] == f"http://127.0.0.1:{ui_port}"
        catalog = workdir / "catalog"
        with httpx.Client(timeout=5, trust_env=False) as client:
            first = client.get(mock_url)
            assert first.status_code == 200
            assert first.json() == _example_body(catalog)
            # The local Microcks runs with auth on: its API refuses a request without a token.
            assert client.get(f"http://127.0.0.1:{microcks_port}/api/services").status_code == 401
            # The status API lists the printed mock as served, under its root URL.
            status_url = printed["Status API"].split()[0]
            assert status_url == f"http://127.0.0.1:{status_port}/api/v1/entities"
            petstore = client.get(f"{status_url}/api:default/petstore").json()
            served = {m["mockId"]: m["mockUrl"] for m in petstore["mocks"] if m["served"]}
            assert mock_url.startswith(served["default"] + "/")

            # Act 1b: the GraphQL and gRPC mocks of the sample catalog answer their clients.
            assert printed["gRPC mocks"] == f"127.0.0.1:{grpc_port}"
            assert _graphql_director(client, microcks_port) == "Irvin Kershner"
            assert _greeting(grpc_port) == "Hello John Doe !"

            # Act 2: edit the example in the demo's copy of the catalog.
            _rename_pet(catalog, f"Sonic-{uuid.uuid4().hex[:8]}")
            expected = _example_body(catalog)
            seen = _poll_body(client, mock_url, expected, timeout=45)
            assert seen == expected

            # Act 2b: the README's command for other ports, in the same work directory.
            other_ui, other_microcks, other_status, other_grpc = free_ports(4)
            second = subprocess.run(
                [
                    *command[:-4],
                    *("--grpc-port", str(other_grpc)),
                    *("--port", str(other_ui), "--microcks-port", str(other_microcks)),
                    *("--status-port", str(other_status)),
                ],
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert second.returncode == 2
            assert second.stderr.startswith(f"error: {workdir} is in use by another running demo")
            assert "--workdir" in second.stderr and "Traceback" not in second.stderr
            assert len(second.stderr.splitlines()) == 1
            # ... and the first demo is unharmed: its mock and its UI still answer.
            assert client.get(mock_url).json() == expected
            assert client.get(f"http://127.0.0.1:{ui_port}/server_info").status_code == 200

        # Act 3: SIGTERM the demo.
        tree = processes.snapshot()
        dagster_dev = [p for p in tree if " dagster dev " in f" {p.cmdline} "]
        assert dagster_dev and any("dagster_webserver" in p.cmdline for p in tree)
        secret = environ_of(dagster_dev[0].pid)["MICROCKS_CLIENT_SECRET"]
        demo.send_signal(signal.SIGTERM)
        code = demo.wait(timeout=30)
    finally:
        processes.kill_survivors()

    # Assert: clean exit, nothing left running, no secret shown, the repository untouched.
    assert code == 0, err.text()
    assert [p.cmdline for p in tree if still_running(p)] == []
    shown = out.text() + err.text() + (workdir / "dagster.log").read_text(errors="replace")
    assert secret and secret not in shown
    assert "stopped" in out.lines[-1]
    assert (REPO / "examples/catalog" / SAMPLE_FILE).read_bytes() == sample_before


def test_ctrl_c_during_start_up_stops_everything_even_when_launched_with_sigint_ignored(
    tmp_path: Path,
):
    # Arrange: as `make demo &` from a script, which starts the demo with SIGINT ignored.
    ui_port, microcks_port, status_port = free_ports(3)
    command = [sys.executable, "-m", "microcks_pipeline.cli", "demo"]
    command += ["--workdir", str(tmp_path / "demo"), "--port", str(ui_port)]
    command += ["--microcks-port", str(microcks_port), "--status-port", str(status_port)]
    demo = subprocess.Popen(
        ["sh", "-c", 'trap "" INT; exec "$@"', "sh", *command],  # exec keeps SIGINT ignored
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    out, err = LineReader(demo.stdout), LineReader(demo.stderr)
    processes = Tracker(demo)
    try:
        assert out.wait_for(lambda line: line.startswith("waiting"), timeout=30), err.text(0)
        deadline = time.monotonic() + 20
        while not any("dagster dev" in p.cmdline for p in processes.snapshot()):
            assert time.monotonic() < deadline, "dagster dev never started"
            time.sleep(0.1)
        tree = processes.snapshot()

        # Act: Ctrl-C while Dagster is still starting.
        demo.send_signal(signal.SIGINT)
        code = demo.wait(timeout=30)
    finally:
        processes.kill_survivors()

    # Assert
    assert code == 0, err.text()
    assert out.text().rstrip().endswith("stopped")
    assert [p.cmdline for p in tree if still_running(p)] == []
