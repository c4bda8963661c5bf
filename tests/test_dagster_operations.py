"""Operator-facing pieces: desired-state metadata, the status report, the asset check failing,
the drift audit and retention jobs, the schedules, and secrets kept out of run history."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster_fixtures import CLIENT_SECRET, MANAGED, World, make_world, services

from microcks_pipeline.core.identity import service_version
from microcks_pipeline.definitions import defs
from microcks_pipeline.defs.assets import sync_status_report
from microcks_pipeline.defs.checks import mocks_answer_examples
from microcks_pipeline.defs.partitions import partition_key
from microcks_pipeline.defs.resources import MicrocksResource
from microcks_pipeline.localserver import DEFAULT_CLIENT_ID
from microcks_pipeline.store.rows import Event

PETSTORE = "api:default/petstore"
ORDERS = "api:default/orders-api"
CHECK = dg.AssetCheckKey(dg.AssetKey("microcks_services"), "mocks_answer_examples")


@pytest.fixture
def synced(tmp_path: Path) -> Iterator[World]:
    with make_world(tmp_path) as world:
        assert all(r.success for r in world.sync())
        yield world


def run_check(world: World, ref: str) -> dg.AssetCheckEvaluation:
    job = defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_check_selection={CHECK}, asset_selection=set()
    )
    result = job.execute_in_process(
        instance=world.instance, partition_key=partition_key(ref), resources=world.resources
    )
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation


def run_job(world: World, name: str, run_config: dict | None = None) -> dg.ExecuteInProcessResult:
    return defs.resolve_job_def(name).execute_in_process(
        run_config=run_config, instance=world.instance, resources=world.resources
    )


def output_metadata(result: dg.ExecuteInProcessResult, op: str) -> dict[str, object]:
    (event,) = [e for e in result.all_node_events if e.is_successful_output and e.node_name == op]
    return {k: v.value for k, v in event.step_output_data.metadata.items()}


def test_desired_mocks_shows_mock_ids_fingerprints_and_artifact_hashes(synced: World) -> None:
    records = synced.instance.fetch_materializations(
        dg.AssetRecordsFilter(
            dg.AssetKey("desired_mocks"), asset_partitions=[partition_key(PETSTORE)]
        ),
        limit=1,
    ).records
    meta = {k: v.value for k, v in records[0].asset_materialization.metadata.items()}

    assert meta["mock_ids"] == ["default", "fallback"]
    assert set(meta["fingerprints"]) == {"default", "fallback"}
    assert "mocks/default/petstore-examples.yaml" in meta["artifacts"]
    assert meta["in_catalog"] is True


def test_the_check_fails_when_a_service_disappears_behind_our_back(synced: World) -> None:
    assert run_check(synced, PETSTORE).passed
    with synced.microcks.client() as client:
        client.delete_service(services(synced)[f"petstore:{service_version(PETSTORE, 'default')}"])

    evaluation = run_check(synced, PETSTORE)

    assert not evaluation.passed
    assert "missing in Microcks" in evaluation.metadata["results"].value["default"]
    assert evaluation.metadata["failing"].value == 1


def test_the_check_is_evaluated_per_entity_partition_and_a_failure_stays_in_its_own(
    synced: World,
) -> None:
    with synced.microcks.client() as client:
        client.delete_service(services(synced)[f"petstore:{service_version(PETSTORE, 'default')}"])

    pet = run_check(synced, PETSTORE)
    orders = run_check(synced, ORDERS)

    assert (pet.partition, pet.passed) == (partition_key(PETSTORE), False)
    assert (orders.partition, orders.passed) == (partition_key(ORDERS), True)
    latest = synced.instance.event_log_storage.get_asset_check_execution_history(CHECK, limit=10)
    assert {r.event.asset_check_evaluation.partition for r in latest if r.event} >= {
        partition_key(PETSTORE),
        partition_key(ORDERS),
    }


def test_the_check_runs_in_the_microcks_pool_like_its_asset() -> None:
    asset = defs.resolve_assets_def(CHECK.asset_key)
    assert mocks_answer_examples.partitions_def == asset.partitions_def
    assert mocks_answer_examples.node_def.pool == "microcks_api" == asset.node_def.pool


def test_the_status_report_tables_every_row_with_counts_per_status(synced: World) -> None:
    result = dg.materialize(
        [sync_status_report],
        instance=synced.instance,
        resources=synced.resources,
    )

    (event,) = result.get_asset_materialization_events()
    meta = event.materialization.metadata
    rows = synced.store.rows()
    assert meta["rows"].value == len(rows)
    assert meta["entities"].value == len(MANAGED)
    assert meta["count/completed"].value == len(rows)
    assert meta["count/pending"].value == 0
    table = meta["status"].value
    assert len(table.records) == len(rows)
    assert {r.data["entity"] for r in table.records} == MANAGED


def test_the_status_report_puts_rows_needing_attention_first(synced: World) -> None:
    (synced.catalog_dir / "petstore/mocks/default/petstore-examples.yaml").unlink()
    synced.sync()  # the petstore default mock is now a permanent error

    result = dg.materialize(
        [sync_status_report],
        instance=synced.instance,
        resources=synced.resources,
    )

    meta = result.get_asset_materialization_events()[0].materialization.metadata
    first = meta["status"].value.records[0].data
    assert (first["entity"], first["mock"], first["status"]) == (
        PETSTORE,
        "default",
        "error",
    )
    assert meta["count/error"].value == 1


def test_the_drift_audit_requeues_a_service_deleted_in_microcks(synced: World) -> None:
    with synced.microcks.client() as client:
        client.delete_service(services(synced)[f"petstore:{service_version(PETSTORE, 'default')}"])

    result = run_job(synced, "drift_audit_job")

    meta = output_metadata(result, "audit_microcks")
    assert meta["requeued"] == 1
    assert meta["scanned"] == len(services(synced))
    assert [r.tags["microcks/entity"] for r in synced.tick_sync().run_requests] == [PETSTORE]


def test_event_retention_prunes_only_old_events(synced: World) -> None:
    old = datetime.now(UTC) - timedelta(days=40)
    synced.store.append_events([Event(PETSTORE, "reconcile_started", "info", "old")], now=old)
    before = len(synced.store.events(limit=10_000))

    result = run_job(
        synced, "prune_events_job", {"ops": {"prune_events": {"config": {"days": 30}}}}
    )

    assert output_metadata(result, "prune_events")["events_removed"] == 1
    assert len(synced.store.events(limit=10_000)) == before - 1


def test_the_audit_schedule_skips_without_microcks_and_retention_always_runs(
    tmp_path: Path,
) -> None:
    with make_world(tmp_path, configured=False) as world:
        context = dg.build_schedule_context(instance=world.instance, resources=world.resources)

        audit = defs.resolve_schedule_def("drift_audit_schedule")(context)
        retention = defs.resolve_schedule_def("event_retention_schedule")(context)

    assert isinstance(audit, dg.SkipReason) and "MICROCKS_URL" in audit.skip_message
    assert isinstance(retention, dg.RunRequest)
    assert retention.run_config["ops"]["prune_events"]["config"]["days"] >= 1


def test_no_secret_reaches_run_history_metadata_or_events(synced: World) -> None:
    # Also leave a failed run in the history: Microcks refusing our client (wrong secret).
    wrong = synced.using(
        microcks=MicrocksResource(
            base_url=synced.server.base_url,
            client_id=DEFAULT_CLIENT_ID,
            client_secret=CLIENT_SECRET + "-wrong",
        )
    )
    examples = synced.catalog_dir / "petstore/mocks/default/petstore-examples.yaml"
    examples.write_text(examples.read_text().replace("Spike", "Spiky"))
    wrong.tick_catalog()
    failed = wrong.run(wrong.tick_sync().run_requests[0])
    failure = failed.failure_data_for_node("microcks_services").user_failure_data
    assert "refused our credentials" in failure.description

    logs = [
        entry
        for run in synced.instance.get_runs()
        for entry in synced.instance.all_logs(run.run_id)
    ]

    kinds = {e.dagster_event.event_type_value for e in logs if e.dagster_event}
    assert {"ASSET_MATERIALIZATION", "STEP_FAILURE", "ASSET_CHECK_EVALUATION"} <= kinds
    assert not [e for e in logs if CLIENT_SECRET in repr(e)]
    assert not [e for e in synced.store.events(limit=10_000) if CLIENT_SECRET in repr(e)]
    assert CLIENT_SECRET not in repr(synced.store.rows())
