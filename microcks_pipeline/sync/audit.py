"""Drift audit: the one place that scans every Microcks service (on a schedule, never per run).

It re-queues our mocks whose service was deleted, re-created or changed behind our back, and
deletes orphans: services whose entity hash the status table knows but whose mock it no longer
wants. A service is ours by its version, or (gRPC, which Microcks names from the proto) by its
owner label. Services of unknown hashes or without either are never touched, nor read: they
belong to someone else.

"Changed" is judged on content, never on `metadata.lastUpdate` (Microcks refreshes it only on a
main upload and a metadata PUT, not on a secondary upload or an operation override): each
completed mock's service is read with its messages and compared with the record of its last
verified apply (converge.differences) — example sources, dispatchers, labels, annotations.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from microcks_pipeline.core.converge import AppliedRecord, differences
from microcks_pipeline.core.identity import owner_of_service
from microcks_pipeline.core.model import Event, StatusRow
from microcks_pipeline.core.observed import parse_service_view
from microcks_pipeline.microcks import MicrocksClient
from microcks_pipeline.store import StatusStore


@dataclass(frozen=True)
class AuditResult:
    scanned: int
    requeued: tuple[str, ...]  # versions re-queued
    orphans_deleted: tuple[str, ...]  # versions deleted


def _drift(client: MicrocksClient, row: StatusRow, service: dict | None) -> str | None:
    """Why `row`'s service no longer holds what was applied, or None when it does."""
    if service is None:
        return "service missing in Microcks"
    if row.microcks_service_id and service.get("id") != row.microcks_service_id:
        return "service re-created in Microcks"
    record = AppliedRecord.from_json(row.applied_artifacts)
    if record is None:
        return "nothing recorded as applied"  # rows completed before the record existed
    view = client.read_service(str(service.get("name")), str(service.get("version")))
    if view is None:
        return "service missing in Microcks"
    try:
        found = differences(record.expected, parse_service_view(view))
    except ValueError:
        return "service view unreadable"
    return "service changed in Microcks: " + "; ".join(found) if found else None


def _drifted(
    client: MicrocksClient, rows: list[StatusRow], seen: dict[str, dict], events: list[Event]
) -> list[StatusRow]:
    """The completed mocks whose service drifted, each with a `drift_detected` event saying how."""
    drifted = []
    for row in rows:
        if row.desired_action != "reconcile" or row.status != "completed":
            continue
        why = _drift(client, row, seen.get(row.microcks_version_id))
        if why is not None:
            drifted.append(row)
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
    return drifted


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
    by_service_id = {r.microcks_service_id: r for r in rows if r.microcks_service_id}
    ref_by_hash = {r.entity_hash: r.entity_ref for r in rows}
    seen: dict[str, dict] = {}
    orphans: list[str] = []
    events: list[Event] = []
    scanned = 0
    for service in client.list_services():
        scanned += 1
        # ours by version, or (gRPC, named by its proto) by owner label; else never touched
        version = owner_of_service(service)
        recorded = by_service_id.get(str(service.get("id")))
        if version is None and recorded is not None:
            version = recorded.microcks_version_id  # the service a mock created, labels gone
        owner = ref_by_hash.get(version[:19]) if version else None  # "bk-" + 16 hex
        if version is None or owner is None:
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
                    message=(
                        "audit deleted orphan service "
                        f"{service.get('name')}:{service.get('version')}"
                    ),
                )
            )

    requeue = _drifted(client, rows, seen, events)
    if requeue:
        store.requeue([r.id for r in requeue], now=now)
    if events:
        store.append_events(events, now=now)
    return AuditResult(
        scanned=scanned,
        requeued=tuple(r.microcks_version_id for r in requeue),
        orphans_deleted=tuple(orphans),
    )
