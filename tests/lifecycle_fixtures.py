"""Status rows built in memory, for the pure plan and lifecycle specifications.
Import: `from lifecycle_fixtures import status_row`."""

from __future__ import annotations

from datetime import UTC, datetime

from microcks_pipeline.core.identity import entity_hash, service_version
from microcks_pipeline.core.lifecycle import Cause
from microcks_pipeline.core.model import StatusRow

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def status_row(
    ref: str,
    mock_id: str,
    fp: str,
    action: str = "reconcile",
    status: str = "completed",
    *,
    rid: int = 1,
    attempts: int = 0,
    error: str | None = None,
    cause: Cause | None = None,
    applied: str | None = None,
) -> StatusRow:
    """A row with the real identity of (ref, mock_id); a leased one is held by run-1."""
    return StatusRow(
        id=rid,
        entity_ref=ref,
        mock_id=mock_id,
        entity_hash=entity_hash(ref),
        microcks_version_id=service_version(ref, mock_id),
        desired_action=action,  # type: ignore[arg-type]
        fingerprint_hash=fp,
        applied_fingerprint=applied,
        status=status,  # type: ignore[arg-type]
        attempts=attempts,
        next_attempt_at=None,
        lease_owner="run-1" if status == "leased" else None,
        lease_expires_at=None,
        last_error=error,
        microcks_service_id=None,
        created_at=NOW,
        updated_at=NOW,
        failure_cause=cause,
    )
