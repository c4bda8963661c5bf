"""After a run changed what an entity serves, ask the catalog to show it now.

Backstage re-processes an entity every 100-150 s; its catalog module decorates API entities
from the status service, so without a nudge a new or broken mock shows up minutes late.
Only a catalog that can refresh (Backstage) is asked; a failure is a warning, never a failed run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Protocol, runtime_checkable

from microcks_pipeline.core.model import Event
from microcks_pipeline.store import StatusStore, sanitize_error

# Row actions that change what the entity serves (or shows as broken).
CHANGING_ACTIONS = frozenset({"created", "updated", "deleted", "failed"})
REFRESH_FAILED = "catalog_refresh_failed"
_log = logging.getLogger(__name__)


@runtime_checkable
class RefreshableCatalog(Protocol):
    def refresh_entity(self, ref: str) -> None:
        """Have the catalog process the entity again now; raise when it cannot."""
        ...


def serves_differently(actions: Mapping[str, str], entity_removed: bool = False) -> bool:
    """Whether a run's actions (mock id → action) changed what the entity serves."""
    return entity_removed or any(a in CHANGING_ACTIONS for a in actions.values())


def refresh_entity(
    catalog: object,
    entity_ref: str,
    *,
    store: StatusStore,
    run_id: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Ask `catalog` to refresh the entity when it can; True when it was asked and agreed.

    A failure is logged and recorded as a `warn` event (sanitized: never the token)."""
    if not isinstance(catalog, RefreshableCatalog):
        return False
    try:
        catalog.refresh_entity(entity_ref)
    except Exception as exc:  # a courtesy to the catalog's readers: never fail the run over it
        reason = sanitize_error(str(exc)) or type(exc).__name__
        _log.warning("catalog refresh of %s failed: %s", entity_ref, reason)
        try:
            event = Event(entity_ref, REFRESH_FAILED, "warn", reason, run_id=run_id)
            store.append_events([event], now=now)
        except Exception:  # the store being down is the run's business, not this courtesy's
            pass
        return False
    return True
