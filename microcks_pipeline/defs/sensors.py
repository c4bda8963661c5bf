"""Sensors: the catalog sensor records what should change; the sync sensor launches the runs.

One exception, for speed: a mass change goes to batch runs in the very tick that recorded it.
The daemon evaluates sensors every 5 s in random order, so waiting for the sync sensor would
add 0-5 s to an initial sync; the catalog sensor asks for the same batches the sync sensor
would (same gate, same plan), and the sync sensor skips entities of queued or running batches.
"""

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import dagster as dg

from microcks_pipeline.defs.jobs import delete_entity_mocks, sync_batch_job, sync_entity_job
from microcks_pipeline.defs.partitions import (
    add_entity_partitions,
    entity_partitions,
    partition_key,
    remove_entity_partitions,
)
from microcks_pipeline.defs.resources import CatalogResource, MicrocksResource, StatusStoreResource
from microcks_pipeline.defs.run_requests import BATCH_JOB, BATCH_OP, plan_runs, removals_only
from microcks_pipeline.defs.settings import Settings
from microcks_pipeline.errors import PipelineError
from microcks_pipeline.model import GlobalBackoff, StatusRow
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


def _catalog_summary(result: ProcessResult, added: int, runs: int) -> str:
    if not result.rows_written and not added:
        text = f"catalog unchanged: {len(result.entity_refs)} entities, nothing to do"
    else:
        text = (
            f"{len(result.entity_refs)} entities: {result.rows_written} status row(s) changed, "
            f"{result.events_written} event(s), {added} new partition(s); "
            + (f"{runs} batch run(s) requested" if runs else "the sync sensor launches the work")
        )
    if result.load_failures:
        text += "; load failed: " + "; ".join(result.load_failures)
    if not result.complete:
        text += "; listing incomplete, deletions held back: " + "; ".join(result.problems)
    return text


@dg.sensor(
    jobs=[sync_batch_job],
    minimum_interval_seconds=SETTINGS.catalog_interval,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Reads the catalog and microcks.yaml files into the status table; never calls "
    "Microcks. Adds a partition per new entity; hands a mass change straight to batch runs.",
)
def catalog_sensor(
    context: dg.SensorEvaluationContext,
    catalog: CatalogResource,
    microcks: MicrocksResource,
    status_store: StatusStoreResource,
) -> dg.SensorResult:
    try:
        source, reader, cache = catalog.scanner()
        store = status_store.store()
        on_invalid = Settings.from_env().on_invalid  # read per tick, like the batch tuning
        result = process_catalog(source, reader, store, cache=cache, on_invalid=on_invalid)
        if not result.listing_ok:
            return dg.SensorResult(
                skip_reason="catalog listing failed, nothing changed: " + "; ".join(result.problems)
            )
        keys = map(partition_key, result.entity_refs)
        added = add_entity_partitions(context.instance, keys)
        runs = _mass_change_runs(context.instance, microcks, store) if result.rows_written else []
    except PipelineError as exc:  # misconfiguration, status database down: say so, change nothing
        return dg.SensorResult(skip_reason=f"catalog sensor could not run: {exc}")
    summary = _catalog_summary(result, len(added), len(runs))
    if not runs:
        return dg.SensorResult(skip_reason=summary)
    context.log.info(summary)
    return dg.SensorResult(run_requests=runs)


def _mass_change_runs(
    instance: dg.DagsterInstance, microcks: MicrocksResource, store: StatusStore
) -> list[dg.RunRequest]:
    """The batch runs the sync sensor would request now, when enough entities are due for
    batches; nothing when only a few are (the sync sensor takes those) or when it would hold
    back (Microcks unconfigured, global backoff)."""
    now = datetime.now(UTC)
    if microcks.not_configured_reason is not None or _backoff(store, microcks, now) is not None:
        return []
    due = _outside_batches(instance, store.due_entities(now=now))
    tuning = Settings.from_env()
    if len(due) <= tuning.batch_threshold:
        return []
    return _batch_runs(instance, due, tuning, now)


def _batch_runs(
    instance: dg.DagsterInstance,
    due: Mapping[str, Sequence[StatusRow]],
    tuning: Settings,
    now: datetime,
) -> list[dg.RunRequest]:
    """Batch runs for the due entities (none of them in a queued or running batch)."""
    plan = plan_runs(
        due,
        _existing_keys(instance),
        left_catalog=set(),  # a batch handles deletes and reconciles alike
        batch=True,
        batch_size=tuning.batch_size,
        batch_runs=tuning.batch_runs,
        now=now,
    )
    add_entity_partitions(instance, plan.partitions_to_add)
    return list(plan.run_requests)


def _outside_batches(
    instance: dg.DagsterInstance, due: Mapping[str, Sequence[StatusRow]]
) -> dict[str, Sequence[StatusRow]]:
    """The due entities that no queued or running batch run will handle: never hand those to
    a second run (a second run would only find nothing to claim, or race the batch for it)."""
    busy: set[str] = set()
    runs = instance.get_runs(filters=dg.RunsFilter(job_name=BATCH_JOB, statuses=_IN_FLIGHT))
    for run in runs:
        config = (run.run_config or {}).get("ops", {}).get(BATCH_OP, {}).get("config", {})
        busy.update(config.get("entity_refs", []))
    return {ref: rows for ref, rows in due.items() if ref not in busy}


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


def _backoff(store: StatusStore, microcks: MicrocksResource, now: datetime) -> GlobalBackoff | None:
    """The global backoff in force; an auth backoff ends at once when the credentials changed
    since they were refused (their sha256 fingerprints differ)."""
    backoff = store.global_backoff(now=now)
    if backoff is None or backoff.kind != "auth":
        return backoff
    if backoff.credentials == microcks.credentials_fingerprint:
        return backoff
    store.clear_global_backoff()
    return None


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
    removed = _removals(store, _existing_keys(instance))
    remove_entity_partitions(instance, removed)
    cleanup = f"; removed {len(removed)} partition(s) of deleted entities" if removed else ""
    due = store.due_entities(now=now)

    reason = microcks.not_configured_reason
    if reason is not None:
        return dg.SensorResult(skip_reason=f"{reason}; {len(due)} entities waiting{cleanup}")
    backoff = _backoff(store, microcks, now)
    if backoff is not None:
        return dg.SensorResult(
            skip_reason=(
                f"Microcks global backoff until {_aware(backoff.until):%Y-%m-%d %H:%M:%S} UTC "
                f"({len(due)} entities waiting): {backoff.reason}{cleanup}"
            )
        )
    if not due:
        return dg.SensorResult(skip_reason=f"nothing due{cleanup}")
    # Entities of a queued or running batch wait for it, also the last few it has not reached.
    due = _outside_batches(instance, due)
    if not due:
        return dg.SensorResult(skip_reason=f"due entities are all in running batches{cleanup}")

    tuning = Settings.from_env()  # read per tick: batching can be retuned without a reload
    if len(due) > tuning.batch_threshold:
        requests = _batch_runs(instance, due, tuning, now)
    else:
        left = {
            ref
            for ref, rows in due.items()
            if removals_only(rows) and removals_only(store.rows(ref))
        }
        plan = plan_runs(
            due, _existing_keys(instance), left_catalog=left, batch=False, batch_size=1, now=now
        )
        add_entity_partitions(instance, plan.partitions_to_add)
        requests = list(plan.run_requests)
    return dg.SensorResult(run_requests=requests)
