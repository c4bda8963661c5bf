"""Values read from and written to the status store: defined in the core (`model`), re-exported
here for the modules that still import them from the store."""

from __future__ import annotations

from microcks_pipeline.core.model import (
    Action,
    DesiredRow,
    Event,
    GlobalBackoff,
    Level,
    Status,
    StatusRow,
    StoredEvent,
)

__all__ = [
    "Action",
    "DesiredRow",
    "Event",
    "GlobalBackoff",
    "Level",
    "Status",
    "StatusRow",
    "StoredEvent",
]
