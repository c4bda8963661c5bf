"""Operators' path: the code location configured only by environment variables, driven by the
dagster CLI in subprocesses (sensor preview, then materializing one entity's partition)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import httpx

from microcks_pipeline.core.identity import service_version
from microcks_pipeline.defs import settings as s
from microcks_pipeline.defs.partitions import entity_partitions, partition_key
from microcks_pipeline.localserver import DEFAULT_CLIENT_ID, ServerConfig, running_server

REPO = Path(__file__).resolve().parents[1]
SECRET = "cli-secret-never-printed"
PETSTORE = "api:default/petstore"


def dagster(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dagster", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_partition_materialized_from_the_cli_serves_its_mocks(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"
    shutil.copytree(REPO / "examples" / "catalog", catalog)
    home = tmp_path / "dagster_home"
    home.mkdir()
    with running_server(ServerConfig(default_client_secret=SECRET)) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MICROCKS", "DAGSTER"))}
        env |= {
            "DAGSTER_HOME": str(home),
            s.CATALOG_ROOT: str(catalog),
            s.DB_URL: f"sqlite:///{tmp_path / 'status.db'}",
            s.MICROCKS_URL: server.base_url,
            s.MICROCKS_CLIENT_ID: DEFAULT_CLIENT_ID,
            s.MICROCKS_CLIENT_SECRET: SECRET,
        }
        preview = dagster("sensor", "preview", "catalog_sensor", "-w", "workspace.yaml", env=env)
        assert "7 new partition(s)" in preview.stdout + preview.stderr, preview.stderr[-2000:]
        with dg.DagsterInstance.from_config(str(home)) as instance:
            instance.add_dynamic_partitions(entity_partitions.name, [partition_key(PETSTORE)])

        done = dagster(
            "asset", "materialize", "-m", "microcks_pipeline.definitions",
            "--select", "desired_mocks,microcks_services",
            "--partition", partition_key(PETSTORE),
            env=env,
        )  # fmt: skip

        output = done.stdout + done.stderr
        assert done.returncode == 0, output[-3000:]
        assert "RUN_SUCCESS" in output
        assert SECRET not in output
        url = f"{server.base_url}/rest/petstore/{service_version(PETSTORE, 'default')}/pets/3"
        assert httpx.get(url, timeout=10).json()["name"] == "Spike"
