"""Sensors: the catalog sensor records what should change; the sync sensor launches the runs."""

from datetime import UTC, datetime

import dagster as dg

from microcks_pipeline.defs.jobs import delete_entity_mocks, sync_batch_job, sync_entity_job
from microcks_pipeline.defs.partitions import entity_partitions, partition_key
from microcks_pipeline.defs.resources import CatalogResource, MicrocksResource, StatusStoreResource
from microcks_pipeline.defs.run_requests import (
    BATCH_JOB,
    BATCH_OP,
    add_partitions_request,
    delete_partitions_request,
    deletes_only,
    plan_runs,
)
from microcks_pipeline.defs.settings import Settings
from microcks_pipeline.errors import PipelineError
from microcks_pipeline.processor import ProcessResult, process_catalog
from microcks_pipeline.store import StatusStore
from microcks_pipeline.worker import removable_entities

SETTINGS = Settings.from_env()
_IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def _existing_keys(instance: dg.DagsterInstance) -> set[str]:
    return set(instance.get_dynamic_partitions(entity_partitions.name))


def _catalog_summary(result: ProcessResult, added: int) -> str:
    if not result.rows_written and not added:
        text = f"catalog unchanged: {len(result.entity_refs)} entities, nothing to do"
    else:
        text = (
            f"{len(result.entity_refs)} entities: {result.rows_written} status row(s) changed, "
            f"{result.events_written} event(s), {added} new partition(s); "
            "the sync sensor launches the work"
        )
    if not result.complete:
        text += "; listing incomplete, deletions held back: " + "; ".join(result.problems)
    return text


@dg.sensor(
    minimum_interval_seconds=SETTINGS.catalog_interval,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Reads the catalog and microcks.yaml files into the status table; never calls "
    "Microcks. Adds a partition per new entity.",
)
def catalog_sensor(
    context: dg.SensorEvaluationContext,
    catalog: CatalogResource,
    status_store: StatusStoreResource,
) -> dg.SensorResult:
    try:
        source, reader, cache = catalog.scanner()
        result = process_catalog(source, reader, status_store.store(), cache=cache)
    except PipelineError as exc:  # misconfiguration, status database down: say so, change nothing
        return dg.SensorResult(skip_reason=f"catalog sensor could not run: {exc}")
    if not result.listing_ok:
        return dg.SensorResult(
            skip_reason="catalog listing failed, nothing changed: " + "; ".join(result.problems)
        )
    existing = _existing_keys(context.instance)
    new_keys = list(
        dict.fromkeys(k for k in map(partition_key, result.entity_refs) if k not in existing)
    )
    return dg.SensorResult(
        dynamic_partitions_requests=add_partitions_request(new_keys),
        skip_reason=_catalog_summary(result, len(new_keys)),
    )


def _in_flight_batch_refs(instance: dg.DagsterInstance) -> set[str]:
    """Entities a queued or running batch run will handle: never hand them to a second batch."""
    refs: set[str] = set()
    runs = instance.get_runs(filters=dg.RunsFilter(job_name=BATCH_JOB, statuses=_IN_FLIGHT))
    for run in runs:
        config = (run.run_config or {}).get("ops", {}).get(BATCH_OP, {}).get("config", {})
        refs.update(config.get("entity_refs", []))
    return refs


def _removals(store: StatusStore, existing: set[str]) -> list[str]:
    """Partitions of entities whose delete finished; entities already without one are forgotten.

    Two steps on purpose: the partition goes first (this tick), the rows on a later tick, so a
    crash in between never leaves a partition nothing would remove.
    """
    keys = []
    for ref in removable_entities(store):
        key = partition_key(ref)
        if key in existing:
            keys.append(key)
        else:
            store.forget_entity(ref)
    return keys


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


@dg.sensor(
    jobs=[sync_entity_job, sync_batch_job, delete_entity_mocks],
    minimum_interval_seconds=SETTINGS.sync_interval,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Launches a run per entity with due work (batches when many are due), unless "
    "Microcks is unconfigured or in a global backoff; removes finished entities' partitions.",
)
def sync_sensor(
    context: dg.SensorEvaluationContext,
    microcks: MicrocksResource,
    status_store: StatusStoreResource,
) -> dg.SensorResult:
    try:
        return _sync_tick(context.instance, microcks, status_store.store())
    except PipelineError as exc:  # the status database is down or not migrated
        return dg.SensorResult(skip_reason=f"sync sensor could not run: {exc}")


def _sync_tick(
    instance: dg.DagsterInstance, microcks: MicrocksResource, store: StatusStore
) -> dg.SensorResult:
    now = datetime.now(UTC)
    existing = _existing_keys(instance)
    removals = delete_partitions_request(_removals(store, existing))
    due = store.due_entities(now=now)

    reason = microcks.not_configured_reason
    if reason is not None:
        return dg.SensorResult(
            skip_reason=f"{reason}; {len(due)} entities waiting",
            dynamic_partitions_requests=removals,
        )
    backoff = store.global_backoff(now=now)
    if backoff is not None:
        return dg.SensorResult(
            skip_reason=(
                f"Microcks global backoff until {_aware(backoff.until):%Y-%m-%d %H:%M:%S} UTC "
                f"({len(due)} entities waiting): {backoff.reason}"
            ),
            dynamic_partitions_requests=removals,
        )
    if not due:
        return dg.SensorResult(skip_reason="nothing due", dynamic_partitions_requests=removals)

    tuning = Settings.from_env()  # read per tick: batching can be retuned without a reload
    many = len(due) > tuning.batch_threshold
    if many:
        busy = _in_flight_batch_refs(instance)
        due = {ref: rows for ref, rows in due.items() if ref not in busy}
        left: set[str] = set()  # a batch handles deletes and reconciles alike
    else:
        left = {
            ref for ref, rows in due.items() if deletes_only(rows) and deletes_only(store.rows(ref))
        }
    plan = plan_runs(
        due,
        existing,
        left_catalog=left,
        batch=many,
        batch_size=tuning.batch_size,
        batch_runs=tuning.batch_runs,
        now=now,
    )
    requests = [*add_partitions_request(plan.partitions_to_add), *removals]
    if not plan.run_requests:
        return dg.SensorResult(
            skip_reason="due entities are all in running batches",
            dynamic_partitions_requests=requests,
        )
    return dg.SensorResult(
        run_requests=list(plan.run_requests), dynamic_partitions_requests=requests
    )
