"""What the sensors' ticks say: changes counted, entities in error named with their reason.

Skip reasons are shown on one line per tick in the UI, so an idle tick says little ("unchanged:
4 entities", "nothing due") and only what an operator must act on is spelled out. Pure: values
in, text out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

from microcks_pipeline.core.model import Event, StatusRow
from microcks_pipeline.sync.processor import ProcessResult

NAMED = 3  # entities named in a message; the rest are counted
REASON_CHARS = 100


def _plural(n: int, word: str, words: str | None = None) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {words or word + 's'}"


def _short(reason: str | None) -> str:
    text = " ".join((reason or "failed").split())
    return text if len(text) <= REASON_CHARS else text[: REASON_CHARS - 1] + "…"


def _named(items: Sequence[str]) -> str:
    shown = "; ".join(items[:NAMED])
    more = len(items) - NAMED
    return shown + (f"; and {more} more" if more > 0 else "")


def _counts(kinds: Iterable[str]) -> str:
    """ "2 to create, 1 to update, 1 to delete" (only the kinds present)."""
    counted = Counter(kinds)
    order = ("create", "update", "delete")
    return ", ".join(f"{counted[k]} to {k}" for k in order if counted[k])


def _change_kind(event: Event) -> str | None:
    if event.event_type == "delete_requested":
        return "delete"
    if event.event_type == "reconcile_requested":
        return "update" if event.sync_status_id is not None else "create"
    return None


def errors_named(errors: Mapping[str, Mapping[str, str]]) -> str:
    """ "in error: api:default/x (default: reason); …" from entity → mock → reason."""
    items = [
        f"{ref} ({'; '.join(f'{m}: {_short(r)}' for m, r in sorted(mocks.items()))})"
        for ref, mocks in sorted(errors.items())
    ]
    return f"{len(errors)} in error: " + _named(items) if items else ""


def retries_named(rows: Iterable[StatusRow]) -> str:
    """ "2 waiting for a retry: api:default/x (default: reason; next try 12:00:05 UTC); …" from
    the rows backing off (soonest first), or ""."""
    waiting: dict[str, list[StatusRow]] = {}
    for row in rows:
        waiting.setdefault(row.entity_ref, []).append(row)
    items = [
        f"{ref} ("
        + "; ".join(
            f"{r.mock_id}: {_short(r.last_error)}; next try {_clock(r.next_attempt_at)}"
            for r in mine
        )
        + ")"
        for ref, mine in waiting.items()
    ]
    return f"{len(items)} waiting for a retry: " + _named(items) if items else ""


def _clock(when: datetime | None) -> str:
    if when is None:
        return "now"
    when = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    return f"{when.astimezone(UTC):%H:%M:%S} UTC"


def row_errors(rows: Iterable[StatusRow]) -> dict[str, dict[str, str]]:
    """entity → mock → last error, for the rows in error."""
    out: dict[str, dict[str, str]] = {}
    for row in rows:
        if row.status == "error":
            out.setdefault(row.entity_ref, {})[row.mock_id] = row.last_error or "failed"
    return out


def catalog_message(result: ProcessResult, added: int, runs: int, held: str | None) -> str:
    """One tick of the catalog sensor: what changed, what failed to load, what runs it asked."""
    entities = _plural(len(result.entity_refs), "entity", "entities")
    if not result.rows_written and not added:
        text = f"unchanged: {entities}"
    else:
        failed: dict[str, dict[str, str]] = {}
        for event in result.changes:
            if event.event_type == "load_failed":
                failed.setdefault(event.entity_ref, {})[event.mock_id or "?"] = event.message
        parts = [_counts(k for k in map(_change_kind, result.changes) if k), errors_named(failed)]
        if added:
            parts.append(f"{added} new partition(s)")
        if runs:
            parts.append(f"{_plural(runs, 'run')} requested")
        elif held:
            parts.append(f"runs wait: {held}")
        text = f"{entities}: " + "; ".join(p for p in parts if p)
    if result.deferred:
        text += f"; {_plural(result.deferred, 'entity', 'entities')} left for the next tick"
    if not result.complete:
        text += "; listing incomplete, deletions held back: " + "; ".join(result.problems)
    if result.remote_backoffs:
        text += "; remote reads held back (files keep their last content): " + "; ".join(
            result.remote_backoffs
        )
    return text


def due_kinds(rows: Iterable[StatusRow]) -> list[str]:
    """What each due row asks of Microcks: create (never applied), update, or delete."""
    return [
        "delete"
        if r.desired_action == "delete"
        else ("create" if r.applied_fingerprint is None else "update")
        for r in rows
    ]


def runs_message(due: Mapping[str, Sequence[StatusRow]], runs: int) -> str:
    """What the requested runs will do: "2 runs for 3 entities (2 to create, 1 to delete): …"."""
    kinds = _counts(k for rows in due.values() for k in due_kinds(rows))
    refs = _named(sorted(due))
    entities = _plural(len(due), "entity", "entities")
    return f"{_plural(runs, 'run')} for {entities} ({kinds}): {refs}"
