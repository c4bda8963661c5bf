"""A real world for the Dagster tests: sample catalog copy, local Microcks over HTTP, SQLite
status store, temporary Dagster instance; sensor ticks and requested runs executed for real."""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import dagster as dg
import httpx
from dagster._core.definitions.sensor_definition import SensorExecutionData

from microcks_pipeline.definitions import defs
from microcks_pipeline.defs.partitions import entity_partitions, entity_ref_of
from microcks_pipeline.defs.resources import CatalogResource, MicrocksResource, StatusStoreResource
from microcks_pipeline.localserver import DEFAULT_CLIENT_ID, RunningServer, ServerConfig
from microcks_pipeline.localserver import running_server as _running_server
from microcks_pipeline.store import StatusStore

REPO = Path(__file__).resolve().parents[1]
SAMPLE_CATALOG = REPO / "examples" / "catalog"
CLIENT_SECRET = "test-client-secret-do-not-leak"
MANAGED = {
    "api:default/petstore",
    "api:default/orders-api",
    "api:default/payments-api",
    "api:default/users-api",
    "api:default/user-signedup-events",
    "api:default/movies-graphql",
    "api:default/greeter-grpc",
}


@dataclass
class World:
    catalog_dir: Path
    db_url: str
    server: RunningServer
    instance: dg.DagsterInstance
    microcks: MicrocksResource
    catalog: CatalogResource | None = None  # default: the copied sample folder
    status_store: StatusStoreResource | None = None  # default: SQLite at db_url

    def __post_init__(self) -> None:
        if self.catalog is None:
            self.catalog = CatalogResource(root=str(self.catalog_dir))
        if self.status_store is None:
            self.status_store = StatusStoreResource(db_url=self.db_url)

    def using(self, **resources: dg.ConfigurableResource) -> World:
        """The same world seen through other `catalog` / `microcks` / `status_store` resources."""
        return replace(self, **resources)

    # -- the pieces ------------------------------------------------------------------------
    @property
    def resources(self) -> dict[str, dg.ConfigurableResource]:
        return {
            "catalog": self.catalog,
            "microcks": self.microcks,
            "status_store": self.status_store,
        }

    @property
    def store(self) -> StatusStore:
        return self.status_store.store()

    def partitions(self) -> set[str]:
        return {
            entity_ref_of(k) for k in self.instance.get_dynamic_partitions(entity_partitions.name)
        }

    def calls(self, path_prefix: str = "/api/") -> int:
        """Microcks API calls the local server has answered so far."""
        return len(self.server.app.state.calls.calls(path_prefix=path_prefix))

    # -- sensors, as the daemon would run them ---------------------------------------------
    def tick(self, sensor_name: str, cursor: str | None = None) -> SensorExecutionData:
        """Evaluate the sensor the way the daemon does (from `cursor`, the last tick's),
        reporting its asset events as the daemon does."""
        sensor = defs.resolve_sensor_def(sensor_name)
        context = dg.build_sensor_context(
            instance=self.instance, definitions=defs, resources=self.resources, cursor=cursor
        )
        # The daemon provides the instance as partition store; a built context does not.
        with dg.partition_loading_context(dynamic_partitions_store=self.instance):
            result = sensor.evaluate_tick(context)
        # Partitions change through the instance, never by a request the daemon applies later.
        assert not result.dynamic_partitions_requests
        for event in result.asset_events:  # dagster/_daemon/sensor.py does the same
            self.instance.report_runless_asset_event(event)
        return result

    def tick_catalog(self) -> SensorExecutionData:
        return self.tick("catalog_sensor")

    def tick_sync(self) -> SensorExecutionData:
        return self.tick("sync_sensor")

    # -- runs ------------------------------------------------------------------------------
    def run(
        self, request: dg.RunRequest, *, raise_on_error: bool = False
    ) -> dg.ExecuteInProcessResult:
        job = defs.resolve_job_def(request.job_name)
        return job.execute_in_process(
            run_config=request.run_config or None,
            instance=self.instance,
            partition_key=request.partition_key,
            tags=request.tags,
            resources=self.resources,
            raise_on_error=raise_on_error,
        )

    def run_all(self, requests: Sequence[dg.RunRequest]) -> list[dg.ExecuteInProcessResult]:
        return [self.run(r) for r in requests]

    def sync(self) -> list[dg.ExecuteInProcessResult]:
        """One catalog tick and the runs it asked for, one sync tick and the runs it asked for."""
        results = self.run_all(self.tick_catalog().run_requests or [])
        return results + self.run_all(self.tick_sync().run_requests or [])

    def get(self, url: str) -> httpx.Response:
        return httpx.get(url, timeout=10)


