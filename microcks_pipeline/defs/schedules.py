"""Schedules: the drift audit (full Microcks scan) and event retention."""

import dagster as dg

from microcks_pipeline.defs.jobs import drift_audit_job, prune_events_job
from microcks_pipeline.defs.resources import MicrocksResource
from microcks_pipeline.defs.settings import Settings

SETTINGS = Settings.from_env()


@dg.schedule(
    job=drift_audit_job,
    cron_schedule=SETTINGS.audit_cron,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Re-queue services changed or deleted in Microcks; delete our orphans.",
)
def drift_audit_schedule(
    context: dg.ScheduleEvaluationContext, microcks: MicrocksResource
) -> dg.RunRequest | dg.SkipReason:
    reason = microcks.not_configured_reason
    if reason is not None:
        return dg.SkipReason(reason)
    return dg.RunRequest()


@dg.schedule(
    job=prune_events_job,
    cron_schedule=SETTINGS.retention_cron,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description=f"Delete events older than {SETTINGS.retention_days} days.",
)
def event_retention_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    return dg.RunRequest(
        run_config={"ops": {"prune_events": {"config": {"days": SETTINGS.retention_days}}}}
    )
