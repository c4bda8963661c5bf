"""Assets: an entity's desired mocks, its Microcks services, and the status table report."""

from collections.abc import Sequence
from typing import TYPE_CHECKING

import dagster as dg

from microcks_pipeline.defs.outcome import desired_metadata
from microcks_pipeline.defs.partitions import entity_partitions, entity_ref_of
from microcks_pipeline.defs.resources import CatalogResource, MicrocksResource, StatusStoreResource
from microcks_pipeline.defs.runner import sync_step
from microcks_pipeline.desired import load_entity_desired
from microcks_pipeline.errors import PipelineError
from microcks_pipeline.store.rows import StatusRow

if TYPE_CHECKING:  # pandas is imported where the report is built: every run process loads this
    import pandas as pd  # module, and pandas alone adds about 0.3 s to its start

GROUP = "microcks"
MICROCKS_POOL = "microcks_api"
REPORT_ROWS = 500  # rows shown in the UI table; the counts cover all of them


@dg.asset(
    partitions_def=entity_partitions,
    group_name=GROUP,
    description="What the catalog declares for the entity: mocks, fingerprints, artifact hashes.",
)
def desired_mocks(
    context: dg.AssetExecutionContext, catalog: CatalogResource
) -> dg.MaterializeResult:
    ref = entity_ref_of(context.partition_key)
    try:
        with catalog.open() as (source, reader):
            entity = source.get_entity(ref)
            desired = None if entity is None else load_entity_desired(entity, reader)
    except PipelineError as exc:
        raise dg.Failure(description=f"cannot read {ref} from the catalog: {exc}") from None
    return dg.MaterializeResult(metadata=desired_metadata(desired))


@dg.asset(
    partitions_def=entity_partitions,
    group_name=GROUP,
    deps=[desired_mocks],
    pool=MICROCKS_POOL,
    description="The entity's services in Microcks, reconciled with its desired mocks.",
)
def microcks_services(
    context: dg.AssetExecutionContext,
    catalog: CatalogResource,
    microcks: MicrocksResource,
    status_store: StatusStoreResource,
) -> dg.MaterializeResult:
    metadata = sync_step(
        context.op_execution_context,
        entity_ref_of(context.partition_key),
        catalog=catalog,
        microcks=microcks,
        status_store=status_store,
        asset_key=context.asset_key,
    )
    return dg.MaterializeResult(metadata=metadata)


_STATUS_ORDER = {"error": 0, "pending": 1, "leased": 2, "completed": 3}
_COLUMNS = [
    "entity_ref",
    "mock_id",
    "desired_action",
    "status",
    "attempts",
    "next_attempt_at",
    "last_error",
    "microcks_service_id",
    "updated_at",
]


def status_frame(rows: Sequence[StatusRow]) -> "pd.DataFrame":
    """The status table as a DataFrame, rows needing attention first."""
    import pandas as pd

    frame = pd.DataFrame([{c: getattr(r, c) for c in _COLUMNS} for r in rows], columns=_COLUMNS)
    if frame.empty:
        return frame
    frame["_order"] = frame["status"].map(_STATUS_ORDER).fillna(9)
    frame = frame.sort_values(["_order", "entity_ref", "mock_id"]).drop(columns="_order")
    return frame.reset_index(drop=True)


def _table(frame: "pd.DataFrame") -> dg.TableMetadataValue:
    import pandas as pd

    records = [
        dg.TableRecord({c: ("" if pd.isna(v) else str(v)) for c, v in row.items()})
        for row in frame.head(REPORT_ROWS).to_dict(orient="records")
    ]
    schema = dg.TableSchema(columns=[dg.TableColumn(c, "string") for c in frame.columns])
    return dg.MetadataValue.table(records, schema=schema)


@dg.asset(group_name=GROUP, description="The status table: one row per (entity, mock).")
def sync_status_report(status_store: StatusStoreResource) -> dg.MaterializeResult:
    frame = status_frame(status_store.store().rows())
    counts = frame["status"].value_counts().to_dict() if not frame.empty else {}
    meta = {
        "dagster/row_count": len(frame),
        "rows": len(frame),
        "entities": int(frame["entity_ref"].nunique()) if not frame.empty else 0,
        "status": _table(frame),
        "counts": dg.MetadataValue.json({k: int(v) for k, v in sorted(counts.items())}),
    }
    for status in _STATUS_ORDER:
        meta[f"count/{status}"] = int(counts.get(status, 0))
    return dg.MaterializeResult(metadata=meta)
