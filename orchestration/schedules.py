"""Code schedules: today's sales are refreshed through the day (user schedules come from the DB)."""

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg
from croniter import croniter

from orchestration.jobs import sync_sales_day_job
from runs.contract import SOURCE_TAG

REFRESH_TODAY_SALES = "refresh_today_sales"


def build_refresh_today_sales(cron: str, timezone: str) -> dg.ScheduleDefinition:
    """The refresh at SALES_REFRESH_CRON in SALES_TIMEZONE (given when the definitions are built)."""

    @dg.schedule(
        name=REFRESH_TODAY_SALES,
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


def next_tick_within(cron: str, timezone: str, now: dt.datetime, seconds: float) -> dt.datetime | None:
    """The schedule's next tick (the instant it is due, as Dagster's scheduled execution time) when it
    falls in the `seconds` after `now` (aware), else None."""
    tick: dt.datetime = croniter(cron, now.astimezone(ZoneInfo(timezone))).get_next(dt.datetime)
    return tick if tick - now <= dt.timedelta(seconds=seconds) else None
