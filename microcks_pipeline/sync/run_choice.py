"""Which entities go into which run, and the key that names one state of an entity's due rows (pure).

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
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from microcks_pipeline.core.lifecycle import is_removal
from microcks_pipeline.core.model import StatusRow
from microcks_pipeline.sync.worker import LEASE_SECONDS

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
