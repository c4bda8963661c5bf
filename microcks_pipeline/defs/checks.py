"""Asset check: every mock of the entity answers one of its own examples, asked as a client of
its type would (HTTP for REST, SOAP and GraphQL, a gRPC unary call, a WebSocket subscription)."""

import dagster as dg
import httpx

from microcks_pipeline.core.errors import PipelineError
from microcks_pipeline.defs.assets import MICROCKS_POOL
from microcks_pipeline.defs.partitions import entity_partitions, entity_ref_of
from microcks_pipeline.defs.resources import MicrocksResource, StatusStoreResource
from microcks_pipeline.sync.probe import probe_service


@dg.asset_check(
    asset="microcks_services",
    # Partitioned like its asset, so each entity's partition shows its own check result; and it
    # reads Microcks, so it takes a slot of the same pool (`partitions_def`/`pool` of
    # dagster's asset_check decorator, 1.13).
    partitions_def=entity_partitions,
    pool=MICROCKS_POOL,
    blocking=False,
    description="Each synced mock answers one of its examples as the example says.",
)
def mocks_answer_examples(
    context: dg.AssetCheckExecutionContext,
    microcks: MicrocksResource,
    status_store: StatusStoreResource,
) -> dg.AssetCheckResult:
    ref = entity_ref_of(context.partition_key)
    reason = microcks.not_configured_reason
    if reason is not None:
        return dg.AssetCheckResult(passed=False, description=reason)
    store = status_store.store()
    rows = [
        r
        for r in store.rows(ref)
        if r.desired_action == "reconcile" and r.status == "completed" and r.microcks_service_id
    ]
    if not rows:
        return dg.AssetCheckResult(passed=True, description="no synced mock to check")
    results: dict[str, str] = {}
    failed: list[str] = []
    try:
        with microcks.client(store) as client, httpx.Client(timeout=microcks.timeout) as http:
            for row in rows:
                view = client.get_service_view(str(row.microcks_service_id))
                if view is None:
                    outcome = f"service {row.microcks_service_id} is missing in Microcks"
                    ok = False
                else:
                    answer = probe_service(client, view, http, microcks.timeout)
                    ok, outcome = answer.ok, answer.detail
                results[row.mock_id] = outcome
                if not ok:
                    failed.append(row.mock_id)
    except PipelineError as exc:
        return dg.AssetCheckResult(passed=False, description=f"Microcks could not be read: {exc}")
    return dg.AssetCheckResult(
        passed=not failed,
        description="all mocks answer their examples" if not failed else f"failing: {failed}",
        metadata={
            "checked": len(rows),
            "failing": len(failed),
            "results": dg.MetadataValue.json(results),
        },
    )
