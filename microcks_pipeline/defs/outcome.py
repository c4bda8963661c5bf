"""Turn library results into Dagster metadata and failure messages (pure, no I/O).

An entity's `microcks_services` metadata describes the whole entity as its status rows stand
after the run, not only the mocks the run touched: an operator reads the partition, not the
run history."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg

from microcks_pipeline.core.desired import EntityDesired
from microcks_pipeline.core.model import StatusRow
from microcks_pipeline.microcks.errors import safe_url
from microcks_pipeline.sync.recorder import EntitySyncResult


def _md_cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _short(digest: str) -> str:
    return digest[:12]


def desired_metadata(desired: EntityDesired | None) -> dict[str, Any]:
    """What the catalog wants for one entity: mock ids, fingerprints, artifacts and hashes."""
    if desired is None:
        return {"in_catalog": False, "mocks": 0}
    lines = ["| mock | version | fingerprint | artifact | sha256 |", "|---|---|---|---|---|"]
    for mock in desired.mocks:
        for artifact in (mock.main, *mock.secondaries):
            lines.append(
                f"| {_md_cell(mock.mock_id)} | {_md_cell(mock.version)} | "
                f"{_short(mock.fingerprint)} | {_md_cell(safe_url(artifact.location))} "
                f"({artifact.role}) | {_short(artifact.sha256)} |"
            )
    meta: dict[str, Any] = {
        "in_catalog": True,
        "mocks": len(desired.mocks),
        "mock_ids": dg.MetadataValue.json([m.mock_id for m in desired.mocks]),
        "fingerprints": dg.MetadataValue.json({m.mock_id: m.fingerprint for m in desired.mocks}),
        "artifacts": dg.MetadataValue.md("\n".join(lines)),
    }
    if desired.failures:
        meta["failures"] = dg.MetadataValue.json(
            {f.mock_id: {"reason": f.reason, "permanent": f.permanent} for f in desired.failures}
        )
    warnings = [w for m in desired.mocks for w in m.warnings]
    if warnings:
        meta["warnings"] = dg.MetadataValue.json(warnings)
    return meta


@dataclass(frozen=True)
class MockState:
    """One desired mock of the entity as it stands after the run (from its status row)."""

    mock_id: str
    status: str  # completed | pending | leased | error, or "deleting" for a delete under way
    mock_url: str | None  # only for a mock Microcks serves now
    last_error: str | None
    service_id: str | None


def entity_mocks(rows: Sequence[StatusRow], urls: Mapping[str, str]) -> list[MockState]:
    """Every mock the entity's microcks.yaml declares, from its rows: reconciled ones, and mocks
    in error (a load failure's services are deleted, so they get no URL). Finished deletes are
    mocks that no longer exist and are left out."""
    states = []
    for row in sorted(rows, key=lambda r: r.mock_id):
        if row.desired_action == "delete" and row.status == "completed":
            continue
        live = row.desired_action == "reconcile" and row.status == "completed"
        deleting = row.desired_action == "delete" and row.status != "error"
        states.append(
            MockState(
                mock_id=row.mock_id,
                status="deleting" if deleting else row.status,
                mock_url=urls.get(row.mock_id) if live else None,
                last_error=row.last_error if row.status != "completed" else None,
                service_id=row.microcks_service_id if live else None,
            )
        )
    return states


def _mocks_table(states: Sequence[MockState]) -> str:
    lines = ["| mock | status | mock URL | last error | service id |", "|---|---|---|---|---|"]
    for m in states:
        url = f"[{_md_cell(m.mock_url)}]({m.mock_url})" if m.mock_url else ""
        lines.append(
            f"| {_md_cell(m.mock_id)} | {m.status} | {url} | {_md_cell(m.last_error or '')} | "
            f"{_md_cell(m.service_id or '')} |"
        )
    return "\n".join(lines)


def entity_errors(states: Sequence[MockState]) -> dict[str, str]:
    """mock → reason, for the mocks in error (permanent: nothing retries them by itself)."""
    return {m.mock_id: m.last_error or "failed" for m in states if m.status == "error"}


def sync_metadata(result: EntitySyncResult, states: Sequence[MockState]) -> dict[str, Any]:
    """Materialization metadata of one entity: every mock as it now stands (status, clickable
    mock URL, last error, service id), then what this run did (actions, Microcks calls)."""
    errors = entity_errors(states)
    served = sum(1 for m in states if m.status == "completed")
    meta: dict[str, Any] = {
        "entity": result.entity_ref,
        "summary": f"{served} of {len(states)} mock(s) served"
        + (f"; in error: {', '.join(sorted(errors))}" if errors else ""),
        "mocks": dg.MetadataValue.md(_mocks_table(states)),
    }
    for m in states:
        if m.mock_url:
            meta[f"mock_url/{m.mock_id}"] = dg.MetadataValue.url(m.mock_url)
    if errors:
        meta["errors"] = dg.MetadataValue.json(errors)
    meta["service_ids"] = dg.MetadataValue.json(
        {m.mock_id: m.service_id for m in states if m.service_id}
    )
    meta["actions"] = dg.MetadataValue.json(dict(result.actions))
    meta["rows_claimed"] = result.claimed
    meta["microcks_calls"] = result.calls
    if result.claimed == 0:
        meta["note"] = "nothing was due: a duplicate or superseded run"
    if result.entity_removed:
        meta["entity_removed"] = True
    return meta


def entity_failure(result: EntitySyncResult, states: Sequence[MockState]) -> str | None:
    """Why the entity counts as failed (a mock failed in this run, or is in error), or None."""
    if not result.ok:
        return failure_message(result)
    errors = entity_errors(states)
    if not errors:
        return None
    reasons = "; ".join(f"{m}: {r}" for m, r in sorted(errors.items()))
    return f"{result.entity_ref} has mock(s) in error: {reasons}"


def failure_message(result: EntitySyncResult) -> str:
    """One operator-readable line per failed mock (messages are sanitized by the worker)."""
    parts = []
    for mock_id in (*result.permanent_failures, *result.transient_failures):
        kind = "permanent" if mock_id in result.permanent_failures else "will retry"
        parts.append(f"{mock_id} ({kind}): {result.errors.get(mock_id, 'failed')}")
    return f"sync of {result.entity_ref} failed for " + "; ".join(parts)
