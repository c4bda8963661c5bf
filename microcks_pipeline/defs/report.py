"""The status report: the status table as a table in the UI, kept current by a sensor.

Short columns an operator reads first come first (entity, mock, status, last error, service id),
the long mock URL after them, hashes not at all: the UI's default width shows the error and the
service id of every row. The mock URL is the one the
entity's latest `microcks_services` event shows (a URL that answers), never a Microcks call.

The sensor reports the report as a materialization whenever the status table or the entities'
latest events changed (a digest in its cursor), so it is never "Never materialized" and needs
no run: a run costs a process start, a reported event one database write.

Bounded: the event log keeps every report, so at 10,000 entities a full table on every change
would write megabytes an hour. A small table (FULL_TABLE_ROWS rows or fewer) is reported whole;
a larger one as the counts plus the rows needing attention (in error first, then pending and
leased, ATTENTION_ROWS at most). The full table is one click away: materializing
`sync_status_report` (its job, or the UI's Materialize) reports every row, once, on demand.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import dagster as dg

from microcks_pipeline.core.errors import PipelineError
from microcks_pipeline.core.model import StatusRow
from microcks_pipeline.defs.partitions import partition_key
from microcks_pipeline.defs.resources import StatusStoreResource
from microcks_pipeline.defs.settings import Settings
from microcks_pipeline.store import StatusStore

if TYPE_CHECKING:  # pandas is imported where the report is built: every run process loads this
    import pandas as pd  # module, and pandas alone adds about 0.3 s to its start

REPORT = dg.AssetKey("sync_status_report")
SERVICES = dg.AssetKey("microcks_services")
FULL_TABLE_ROWS = 100  # a status table this small is reported whole by the sensor
ATTENTION_ROWS = 100  # a larger one: at most this many rows not completed; counts cover all
FULL_TABLE_HINT = "every row: materialize sync_status_report (status_report_job)"
STATUS_ORDER = {"error": 0, "pending": 1, "leased": 2, "completed": 3}
# (column, StatusRow field or None for a derived one), in the order shown.
_COLUMNS: tuple[tuple[str, str | None], ...] = (
    ("entity", "entity_ref"),
    ("mock", "mock_id"),
    ("status", "status"),
    ("last_error", "last_error"),
    ("service_id", "microcks_service_id"),
    ("mock_url", None),
    ("cause", "failure_cause"),
    ("action", "desired_action"),
    ("attempts", "attempts"),
    ("next_attempt_at", "next_attempt_at"),
    ("updated_at", "updated_at"),
)


def _latest_metadata(instance: dg.DagsterInstance, entity_ref: str) -> Mapping[str, Any]:
    """Metadata of the entity's latest microcks_services event: a materialization, or the
    observation a failed run leaves, whichever came last."""
    where = dg.AssetRecordsFilter(asset_key=SERVICES, asset_partitions=[partition_key(entity_ref)])
    found = [
        *instance.fetch_materializations(where, limit=1).records,
        *instance.fetch_observations(where, limit=1).records,
    ]
    if not found:
        return {}
    newest = max(found, key=lambda r: r.storage_id)
    event = newest.asset_materialization or newest.asset_observation
    return event.metadata if event is not None else {}


def mock_urls(
    instance: dg.DagsterInstance, rows: Sequence[StatusRow]
) -> dict[tuple[str, str], str]:
    """(entity, mock) → the mock URL its entity's view shows, for the mocks Microcks serves."""
    by_entity: dict[str, list[StatusRow]] = {}
    for row in rows:
        if row.status == "completed":
            by_entity.setdefault(row.entity_ref, []).append(row)
    urls: dict[tuple[str, str], str] = {}
    for ref, served in by_entity.items():
        meta = _latest_metadata(instance, ref)
        for row in served:
            value = meta.get(f"mock_url/{row.mock_id}")
            if value is not None:
                urls[(ref, row.mock_id)] = str(value.value)
    return urls


def status_frame(rows: Sequence[StatusRow], urls: Mapping[tuple[str, str], str]) -> pd.DataFrame:
    """The status table as a DataFrame, rows needing attention first."""
    import pandas as pd

    names = [c for c, _ in _COLUMNS]
    records = [
        {c: (getattr(r, f) if f else urls.get((r.entity_ref, r.mock_id))) for c, f in _COLUMNS}
        for r in rows
    ]
    frame = pd.DataFrame(records, columns=names)
    if frame.empty:
        return frame
    frame["_order"] = frame["status"].map(STATUS_ORDER).fillna(9)
    frame = frame.sort_values(["_order", "entity", "mock"]).drop(columns="_order")
    return frame.reset_index(drop=True)


