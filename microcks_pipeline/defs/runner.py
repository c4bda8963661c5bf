"""Run the worker for one entity inside a Dagster step, turning its failures into dg.Failure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dagster as dg

from microcks_pipeline.core.errors import AuthError, PipelineError, TransientError
from microcks_pipeline.defs.outcome import entity_failure, entity_mocks, sync_metadata
from microcks_pipeline.defs.resources import CatalogResource, MicrocksResource, StatusStoreResource
from microcks_pipeline.defs.settings import Settings
from microcks_pipeline.defs.tags import is_forced
from microcks_pipeline.microcks import MicrocksClient
from microcks_pipeline.sources.artifacts import ArtifactReader
from microcks_pipeline.sources.catalog.entity import CatalogSource
from microcks_pipeline.store import Claim, StatusStore
from microcks_pipeline.sync.heartbeat import Heartbeat, LeaseTimes
from microcks_pipeline.sync.probe import answering_urls
from microcks_pipeline.sync.recorder import EntitySyncResult
from microcks_pipeline.sync.worker import claim_ahead, sync_entity

# Dagster's PostgreSQL event log opens a new connection for each event it stores (NullPool; a
# materialization takes two: the event and its asset index), and a batch run stores one per
# entity. The webserver's engine for the same storage keeps a connection (`optimize_for_webserver`,
# a no-op on SQLite); a batch run uses it too. Statement timeout as the webserver's default.
EVENT_LOG_STATEMENT_TIMEOUT_MS = 15_000
EVENT_LOG_POOL_RECYCLE_SECONDS = 3600
EVENT_LOG_POOL_OVERFLOW = 2


def keep_event_log_connection(instance: dg.DagsterInstance) -> None:
    """Reuse one connection for this run process's event writes instead of one per event."""
    instance.event_log_storage.optimize_for_webserver(
        statement_timeout=EVENT_LOG_STATEMENT_TIMEOUT_MS,
        pool_recycle=EVENT_LOG_POOL_RECYCLE_SECONDS,
        max_overflow=EVENT_LOG_POOL_OVERFLOW,
    )


def lease_times() -> LeaseTimes:
    return LeaseTimes(Settings.from_env().lease_seconds)


def heartbeat(context: dg.OpExecutionContext, store: StatusStore) -> Heartbeat:
    """The step's heartbeat: its run's leases stay live while it works, and lapse soon after
    its worker is lost (`sync.heartbeat`)."""
    return Heartbeat(store, context.run.run_id, lease_times())


class MicrocksDown(dg.Failure):
    """Microcks refused us or is unreachable: every other entity would fail the same way."""


def _paused(exc: TransientError) -> MicrocksDown:
    return MicrocksDown(
        description=f"Microcks is unavailable; syncing paused by a global backoff: {exc}"
    )


def sync_or_fail(
    entity_ref: str,
    *,
    source: CatalogSource,
    reader: ArtifactReader,
    store: StatusStore,
    client: MicrocksClient,
    owner: str,
    force: bool,
    credentials: str | None = None,
    claim: Claim | None = None,
) -> EntitySyncResult:
    """sync_entity; any error fails the step with a clear message (MicrocksDown when Microcks-wide:
    the worker already released the rows and set the global backoff)."""
    try:
        return sync_entity(
            entity_ref,
            source=source,
            reader=reader,
            store=store,
            client=client,
            owner=owner,
            force=force,
            credentials=credentials,
            lease_seconds=lease_times().hold,  # renewed by the step's heartbeat
            claim=claim,
        )
    except AuthError as exc:
        raise MicrocksDown(
            description=f"Microcks refused our credentials; syncing paused by a global backoff: {exc}",
            allow_retries=False,
        ) from None
    except TransientError as exc:
        raise _paused(exc) from None
    except PipelineError as exc:
        raise dg.Failure(description=f"sync of {entity_ref} failed: {exc}") from None


def claim_or_fail(
    refs: Sequence[str],
    *,
    store: StatusStore,
    owner: str,
    force: bool,
    credentials: str | None = None,
) -> dict[str, Claim]:
    """claim_ahead; MicrocksDown while a global backoff holds (nothing is claimed then)."""
    try:
        return claim_ahead(
            refs,
            store=store,
            owner=owner,
            force=force,
            credentials=credentials,
            lease_seconds=lease_times().hold,  # renewed by the step's heartbeat
        )
    except TransientError as exc:
        raise _paused(exc) from None


def require_microcks(microcks: MicrocksResource) -> None:
    """Fail the step, without retries, when Microcks is not configured: retrying cannot help."""
    reason = microcks.not_configured_reason
    if reason is not None:
        raise dg.Failure(description=reason, allow_retries=False)


def entity_report(
    result: EntitySyncResult, store: StatusStore, client: MicrocksClient
) -> tuple[dict[str, Any], str | None]:
    """The entity's metadata as its rows stand now, and why it counts as failed (or None)."""
    # As the run's last completion read them, else read now.
    rows = result.entity_rows if result.entity_rows is not None else store.rows(result.entity_ref)
    known = result.example_urls  # read back by this run: no second read of those services
    unread = [r for r in rows if r.mock_id not in known]
    urls = {**result.mock_urls, **known, **answering_urls(client, unread)}
    states = entity_mocks(rows, urls)
    return sync_metadata(result, states), entity_failure(result, states)


def sync_step(
    context: dg.OpExecutionContext,
    entity_ref: str,
    *,
    catalog: CatalogResource,
    microcks: MicrocksResource,
    status_store: StatusStoreResource,
    asset_key: dg.AssetKey | None = None,
) -> dict[str, Any]:
    """One entity's sync as a step: its metadata, or a failed step saying why.

    A failed entity's metadata goes out as an observation of `asset_key` before the failure:
    a materialization would mark the partition materialized, while a planned one that never
    comes in a failed run is what Dagster shows as a failed partition
    (`build_failed_and_in_progress_partition_subset` in dagster/_core/storage/partition_status_cache.py).
    """
    require_microcks(microcks)
    store = status_store.store()
    with (
        heartbeat(context, store),
        catalog.open() as (source, reader),
        microcks.client(store) as client,
    ):
        result = sync_or_fail(
            entity_ref,
            source=source,
            reader=reader,
            store=store,
            client=client,
            owner=context.run.run_id,
            force=is_forced(context.run.tags),
            credentials=microcks.credentials_fingerprint,
        )
        metadata, failure = entity_report(result, store, client)
    if failure is not None:
        if asset_key is not None:
            context.log_event(
                dg.AssetObservation(
                    asset_key=asset_key, partition=context.partition_key, metadata=metadata
                )
            )
        raise dg.Failure(description=failure, metadata=metadata)
    return metadata
