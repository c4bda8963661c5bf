"""Which runs the sync sensor asks for: one per entity for a few, batches for many (pure).

A run_key names exactly one state of an entity's due rows (mock, action, fingerprint, attempts,
status, lease owner, last update), so Dagster never launches the same change twice, while every
later attempt gets a new key: a retry after a backoff (attempts+1), rows given back after a
Microcks-wide failure (updated again), an expired lease (new status and owner). Dagster skips a
run_key it has seen before whatever that run's outcome, so a key that survived a failure would
block the entity for good. A run may also end before it claims anything (cancelled while queued,
failed to launch): then nothing touches the rows, so a key also moves on every RELAUNCH_AFTER
that the due rows stay untouched. A needless second run is harmless: it finds nothing to claim.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import dagster as dg

from microcks_pipeline.core.lifecycle import is_removal
from microcks_pipeline.core.model import StatusRow
from microcks_pipeline.defs.partitions import partition_key
from microcks_pipeline.defs.tags import sensor_tags
from microcks_pipeline.sync.worker import LEASE_SECONDS

SYNC_JOB = "sync_entity_job"
DELETE_JOB = "delete_entity_mocks"
BATCH_JOB = "sync_batch_job"
DELETE_OP = "delete_entity_services"
BATCH_OP = "sync_entities"
# Fewer entities than this per run are not worth a run process of their own (about 1.5 s).
MIN_BATCH = 50
# Twice the worker's lease: rows due and untouched this long were never taken by their run.
RELAUNCH_AFTER = timedelta(seconds=2 * LEASE_SECONDS)


def _digest(value: object) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def entity_run_key(entity_ref: str, rows: Iterable[StatusRow], now: datetime | None = None) -> str:
    """`<ref>@<hash of the rows' due state>`: same state (and, given `now`, same RELAUNCH_AFTER
    window since the rows last changed), same key."""
    rows = list(rows)
    state: list[object] = sorted(
        (
            r.mock_id,
            r.desired_action,
            r.fingerprint_hash,
            r.attempts,
            r.status,
            r.lease_owner or "",
            r.updated_at.isoformat(),
        )
        for r in rows
        if r.status in ("pending", "leased")
    )
    if now is not None and rows:
        untouched = now - max(r.updated_at for r in rows)
        state.append(int(untouched / RELAUNCH_AFTER))
    return f"{entity_ref}@{_digest(state)}"


def deletes_only(rows: Iterable[StatusRow]) -> bool:
    """True when every row is a delete (a removal, or a load failure's delete)."""
    rows = list(rows)
    return bool(rows) and all(r.desired_action == "delete" for r in rows)


def removals_only(rows: Iterable[StatusRow]) -> bool:
    """True when every row is a removal: the entity left the catalog. An entity whose mocks all
    failed to load is still in it: its failure shows on its partition, not on a delete job."""
    rows = list(rows)
    return bool(rows) and all(is_removal(r) for r in rows)


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


def batch_chunks(refs: Sequence[str], size: int, runs: int) -> list[list[str]]:
    """Equal chunks of at most `size`. When there is enough work (MIN_BATCH entities a run),
    their number is a multiple of the run slots worth filling, so no slot idles through a last,
    smaller wave: 1,000 refs, size 500, 3 runs → 3 × 334; 20 refs → one run."""
    if not refs:
        return []
    count = math.ceil(len(refs) / size)
    spread = min(runs, len(refs) // MIN_BATCH)
    if spread > 1:
        count = math.ceil(count / spread) * spread
    per = math.ceil(len(refs) / count)
    return [list(refs[i : i + per]) for i in range(0, len(refs), per)]


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
