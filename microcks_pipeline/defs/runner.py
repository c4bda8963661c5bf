"""Run the worker for one entity inside a Dagster step, turning its failures into dg.Failure."""

from __future__ import annotations

from typing import Any

import dagster as dg

from microcks_pipeline.artifacts import ArtifactReader
from microcks_pipeline.catalog.entity import CatalogSource
from microcks_pipeline.defs.outcome import failure_message, sync_metadata
from microcks_pipeline.defs.resources import CatalogResource, MicrocksResource, StatusStoreResource
from microcks_pipeline.defs.tags import is_forced
from microcks_pipeline.errors import AuthError, PipelineError, TransientError
from microcks_pipeline.microcks import MicrocksClient
from microcks_pipeline.store import StatusStore
from microcks_pipeline.worker import EntitySyncResult, sync_entity


class MicrocksDown(dg.Failure):
    """Microcks refused us or is unreachable: every other entity would fail the same way."""


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
        )
    except AuthError as exc:
        raise MicrocksDown(
            description=f"Microcks refused our credentials; syncing paused by a global backoff: {exc}",
            allow_retries=False,
        ) from None
    except TransientError as exc:
        raise MicrocksDown(
            description=f"Microcks is unavailable; syncing paused by a global backoff: {exc}"
        ) from None
    except PipelineError as exc:
        raise dg.Failure(description=f"sync of {entity_ref} failed: {exc}") from None


def require_microcks(microcks: MicrocksResource) -> None:
    """Fail the step, without retries, when Microcks is not configured: retrying cannot help."""
    reason = microcks.not_configured_reason
    if reason is not None:
        raise dg.Failure(description=reason, allow_retries=False)


def sync_step(
    entity_ref: str,
    run: dg.DagsterRun,
    *,
    catalog: CatalogResource,
    microcks: MicrocksResource,
    status_store: StatusStoreResource,
) -> dict[str, Any]:
    """One entity's sync as a step: its metadata, or a failed step saying which mocks failed."""
    require_microcks(microcks)
    store = status_store.store()
    with catalog.open() as (source, reader), microcks.client(store) as client:
        result = sync_or_fail(
            entity_ref,
            source=source,
            reader=reader,
            store=store,
            client=client,
            owner=run.run_id,
            force=is_forced(run.tags),
            credentials=microcks.credentials_fingerprint,
        )
    if not result.ok:
        raise dg.Failure(description=failure_message(result), metadata=sync_metadata(result))
    return sync_metadata(result)
