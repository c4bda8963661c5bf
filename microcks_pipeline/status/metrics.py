"""Prometheus metrics of the status service, computed at scrape time from the listing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, Protocol

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from microcks_pipeline.store.schema import STATUSES

PREFIX = "microcks_pipeline"


class _Snapshot(Protocol):
    entities: list[dict[str, Any]]
    last_success: datetime | None


class StatusCollector(Collector):
    """Mocks by status, served mocks, entities (in error), and the age of the last success."""

    def __init__(
        self,
        snapshot: Callable[[], _Snapshot],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._snapshot = snapshot
        self._clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        snap = self._snapshot()
        mocks = [m for e in snap.entities for m in e["mocks"]]
        by_status = GaugeMetricFamily(
            f"{PREFIX}_mocks", "Mocks in the status store by row status.", labels=["status"]
        )
        for status in STATUSES:
            by_status.add_metric([status], sum(1 for m in mocks if m["status"] == status))
        yield by_status
        yield GaugeMetricFamily(
            f"{PREFIX}_mocks_served",
            "Mocks Microcks serves with their last good content.",
            value=sum(1 for m in mocks if m["served"]),
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_entities", "Entities in the status store.", value=len(snap.entities)
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_entities_in_error",
            "Entities with a mock (or their microcks.yaml) in error.",
            value=sum(1 for e in snap.entities if e["errorCount"]),
        )
        if snap.last_success is not None:
            yield GaugeMetricFamily(
                f"{PREFIX}_last_successful_sync_timestamp_seconds",
                "When a mock last synced successfully (Unix time).",
                value=snap.last_success.timestamp(),
            )
            yield GaugeMetricFamily(
                f"{PREFIX}_last_successful_sync_age_seconds",
                "Seconds since a mock last synced successfully.",
                value=max(0.0, (self._clock() - snap.last_success).total_seconds()),
            )
