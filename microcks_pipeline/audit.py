"""Drift audit: the one place that scans every Microcks service (on a schedule, never per run).

It re-queues our mocks whose service was deleted or changed behind our back, and deletes
orphans: services whose entity hash the status table knows but whose mock it no longer wants.
Services of unknown hashes are never touched: they belong to someone else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from microcks_pipeline.identity import mock_id_of_version
from microcks_pipeline.microcks import MicrocksClient
from microcks_pipeline.store import StatusStore
from microcks_pipeline.store.rows import Event

# Microcks stamps lastUpdate itself; a little slack keeps our own upload from looking foreign.
CHANGE_SLACK = timedelta(seconds=30)


@dataclass(frozen=True)
class AuditResult:
    scanned: int
    requeued: tuple[str, ...]  # versions re-queued
    orphans_deleted: tuple[str, ...]  # versions deleted


def _last_update(service: dict) -> datetime | None:
    millis = (service.get("metadata") or {}).get("lastUpdate")
    return datetime.fromtimestamp(millis / 1000, UTC) if isinstance(millis, int | float) else None


def _wanted_now(store: StatusStore, entity_ref: str, version: str) -> bool:
    """Whether the table wants this service now: `rows` were read before the scan began."""
    return any(
        r.microcks_version_id == version and r.desired_action == "reconcile"
        for r in store.rows(entity_ref)
    )


def run_audit(
    client: MicrocksClient, store: StatusStore, *, now: datetime | None = None
) -> AuditResult:
    rows = store.rows()
    by_version = {r.microcks_version_id: r for r in rows}
    ref_by_hash = {r.entity_hash: r.entity_ref for r in rows}
    seen: dict[str, dict] = {}
    orphans: list[str] = []
    events: list[Event] = []
    scanned = 0
    for service in client.list_services():
        scanned += 1
        version = str(service.get("version", ""))
        owner = ref_by_hash.get(version[:19])  # "bk-" + 16 hex
        if mock_id_of_version(version) is None or owner is None:
            continue
        seen[version] = service
        row = by_version.get(version)
        if row is None or row.desired_action == "delete":
            if _wanted_now(store, owner, version):
                continue  # the table changed during the scan (mock added, entity came back)
            client.delete_service(service["id"])
            orphans.append(version)
            events.append(
                Event(
                    entity_ref=owner,
                    mock_id=row.mock_id if row else None,
                    sync_status_id=row.id if row else None,
                    event_type="orphan_deleted",
                    level="warn",
                    message=f"audit deleted orphan service {service.get('name')}:{version}",
                )
            )

    requeue = []
    for row in rows:
        if row.desired_action != "reconcile" or row.status != "completed":
            continue
        service = seen.get(row.microcks_version_id)
        if service is None:
            why = "service missing in Microcks"
        elif row.microcks_service_id and service.get("id") != row.microcks_service_id:
            why = "service re-created in Microcks"
        elif (changed := _last_update(service)) and changed > row.updated_at + CHANGE_SLACK:
            why = "service changed in Microcks"
        else:
            continue
        requeue.append(row)
        events.append(
            Event(
                row.entity_ref,
                "drift_detected",
                "warn",
                f"audit re-queued: {why}",
                row.mock_id,
                row.id,
            )
        )
    if requeue:
        store.requeue([r.id for r in requeue], now=now)
    if events:
        store.append_events(events, now=now)
    return AuditResult(
        scanned=scanned,
        requeued=tuple(r.microcks_version_id for r in requeue),
        orphans_deleted=tuple(orphans),
    )
