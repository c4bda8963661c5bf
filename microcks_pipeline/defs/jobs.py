"""Jobs: one entity's sync, an entity's deletion, a batch of entities, audit and retention."""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import dagster as dg

from microcks_pipeline.defs.assets import MICROCKS_POOL, desired_mocks, microcks_services
from microcks_pipeline.defs.outcome import failure_message
from microcks_pipeline.defs.partitions import partition_key
from microcks_pipeline.defs.resources import CatalogResource, MicrocksResource, StatusStoreResource
from microcks_pipeline.defs.runner import (
    MicrocksDown,
    claim_or_fail,
    entity_report,
    heartbeat,
    keep_event_log_connection,
    require_microcks,
    sync_or_fail,
    sync_step,
)
from microcks_pipeline.defs.settings import Settings
from microcks_pipeline.defs.tags import is_forced
from microcks_pipeline.store import Claim
from microcks_pipeline.sync.audit import run_audit

# Entities a batch run claims in one transaction, ahead of syncing them: a claim per entity
# cost a batch about a tenth of its time (bench/scale_10k.py), and 50 keeps what an early stop
# gives back small.
CLAIM_AHEAD = 50
NOT_CLAIMED = Claim([], [])

# In-process: a step worker process costs 1-2 s per run (reference/dagster-throughput.md §2).
sync_entity_job = dg.define_asset_job(
    "sync_entity_job",
    selection=[desired_mocks, microcks_services],
    executor_def=dg.in_process_executor,
    description="Reconcile one entity (partition) with Microcks.",
)


class EntityConfig(dg.Config):
    entity_ref: str


class BatchConfig(dg.Config):
    entity_refs: list[str]


@dg.op(pool=MICROCKS_POOL)
def delete_entity_services(
    context: dg.OpExecutionContext,
    config: EntityConfig,
    catalog: CatalogResource,
    microcks: MicrocksResource,
    status_store: StatusStoreResource,
) -> dg.Output[None]:
    """Delete every service of an entity that left the catalog (its rows are delete rows)."""
    metadata = sync_step(
        context,
        config.entity_ref,
        catalog=catalog,
        microcks=microcks,
        status_store=status_store,
    )
    return dg.Output(None, metadata=metadata)


@dg.job(executor_def=dg.in_process_executor, description="Delete the mocks of a removed entity.")
def delete_entity_mocks() -> None:
    delete_entity_services()


def _claimed_ahead(
    refs: list[str], claim: Callable[[int, list[str]], dict[str, Claim]]
) -> Iterator[tuple[int, str, Claim]]:
    """(position, ref, its claim) for each entity of a batch, claiming CLAIM_AHEAD at a time
    (`claim(position of the first, refs)`)."""
    for start in range(0, len(refs), CLAIM_AHEAD):
        chunk = refs[start : start + CLAIM_AHEAD]
        claims = claim(start, chunk)
        for done, ref in enumerate(chunk, start):
            yield done, ref, claims.get(ref, NOT_CLAIMED)


