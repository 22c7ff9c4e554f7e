"""Code schedules: today's sales are refreshed through the day (user schedules come from the DB)."""

import dagster as dg

from callaudit.settings import get_settings
from orchestration.jobs import sync_sales_day_job
from runs.contract import SOURCE_TAG

_settings = get_settings()


@dg.schedule(
    name="refresh_today_sales",
    cron_schedule=_settings.sales_refresh_cron,
    execution_timezone=_settings.sales_timezone,
    job=sync_sales_day_job,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Refresh today's sales and fetch new fiches (cron: SALES_REFRESH_CRON).",
)
def refresh_today_sales(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    today = context.scheduled_execution_time.date()  # already in execution_timezone
    return dg.RunRequest(partition_key=today.isoformat(), tags={SOURCE_TAG: "schedule"})
