"""The sync sensor's run requests: one per entity for a few, batches for many.

Which entities and which run keys is decided in `sync.run_choice`; this module only turns
that choice into Dagster `RunRequest`s.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import dagster as dg

from microcks_pipeline.core.model import StatusRow
from microcks_pipeline.defs.partitions import entity_ref_of, partition_key
from microcks_pipeline.defs.tags import ENTITY_TAG, sensor_tags
from microcks_pipeline.sync.run_choice import _digest, batch_chunks, deletes_only, entity_run_key

SYNC_JOB = "sync_entity_job"
DELETE_JOB = "delete_entity_mocks"
BATCH_JOB = "sync_batch_job"
DELETE_OP = "delete_entity_services"
BATCH_OP = "sync_entities"


@dataclass(frozen=True)
class SyncPlan:
    run_requests: tuple[dg.RunRequest, ...]
    partitions_to_add: tuple[str, ...]  # partition keys the runs need that do not exist yet


def plan_runs(
    due: Mapping[str, Sequence[StatusRow]],
    existing_keys: set[str],
    *,
    left_catalog: set[str],
    batch: bool,
    batch_size: int,
    batch_runs: int = 1,
    now: datetime | None = None,
) -> SyncPlan:
    """Run requests for the due entities (in the given order) and the partitions they need.

    `due` maps each entity to its due rows; `left_catalog` names the entities whose every row is
    a delete (they get the delete job, and no partition). A partitioned run needs its partition;
    a batch only reports materializations, so entities that are only deleting need none.
    """
    missing = tuple(
        dict.fromkeys(
            partition_key(ref)
            for ref, rows in due.items()
            if ref not in left_catalog
            and not (batch and deletes_only(rows))
            and partition_key(ref) not in existing_keys
        )
    )
    if batch:
        return SyncPlan(tuple(_batches(due, batch_size, batch_runs, now)), missing)
    requests = []
    for ref, rows in due.items():
        key = entity_run_key(ref, rows, now)
        if ref in left_catalog:
            requests.append(
                dg.RunRequest(
                    job_name=DELETE_JOB,
                    run_key=key,
                    run_config={"ops": {DELETE_OP: {"config": {"entity_ref": ref}}}},
                    tags=sensor_tags(ref),
                )
            )
        else:
            requests.append(
                dg.RunRequest(
                    job_name=SYNC_JOB,
                    partition_key=partition_key(ref),
                    run_key=key,
                    tags=sensor_tags(ref),
                )
            )
    return SyncPlan(tuple(requests), missing)


def _batches(
    due: Mapping[str, Sequence[StatusRow]], size: int, runs: int, now: datetime | None
) -> Iterable[dg.RunRequest]:
    for chunk in batch_chunks(list(due), size, runs):
        key = _digest([entity_run_key(ref, due[ref], now) for ref in chunk])
        yield dg.RunRequest(
            job_name=BATCH_JOB,
            run_key=f"batch@{key}",
            run_config={"ops": {BATCH_OP: {"config": {"entity_refs": chunk}}}},
            tags=sensor_tags(batch=len(chunk)),
        )


def run_entities(run: dg.DagsterRun) -> list[str]:
    """The entities a run works on: a batch's list, an entity run's tag or partition."""
    if run.job_name == BATCH_JOB:
        config = (run.run_config or {}).get("ops", {}).get(BATCH_OP, {}).get("config", {})
        return list(config.get("entity_refs", []))
    if ENTITY_TAG in run.tags:
        return [run.tags[ENTITY_TAG]]
    key = run.tags.get("dagster/partition")
    return [entity_ref_of(key)] if key else []
