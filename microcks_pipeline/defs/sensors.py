"""Sensors: the catalog sensor records what should change; the sync sensor launches the runs.

One exception, for speed: a change goes to its runs in the very tick that recorded it (batches
for a mass change, a run per entity for a few). The daemon evaluates sensors every 5 s in random
order, so waiting for the sync sensor would add 0-5 s to every edit; the catalog sensor asks for
the same runs the sync sensor would (same gate, same plan, still no Microcks call), and the sync
sensor skips entities that a queued or running run already covers. The sync sensor keeps
retries, backoffs and whatever the catalog sensor could not hand over.
"""

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import dagster as dg

from microcks_pipeline.core.errors import PipelineError
from microcks_pipeline.core.model import GlobalBackoff, StatusRow
from microcks_pipeline.defs.jobs import delete_entity_mocks, sync_batch_job, sync_entity_job
from microcks_pipeline.defs.partitions import (
    add_entity_partitions,
    entity_partitions,
    partition_key,
    remove_entity_partitions,
)
from microcks_pipeline.defs.resources import CatalogResource, MicrocksResource, StatusStoreResource
from microcks_pipeline.defs.run_requests import plan_runs, run_entities
from microcks_pipeline.defs.settings import Settings
from microcks_pipeline.defs.zombies import fail_zombie_runs
from microcks_pipeline.store import StatusStore
from microcks_pipeline.sync.processor import process_catalog
from microcks_pipeline.sync.run_choice import removals_only
from microcks_pipeline.sync.tick_messages import (
    catalog_message,
    errors_named,
    retries_named,
    row_errors,
    runs_message,
)
from microcks_pipeline.sync.worker import removable_entities

SETTINGS = Settings.from_env()
_IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def _existing_keys(instance: dg.DagsterInstance) -> set[str]:
    return set(instance.get_dynamic_partitions(entity_partitions.name))


