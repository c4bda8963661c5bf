"""Turn library results into Dagster metadata and failure messages (pure, no I/O)."""

from __future__ import annotations

from typing import Any

import dagster as dg

from microcks_pipeline.desired import EntityDesired
from microcks_pipeline.microcks.errors import safe_url
from microcks_pipeline.worker import EntitySyncResult


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


def sync_metadata(result: EntitySyncResult) -> dict[str, Any]:
    """Materialization metadata of one entity's sync: actions, service ids, mock URLs, calls."""
    meta: dict[str, Any] = {
        "entity": result.entity_ref,
        "rows_claimed": result.claimed,
        "microcks_calls": result.calls,
        "actions": dg.MetadataValue.json(dict(result.actions)),
        "service_ids": dg.MetadataValue.json(dict(result.service_ids)),
    }
    if result.mock_urls:
        links = [
            f"- `{_md_cell(m)}`: [{url}]({url})" for m, url in sorted(result.mock_urls.items())
        ]
        meta["mock_urls"] = dg.MetadataValue.md("\n".join(links))
        for mock_id, url in sorted(result.mock_urls.items()):
            meta[f"mock_url/{mock_id}"] = dg.MetadataValue.url(url)
    if result.errors:
        meta["errors"] = dg.MetadataValue.json(dict(result.errors))
    if result.claimed == 0:
        meta["note"] = "nothing was due: a duplicate or superseded run"
    if result.entity_removed:
        meta["entity_removed"] = True
    return meta


def failure_message(result: EntitySyncResult) -> str:
    """One operator-readable line per failed mock (messages are sanitized by the worker)."""
    parts = []
    for mock_id in (*result.permanent_failures, *result.transient_failures):
        kind = "permanent" if mock_id in result.permanent_failures else "will retry"
        parts.append(f"{mock_id} ({kind}): {result.errors.get(mock_id, 'failed')}")
    return f"sync of {result.entity_ref} failed for " + "; ".join(parts)
