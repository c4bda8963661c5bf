"""THE LONG ONE (about 2-3 minutes): the production topology, proven on this machine.

As Dagster's Helm chart runs the pipeline: the code location served by `dagster api grpc`
(ready when `dagster api grpc-health-check` says so), `dagster-daemon` with the production
`dagster.yaml` (queued coordinator, run limits per entity, the Microcks pool, run retries, run
monitoring), `dagster-webserver` answering GraphQL, a workspace pointing at the gRPC server,
Dagster storage and the status store on PostgreSQL (a database created for the test and
dropped after), several runs at once, the local Microcks over real uvicorn. A few hundred
entities sync; then, while a batch of edits runs, a run worker and the code server are killed
together with SIGKILL (a lost node) and the code server started again: every edited mock ends
served with its new content within the lease time, no row stays leased, the killed run is
failed with a reason an operator can read, and no service ever received uploads from two runs
at once.

Run it alone: `pytest -m topology`.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import httpx
import pytest
from store_fixtures import pg_test_url

from microcks_pipeline.cli.demo import mock_url
from microcks_pipeline.cli.topology import (
    Postgres,
    Topology,
    fresh_database,
    pipeline_env,
    run_worker_pid,
)
from microcks_pipeline.core.identity import service_version
from microcks_pipeline.defs import settings as s
from microcks_pipeline.defs.run_requests import BATCH_JOB
from microcks_pipeline.localserver import DEFAULT_CLIENT_ID, ServerConfig, running_server
from microcks_pipeline.localserver.app import UPLOAD_PATH
from microcks_pipeline.store import StatusStore

pytestmark = [pytest.mark.topology, pytest.mark.postgres]

ENTITIES = 200
EDITED = 150  # a mass change: three batch runs of 50
# Seconds, short for a test: the killed run is found dead after a third of it (20 s); the rest
# is for the code server's restart, a sensor tick, the new runs' start and their uploads.
LEASE = 60
SECRET = "topology-client-secret"
BENCH = Path(__file__).resolve().parents[1] / "bench"


def _generate(root: Path, count: int) -> None:
    """bench/catalog_scan.py's generator: `orders-<i>` entities, an OpenAPI and examples each."""
    spec = importlib.util.spec_from_file_location("catalog_scan", BENCH / "catalog_scan.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.generate(root, count)


def answer(base_url: str, i: int) -> httpx.Response:
    name = f"orders-{i}"
    version = service_version(f"api:default/{name}", "default")
    return httpx.get(mock_url(base_url, name, version, "/orders/2"), timeout=10)


def total_served(base_url: str, i: int) -> int | None:
    reply = answer(base_url, i)
    return reply.json()["total"] if reply.status_code == 200 else None


def wait_until(what: str, done, timeout: float, interval: float = 1.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = done()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple]:
    catalog = tmp_path / "catalog"
    _generate(catalog, ENTITIES)
    config = ServerConfig(default_client_secret=SECRET, faults_enabled=True)
    server_pg = Postgres.from_url(pg_test_url())
    with (
        fresh_database(server_pg) as database,
        # A database of its own: Dagster and the status store both keep Alembic's default
        # `alembic_version` table, so they cannot share one schema.
        fresh_database(server_pg) as status_database,
        running_server(config) as server,
    ):
        env = pipeline_env(
            os.environ,
            database=database,
            home=tmp_path / "dagster_home",
            microcks_url=server.base_url,
            client_id=DEFAULT_CLIENT_ID,
            client_secret=SECRET,
            catalog_root=catalog,
            extra={
                s.DB_URL: status_database.url(),
                s.CATALOG_INTERVAL: "2",
                s.SYNC_INTERVAL: "2",
                s.LEASE_SECONDS: str(LEASE),
            },
        )
        for name in ("DAGSTER_HOME", *database.dagster_env()):
            monkeypatch.setenv(name, env[name])  # this process reads the same instance
        topology = Topology(tmp_path, database, env)
        store = StatusStore(status_database.url())
        store.migrate()  # (the code location would do it on its first tick)
        try:
            topology.start()
            with dg.DagsterInstance.get() as instance:
                yield topology, server, store, instance, catalog
        finally:
            topology.stop()
            store.dispose()


def leased_batch(instance: dg.DagsterInstance, store: StatusStore) -> str | None:
    """A started batch run holding leases, once its worker logged its pid."""
    owners = {r.lease_owner for r in store.rows() if r.status == "leased"}
    for run in instance.get_runs(
        filters=dg.RunsFilter(job_name=BATCH_JOB, statuses=[dg.DagsterRunStatus.STARTED])
    ):
        if run.run_id in owners and run_worker_pid(instance, run.run_id):
            return run.run_id
    return None


def overlapping_uploads(server) -> list[str]:  # type: ignore[no-untyped-def]
    by_service = defaultdict(list)
    for call in server.app.state.calls.calls(method="POST", path_prefix=UPLOAD_PATH):
        if call.service:
            by_service[call.service].append((call.started, call.ended))
    found = []
    for service, spans in by_service.items():
        spans.sort()
        for (_, ended), (started, _) in zip(spans, spans[1:], strict=False):
            if started < ended:
                found.append(service)
    return found


def test_the_production_topology_survives_a_lost_node(deployment) -> None:  # type: ignore[no-untyped-def]
    topology, server, store, instance, catalog = deployment
    web = topology.graphql(
        "{ version workspaceOrError { ... on Workspace { locationEntries { name } } } }"
    )
    assert web["data"]["version"]
    assert [e["name"] for e in web["data"]["workspaceOrError"]["locationEntries"]] == [
        "microcks_pipeline"
    ]

    wait_until(
        f"the first sync of {ENTITIES} entities",
        lambda: store.counts().get("completed") == ENTITIES,
        timeout=180,
    )
    # A run still in flight (a needless second run finds nothing to claim) has no end time yet.
    spans = [
        (r.start_time, r.end_time if r.end_time is not None else float("inf"))
        for r in instance.get_run_records(filters=dg.RunsFilter(job_name=BATCH_JOB))
        if r.start_time is not None
    ]
    assert len(spans) >= 2
    assert any(  # several runs at once
        a[0] < b[1] and b[0] < a[1] for i, a in enumerate(spans) for b in spans[i + 1 :]
    )
    assert total_served(server.base_url, ENTITIES - 1) == ENTITIES - 1

    server.app.state.faults.add_latency(0.05, path_prefix=UPLOAD_PATH)  # batches take a while
    for i in range(EDITED):
        examples = catalog / f"api-{i:05d}" / "examples.yaml"
        examples.write_text(examples.read_text().replace(f"total: {i}}}", f"total: {i + 10_000}}}"))
    run_id = wait_until(
        "a batch run holding leases", lambda: leased_batch(instance, store), 90, 0.2
    )

    worker = run_worker_pid(instance, run_id)
    os.kill(worker, signal.SIGKILL)  # a lost node: the run worker and the code server together
    os.kill(topology.code_server.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    topology.code_server.wait(timeout=10)
    topology.start_code_server()

    wait_until(
        "every edited mock served with its new content",
        lambda: all(total_served(server.base_url, i) == i + 10_000 for i in range(EDITED)),
        timeout=LEASE - (time.monotonic() - killed_at),
        interval=1.0,
    )
    within = time.monotonic() - killed_at
    print(f"edited mocks served {within:.1f} s after the kill (lease {LEASE} s)")
    assert within < LEASE
    assert not [r for r in store.rows() if r.status == "leased"]
    assert store.counts().get("completed") == ENTITIES
    killed = instance.get_run_by_id(run_id)
    assert killed.status == dg.DagsterRunStatus.FAILURE
    (failure,) = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.RUN_FAILURE
    ).records
    reason = failure.event_log_entry.dagster_event.message
    assert "sent no heartbeat, held no lease and written no event for 20 s" in reason, reason
    assert overlapping_uploads(server) == []