@dg.op(pool=MICROCKS_POOL)
def sync_entities(
    context: dg.OpExecutionContext,
    config: BatchConfig,
    catalog: CatalogResource,
    microcks: MicrocksResource,
    status_store: StatusStoreResource,
) -> Iterator[dg.AssetMaterialization | dg.AssetObservation | dg.Output[None]]:
    """Sync many entities in one step, reporting a microcks_services materialization for each.

    The entities' rows are claimed CLAIM_AHEAD entities at a time, in one transaction each
    (claims held by the step's heartbeat); when the batch stops early, the claimed rows it did
    not reach are given back untouched."""
    require_microcks(microcks)
    keep_event_log_connection(context.instance)  # one materialization per entity follows
    store = status_store.store()
    owner = context.run.run_id
    force = is_forced(context.run.tags)
    refs = list(config.entity_refs)
    failed: list[str] = []
    ahead: dict[str, Claim] = {}

    def claim(start: int, chunk: list[str]) -> dict[str, Claim]:
        ahead.clear()
        try:
            ahead.update(
                claim_or_fail(
                    chunk,
                    store=store,
                    owner=owner,
                    force=force,
                    credentials=microcks.credentials_fingerprint,
                )
            )
        except MicrocksDown as exc:  # a global backoff began: nothing of the chunk was claimed
            raise stop(exc, start) from None
        return ahead

    def stop(exc: dg.Failure, first: int) -> MicrocksDown:
        # Every later entity would fail the same way: from `first` on, they stay due for a
        # later run, and what was claimed of them goes back untouched.
        unstarted = set(refs[first:])
        rows = [row.id for ref, c in ahead.items() if ref in unstarted for row in c.claimed]
        left = len(refs) - first
        store.release_unstarted(
            rows, owner, f"not synced: the batch run stopped: {exc.description}"
        )
        return MicrocksDown(description=f"{exc.description} ({left} entities left for a later run)")

    with (
        heartbeat(context, store),
        catalog.open() as (source, reader),
        microcks.client(store) as client,
    ):
        source.expect(refs)  # a file catalog then parses only the files defining them
        for done, ref, claimed in _claimed_ahead(refs, claim):
            try:
                result = sync_or_fail(
                    ref,
                    source=source,
                    reader=reader,
                    store=store,
                    client=client,
                    owner=owner,
                    force=force,
                    credentials=microcks.credentials_fingerprint,
                    claim=claimed,
                )
            except MicrocksDown as exc:
                raise stop(exc, done) from None
            except dg.Failure as exc:
                failed.append(str(exc.description))
                context.log.warning(str(exc.description))
                continue
            if result.paused_everything:
                # Several entities met Microcks errors: the rest wait for the global backoff.
                paused = dg.Failure(
                    description=f"{failure_message(result)}; syncing paused by a global backoff"
                )
                raise stop(paused, done + 1)
            # Nothing claimed: a duplicate batch, or another run got there first.
            if not result.claimed or result.entity_removed:
                continue
            metadata, failure = entity_report(result, store, client)
            event = dg.AssetMaterialization if failure is None else dg.AssetObservation
            yield event(
                asset_key=microcks_services.key, partition=partition_key(ref), metadata=metadata
            )
            if failure is not None:
                failed.append(failure)
                context.log.warning(failure)
    if failed:
        raise dg.Failure(
            description=f"{len(failed)} of {len(config.entity_refs)} entities failed",
            metadata={"failures": dg.MetadataValue.json(failed)},
        )
    yield dg.Output(None)


@dg.job(
    executor_def=dg.in_process_executor,
    description="Sync many entities in one run (initial sync, mass changes).",
)
def sync_batch_job() -> None:
    sync_entities()


@dg.op(pool=MICROCKS_POOL)
def audit_microcks(
    microcks: MicrocksResource, status_store: StatusStoreResource
) -> dg.Output[None]:
    """Full scan of Microcks: re-queue drifted services, delete orphans we own."""
    require_microcks(microcks)
    store = status_store.store()
    with microcks.client(store) as client:
        result = run_audit(client, store)
    return dg.Output(
        None,
        metadata={
            "scanned": result.scanned,
            "requeued": len(result.requeued),
            "orphans_deleted": len(result.orphans_deleted),
            "versions_requeued": dg.MetadataValue.json(list(result.requeued)),
            "versions_deleted": dg.MetadataValue.json(list(result.orphans_deleted)),
        },
    )


@dg.job(description="Drift audit: compare every service we own in Microcks with the status table.")
def drift_audit_job() -> None:
    audit_microcks()


class RetentionConfig(dg.Config):
    days: int = Settings().retention_days


@dg.op
def prune_events(config: RetentionConfig, status_store: StatusStoreResource) -> dg.Output[None]:
    """Drop events older than the retention period."""
    cutoff = datetime.now(UTC) - timedelta(days=config.days)
    removed = status_store.store().prune_events(older_than=cutoff)
    return dg.Output(None, metadata={"events_removed": int(removed or 0), "cutoff": str(cutoff)})


@dg.job(description="Event retention: prune old rows of the events table.")
def prune_events_job() -> None:
    prune_events()


status_report_job = dg.define_asset_job(
    "status_report_job", selection=["sync_status_report"], description="Refresh the status report."
)