def _table(frame: pd.DataFrame) -> dg.TableMetadataValue:
    import pandas as pd

    records = [
        dg.TableRecord({c: ("" if pd.isna(v) else str(v)) for c, v in row.items()})
        for row in frame.to_dict(orient="records")
    ]
    schema = dg.TableSchema(columns=[dg.TableColumn(c, "string") for c in frame.columns])
    return dg.MetadataValue.table(records, schema=schema)


@dataclass(frozen=True)
class Summary:
    """What the report counts over every row, whether or not its table shows them."""

    counts: Mapping[str, int]  # rows per status
    entities: int

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    @classmethod
    def of(cls, rows: Sequence[StatusRow]) -> Summary:
        counts: dict[str, int] = {}
        for row in rows:
            counts[row.status] = counts.get(row.status, 0) + 1
        return cls(counts, len({r.entity_ref for r in rows}))


def report_metadata(
    shown: Sequence[StatusRow], summary: Summary, instance: dg.DagsterInstance
) -> dict[str, Any]:
    """The report's metadata: counts per status over every row, and the table of `shown`."""
    frame = status_frame(shown, mock_urls(instance, shown))
    meta: dict[str, Any] = {
        "dagster/row_count": summary.rows,
        "rows": summary.rows,
        "entities": summary.entities,
        "status": _table(frame),
        "shown": f"{len(shown)} of {summary.rows} rows"
        + ("" if len(shown) == summary.rows else f" (those not completed); {FULL_TABLE_HINT}"),
        "counts": dg.MetadataValue.json(dict(sorted(summary.counts.items()))),
    }
    for status in STATUS_ORDER:
        meta[f"count/{status}"] = summary.counts.get(status, 0)
    return meta


def full_report(store: StatusStore, instance: dg.DagsterInstance) -> dict[str, Any]:
    """Every row (the asset, materialized on demand)."""
    rows = store.rows()
    return report_metadata(rows, Summary.of(rows), instance)


def _digest(
    by_status: Mapping[str, tuple[int, datetime | None]], instance: dg.DagsterInstance
) -> str:
    """Changes when a row or the entities' latest events change (what the report shows): rows
    and newest update per status, and the storage ids of the latest microcks_services events."""
    records = instance.get_asset_records([SERVICES])
    entry = records[0].asset_entry if records else None
    latest = (
        entry.last_materialization_record.storage_id
        if entry and entry.last_materialization_record
        else None,
        entry.last_observation_record.storage_id
        if entry and entry.last_observation_record
        else None,
    )
    text = repr((sorted(by_status.items()), latest))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]  # shown in the ticks table


def _counts_text(meta: Mapping[str, Any]) -> str:
    counts = meta["counts"].value
    return ", ".join(f"{n} {s}" for s, n in counts.items()) or "no rows"


@dg.sensor(
    minimum_interval_seconds=Settings.from_env().sync_interval,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Refreshes sync_status_report whenever the status table changed; no run.",
)
def status_report_sensor(
    context: dg.SensorEvaluationContext, status_store: StatusStoreResource
) -> dg.SensorResult:
    try:
        store = status_store.store()
        by_status, entities = store.status_summary()
        digest = _digest(by_status, context.instance)
        if digest == context.cursor:
            return dg.SensorResult(skip_reason="status table unchanged")
        summary = Summary({s: n for s, (n, _) in by_status.items()}, entities)
        # A small table whole; a large one by its rows needing attention, never read whole.
        small = summary.rows <= FULL_TABLE_ROWS
        shown = store.rows() if small else store.attention_rows(ATTENTION_ROWS)
    except PipelineError as exc:
        return dg.SensorResult(skip_reason=f"status report not refreshed: {exc}")
    meta = report_metadata(shown, summary, context.instance)
    return dg.SensorResult(
        asset_events=[dg.AssetMaterialization(asset_key=REPORT, metadata=meta)],
        skip_reason=f"report refreshed: {_counts_text(meta)}",
        cursor=digest,
    )
