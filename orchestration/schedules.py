"""Code schedules: today's sales are refreshed through the day (user schedules come from the DB)."""

import dagster as dg

from orchestration.jobs import sync_sales_day_job
from runs.contract import SOURCE_TAG


def build_refresh_today_sales(cron: str, timezone: str) -> dg.ScheduleDefinition:
    """The refresh at SALES_REFRESH_CRON in SALES_TIMEZONE (given when the definitions are built)."""

    @dg.schedule(
        name="refresh_today_sales",
        cron_schedule=cron,
        execution_timezone=timezone,
        job=sync_sales_day_job,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Refresh today's sales and fetch new fiches (cron: SALES_REFRESH_CRON).",
    )
    def refresh_today_sales(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        today = context.scheduled_execution_time.date()  # already in execution_timezone
        return dg.RunRequest(partition_key=today.isoformat(), tags={SOURCE_TAG: "schedule"})

    return refresh_today_sales