@dg.sensor(
    jobs=[sync_entity_job, sync_batch_job, delete_entity_mocks],
    minimum_interval_seconds=SETTINGS.catalog_interval,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Reads the catalog and microcks.yaml files into the status table; never calls "
    "Microcks. Adds a partition per new entity; requests the runs of a change in the same tick.",
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
        tuning = Settings.from_env()  # read per tick, like the batch tuning
        result = process_catalog(
            source,
            reader,
            store,
            cache=cache,
            on_invalid=tuning.on_invalid,
            load_seconds=tuning.catalog_load_seconds,
        )
        if not result.listing_ok:
            return dg.SensorResult(
                skip_reason="catalog listing failed, nothing changed: " + "; ".join(result.problems)
            )
        keys = map(partition_key, result.entity_refs)
        added = add_entity_partitions(context.instance, keys)
        runs, held = (
            _change_runs(context.instance, microcks, store) if result.rows_written else ([], None)
        )
    except PipelineError as exc:  # misconfiguration, status database down: say so, change nothing
        return dg.SensorResult(skip_reason=f"catalog sensor could not run: {exc}")
    summary = catalog_message(result, len(added), len(runs), held)
    if not runs:
        return dg.SensorResult(skip_reason=summary)
    context.log.info(summary)
    return dg.SensorResult(run_requests=runs)


def _held_back(microcks: MicrocksResource, store: StatusStore, now: datetime) -> str | None:
    """Why no run may go now (Microcks unconfigured, a global backoff), or None."""
    reason = microcks.not_configured_reason
    if reason is not None:
        return reason
    backoff = _backoff(store, microcks, now)
    if backoff is not None:
        until = _aware(backoff.until)
        return f"Microcks global backoff until {until:%Y-%m-%d %H:%M:%S} UTC: {backoff.reason}"
    return None


def _change_runs(
    instance: dg.DagsterInstance, microcks: MicrocksResource, store: StatusStore
) -> tuple[list[dg.RunRequest], str | None]:
    """The runs the sync sensor would request now for the due entities, with why none may go
    (the sync sensor's gate) when it holds them back."""
    now = datetime.now(UTC)
    held = _held_back(microcks, store, now)
    if held is not None:
        return [], held
    due, now = _due_outside_runs(instance, store, store.due_entity_refs(now=now))
    return _due_runs(instance, store, due, now), None


def _due_runs(
    instance: dg.DagsterInstance,
    store: StatusStore,
    due: Mapping[str, Sequence[StatusRow]],
    now: datetime,
) -> list[dg.RunRequest]:
    """Batches when many entities are due, else a run per entity (the delete job for those
    that left the catalog)."""
    tuning = Settings.from_env()  # read per tick: batching can be retuned without a reload
    if len(due) > tuning.batch_threshold:
        return _batch_runs(instance, due, tuning, now)
    left = {
        ref for ref, rows in due.items() if removals_only(rows) and removals_only(store.rows(ref))
    }
    plan = plan_runs(
        due, _existing_keys(instance), left_catalog=left, batch=False, batch_size=1, now=now
    )
    add_entity_partitions(instance, plan.partitions_to_add)
    return list(plan.run_requests)


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


def _outside_runs(
    instance: dg.DagsterInstance, store: StatusStore, due: Sequence[str]
) -> list[str]:
    """The due entities that no queued or running run will handle: never hand those to a second
    run (it would only find nothing to claim, or race the first for it). Run keys cannot do
    this: Dagster scopes them to the sensor, and both sensors request these runs. A zombie run
    (started, silent for the lease time) covers nothing: it is marked failed here."""
    records = instance.get_run_records(filters=dg.RunsFilter(statuses=_IN_FLIGHT))
    dead = fail_zombie_runs(instance, records, store)
    busy: set[str] = set()
    for record in records:
        if record.dagster_run.run_id not in dead:
            busy.update(run_entities(record.dagster_run))
    return [ref for ref in due if ref not in busy]


def _due_outside_runs(
    instance: dg.DagsterInstance, store: StatusStore, waiting: Sequence[str]
) -> tuple[dict[str, list[StatusRow]], datetime]:
    """The due rows of the `waiting` entities that `_outside_runs` leaves, and the time they were
    read at: after its zombie check, since a zombie's rows, given back there, are due from then."""
    outside = _outside_runs(instance, store, waiting)
    now = datetime.now(UTC)
    return store.due_entities(now=now, refs=outside), now


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
        return _sync_tick(context, microcks, status_store.store())
    except PipelineError as exc:  # the status database is down or not migrated
        return dg.SensorResult(skip_reason=f"sync sensor could not run: {exc}")


def _sync_tick(
    context: dg.SensorEvaluationContext, microcks: MicrocksResource, store: StatusStore
) -> dg.SensorResult:
    instance, now = context.instance, datetime.now(UTC)
    removed = _removals(store, _existing_keys(instance))
    remove_entity_partitions(instance, removed)
    cleanup = f"; removed {len(removed)} partition(s) of deleted entities" if removed else ""
    # Only their refs first: while a large sync runs, every due entity is usually in a run.
    waiting = store.due_entity_refs(now=now)

    held = _held_back(microcks, store, now)
    if held is not None:
        return dg.SensorResult(skip_reason=f"{held} ({len(waiting)} entities waiting){cleanup}")
    # Entities of a queued or running run wait for it, also the last few a batch has not reached.
    if not waiting:
        idle = f"nothing due{cleanup}{_retries(store, now)}{_errors(store)}"
        return dg.SensorResult(skip_reason=idle)
    due, now = _due_outside_runs(instance, store, waiting)
    if not due:
        return dg.SensorResult(
            skip_reason=f"{len(waiting)} due entities wait for their queued or running runs"
            f"{cleanup}"
        )
    requests = _due_runs(instance, store, due, now)
    context.log.info(runs_message(due, len(requests)) + cleanup)
    return dg.SensorResult(run_requests=requests)


def _retries(store: StatusStore, now: datetime) -> str:
    """ "; 1 waiting for a retry: api:default/x (default: reason; next try 12:00:05 UTC)"."""
    named = retries_named(store.waiting_for_retry(now=now))
    return f"; {named}" if named else ""


def _errors(store: StatusStore) -> str:
    """ "; 1 in error: api:default/x (default: reason)" while any row is in error, else ""."""
    if not store.counts().get("error"):
        return ""  # the usual case costs one aggregate query, not a read of every row
    return "; " + errors_named(row_errors(store.rows()))