@contextmanager
def make_world(
    tmp_path: Path,
    *,
    configured: bool = True,
    faults: bool = False,
    catalog: Path = SAMPLE_CATALOG,
) -> Iterator[World]:
    """The sample catalog (or `catalog`) copied under tmp_path, a local Microcks (Keycloak-style
    auth on), a SQLite status store and a temporary Dagster instance. Microcks serves gRPC mocks
    on a port of their own (given as MICROCKS_GRPC_ENDPOINT) and publishes event examples every
    0.2 s (on the WebSocket endpoint it advertises), so every kind's check answers at once."""
    catalog_dir = tmp_path / "catalog"
    shutil.copytree(catalog, catalog_dir)
    config = ServerConfig(
        default_client_secret=CLIENT_SECRET,
        faults_enabled=faults,
        grpc_port=0,
        async_frequency_override_seconds=0.2,
    )
    with _running_server(config) as server, dg.instance_for_test() as instance:
        grpc_endpoint = f"127.0.0.1:{server.grpc_port}" if server.grpc_port else ""
        microcks = (
            MicrocksResource(
                base_url=server.base_url,
                client_id=DEFAULT_CLIENT_ID,
                client_secret=CLIENT_SECRET,
                grpc_endpoint=grpc_endpoint,
            )
            if configured
            else MicrocksResource()
        )
        world = World(
            catalog_dir=catalog_dir,
            db_url=f"sqlite:///{tmp_path / 'status.db'}",
            server=server,
            instance=instance,
            microcks=microcks,
        )
        try:
            yield world
        finally:
            world.store.dispose()


def services(world: World) -> dict[str, str]:
    """`name:version` → id of every service in the local Microcks, read over its HTTP API."""
    with world.microcks.client() as client:
        return {f"{s['name']}:{s['version']}": s["id"] for s in client.list_services()}


def materializations(world: World, asset: str = "microcks_services") -> list[dg.EventLogRecord]:
    return list(world.instance.fetch_materializations(dg.AssetKey(asset), limit=1000).records)


def metadata_of(result: dg.ExecuteInProcessResult) -> dict[str, object]:
    """Metadata values of the run's microcks_services materialization (or the delete op output)."""
    for event in result.get_asset_materialization_events():
        if event.asset_key == dg.AssetKey("microcks_services"):
            return {k: v.value for k, v in event.materialization.metadata.items()}
    raise AssertionError("no microcks_services materialization in the run")


def request_for(requests: Sequence[dg.RunRequest], entity_ref: str) -> dg.RunRequest:
    (found,) = [r for r in requests if r.tags.get("microcks/entity") == entity_ref]
    return found


BROKEN_LINE = '      includeInSwagger: "yes"'


def break_petstore_fallback(world: World) -> tuple[Path, int]:
    """Give petstore's `fallback` mock entry an invalid field; (its microcks.yaml, the line)."""
    config = world.catalog_dir / "petstore/microcks.yaml"
    text = config.read_text()
    assert "    - mockId: fallback\n" in text
    config.write_text(
        text.replace("    - mockId: fallback\n", f"    - mockId: fallback\n{BROKEN_LINE}\n")
    )
    return config, config.read_text().splitlines().index(BROKEN_LINE) + 1
