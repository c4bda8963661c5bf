"""Assets: an entity's desired mocks, its Microcks services, and the status table report."""

import dagster as dg

from microcks_pipeline.core.errors import PipelineError
from microcks_pipeline.defs.outcome import desired_metadata
from microcks_pipeline.defs.partitions import entity_partitions, entity_ref_of
from microcks_pipeline.defs.report import full_report
from microcks_pipeline.defs.resources import CatalogResource, MicrocksResource, StatusStoreResource
from microcks_pipeline.defs.runner import sync_step
from microcks_pipeline.sync.loader import load_entity_desired

GROUP = "microcks"
MICROCKS_POOL = "microcks_api"


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


@dg.asset(
    group_name=GROUP,
    description="The status table: one row per (entity, mock). status_report_sensor refreshes "
    "it whenever the table changes (a large table as counts plus the rows not completed); "
    "materialize it for every row.",
)
def sync_status_report(
    context: dg.AssetExecutionContext, status_store: StatusStoreResource
) -> dg.MaterializeResult:
    # On demand (a click): every row, where the sensor's refreshes show a bounded table.
    return dg.MaterializeResult(metadata=full_report(status_store.store(), context.instance))
