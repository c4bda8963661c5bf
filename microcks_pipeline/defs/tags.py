"""Run tags the pipeline sets and reads: the entity a run works on, and who launched it."""

from __future__ import annotations

from collections.abc import Mapping

ENTITY_TAG = "microcks/entity"  # dagster.yaml limits runs to one per unique value
TRIGGER_TAG = "microcks/trigger"
SYNC_SENSOR_TRIGGER = "sync_sensor"
BATCH_TAG = "microcks/batch"  # number of entities in a batch run


def sensor_tags(entity_ref: str | None = None, *, batch: int | None = None) -> dict[str, str]:
    tags = {TRIGGER_TAG: SYNC_SENSOR_TRIGGER}
    if entity_ref is not None:
        tags[ENTITY_TAG] = entity_ref
    if batch is not None:
        tags[BATCH_TAG] = str(batch)
    return tags


def is_forced(tags: Mapping[str, str]) -> bool:
    """A run not launched by the sync sensor (a backfill, a manual launch) re-syncs everything."""
    return tags.get(TRIGGER_TAG) != SYNC_SENSOR_TRIGGER
