"""A sync run in its own process, as a run worker executes it, against an on-disk instance:
started from the sync sensor's request and held inside a slowed upload, to be killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import dagster as dg
from dagster_fixtures import CLIENT_SECRET, World, make_world, request_for

from microcks_pipeline.defs import settings as s
from microcks_pipeline.localserver import DEFAULT_CLIENT_ID
from microcks_pipeline.store import StatusRow

PETSTORE = "api:default/petstore"
FAILED = "release_leases_of_failed_runs"

# The run, as a run worker process executes it: the sync sensor's request, in this instance.
RUN_SCRIPT = """
import json, sys
import dagster as dg
from microcks_pipeline.definitions import defs
job_name, partition, tags = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
with dg.DagsterInstance.get() as instance:
    defs.resolve_job_def(job_name).execute_in_process(
        instance=instance, partition_key=partition, tags=tags, raise_on_error=False
    )
"""


@contextmanager
def world_on_disk(tmp_path: Path) -> Iterator[World]:
    """The shared world with its Dagster instance on disk, so run processes started from it
    report into the same instance; the local server can inject faults (a slowed upload)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with (
        make_world(tmp_path, faults=True) as base,
        dg.DagsterInstance.from_config(str(home)) as instance,
    ):
        yield replace(base, instance=instance)


def wait_for(what: str, found: Callable[[], object], timeout: float = 60.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def start_run(
    world: World, request: dg.RunRequest, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        **(env or {}),
        "DAGSTER_HOME": str(world.instance.root_directory),
        s.MICROCKS_URL: world.server.base_url,
        s.MICROCKS_CLIENT_ID: DEFAULT_CLIENT_ID,
        s.MICROCKS_CLIENT_SECRET: CLIENT_SECRET,
        s.CATALOG_ROOT: str(world.catalog_dir),
        s.DB_URL: world.db_url,
    }
    args = [request.job_name, request.partition_key, json.dumps(dict(request.tags))]
    return subprocess.Popen(
        [sys.executable, "-c", RUN_SCRIPT, *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def leased(world: World) -> list[StatusRow]:
    return [r for r in world.store.rows(PETSTORE) if r.status == "leased"]


def start_a_slow_run(
    world: World, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], str, str | None]:
    """The catalog tick, the release sensor's first tick (it starts from now, as at daemon start),
    and petstore's run started in its own process, held inside its first upload."""
    world.tick_catalog()
    cursor = world.tick(FAILED).cursor
    request = request_for(world.tick_sync().run_requests, PETSTORE)
    world.server.app.state.faults.add_latency(60, path_prefix="/api/artifact/upload")
    process = start_run(world, request, env)
    rows = wait_for("the run to lease petstore's rows", lambda: leased(world))
    wait_for(
        "the run's first upload",
        lambda: world.server.app.state.calls.calls(path_prefix="/api/services/search"),
    )
    time.sleep(1.0)  # well inside the slowed upload now
    return process, rows[0].lease_owner, cursor


def interrupt(
    world: World, process: subprocess.Popen[bytes], run_id: str, ends: dg.DagsterRunStatus
) -> None:
    """SIGTERM the run's process (what a pod deletion or `docker stop` sends), lift the slowdown,
    and wait until Dagster records the run as `ends`."""
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    world.server.app.state.faults.clear()
    wait_for(
        f"Dagster to mark the run {ends.value}",
        lambda: world.instance.get_run_by_id(run_id).status == ends,
    )
