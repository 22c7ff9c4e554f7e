"""Automation down the chain: fetched details are transcribed, transcribed fiches are audited; user
schedules stored in the database are run when due.

Two sensors keyed on the application's tables (`domain.automation`), not on asset
materializations: the API's ad-hoc jobs write the same rows as the assets, so a fiche fetched or
transcribed through the API moves on exactly like one of the scheduled day. Each request is keyed
by the day (and scorecard) and the newest change it covers, so a queued run is not asked for
again, and new fiches of the same day make a new request (the assets are incremental). A day whose
run of the stage has not ended gets no second one: that run takes the day's new fiches itself
(`services.drain`); what it leaves is still in the sensor's window once it has ended. And a day's
run of a stage is requested as soon as a run upstream of it works on the day (key `...:after:<run
id>`), so its process start overlaps that run instead of following the first fiche it hands on.

`automation_scheduler` (every AUTOMATION_SCHEDULER_CRON tick) reconciles runs left behind, creates the
runs that are due (catch-up within AUTOMATION_SCHEDULER_WINDOW_MINUTES, older due times recorded as
`missed`) and requests `automation_run_job` for them with `run_key = sched:{id}:{due_at}`. The
zero-config chain above needs no schedule; a schedule can replace it for chosen groups.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg

from assets.fiches import fiche_details
from assets.partitions import scorecards
from assets.stage import days_being_worked, runs_in_progress
from assets.transcripts import transcripts
from callaudit.settings import Settings
from domain.automation import audits_to_run, automatic_scorecards, database_now, days_to_transcribe
from domain.schedules.scheduler import TickSettings, tick
from domain.schedules.timing import tick_seconds
from orchestration.jobs import audit_sales_day_job, automation_run_job, transcribe_sales_day_job
from resources.database import DatabaseResource
from runs.contract import (
    AUDIT_SALES_DAY_JOB,
    SOURCE_TAG,
    TRANSCRIBE_SALES_DAY_JOB,
    RunAutomation,
    automation_tags,
)

PARTITION = "dagster/partition"

#: How far behind the newest row seen a sensor looks again: a transaction that committed after a
#: tick with a timestamp older than that tick's newest row is still found.
GRACE = dt.timedelta(minutes=10)

AUTOMATION_TAGS = {SOURCE_TAG: "automation"}

#: Seconds between ticks of the two chain sensors: a stage's first run of the day starts this soon after
#: an upstream run of the day is created (the runs then take the day's fiches as they come). The
#: daemon looks at its sensors every 5 s, so 5 is the shortest that means anything; 10 made ticks
#: 10-15 s apart, and that wait was half of the day's time to its first audit (decision 105).
CHAIN_TICK_SECONDS = 5


def _partition_days(settings: Settings) -> dict[str, dt.date]:
    """The sales days that are partitions: from SALES_PARTITIONS_START to today (SALES_TIMEZONE)."""
    today = dt.datetime.now(ZoneInfo(settings.sales_timezone)).date()
    return {"first_day": settings.sales_partitions_start, "last_day": today}


def watermark(cursor: str | None, now: dt.datetime) -> dt.datetime:
    """Where the last tick left off; the first tick starts now (history is a backfill)."""
    return dt.datetime.fromisoformat(cursor) if cursor else now


def next_cursor(previous: dt.datetime, newest: list[dt.datetime], now: dt.datetime) -> str:
    """Never backwards, and at most `GRACE` behind the clock, so the window stays bounded."""
    return max([previous, now - GRACE, *newest]).isoformat()


@dg.sensor(
    job=transcribe_sales_day_job,
    description="Transcribes the days whose fiches got their details since the last transcription (from the "
    "schedule, a backfill or the API alike), and starts a day's run as soon as its details are being fetched.",
    minimum_interval_seconds=CHAIN_TICK_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def transcribe_fetched_fiches(
    context: dg.SensorEvaluationContext, database: DatabaseResource, settings: dg.ResourceParam[Settings]
) -> dg.SensorResult:
    days = _partition_days(settings)
    with database.session() as session:
        now = database_now(session)
        since = watermark(context.cursor, now)
        work = days_to_transcribe(session, since=since - GRACE, **days)
    job = TRANSCRIBE_SALES_DAY_JOB
    work = [w for w in work if not runs_in_progress(context.instance, {PARTITION: w.day.isoformat()}, job_name=job)]
    keys = {w.day: f"transcripts:{w.day}:{w.newest.isoformat()}" for w in work}
    # A day whose details are being fetched gets its run now: it starts while they land, and takes them.
    for day, upstream in days_being_worked(context.instance, {fiche_details.key}, **days).items():
        if day not in keys and not runs_in_progress(context.instance, {PARTITION: day.isoformat()}, job_name=job):
            keys[day] = f"transcripts:{day}:after:{upstream}"
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(run_key=key, partition_key=day.isoformat(), tags=AUTOMATION_TAGS)
            for day, key in sorted(keys.items())
        ],
        cursor=next_cursor(since, [w.newest for w in work], now),
    )


@dg.sensor(
    job=audit_sales_day_job,
    description="Audits fiches fully transcribed since their last audit with every active scorecard marked to "
    "run automatically (whoever transcribed them), and starts a day's runs as soon as it is being fetched or "
    "transcribed.",
    minimum_interval_seconds=CHAIN_TICK_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def audit_automatic_scorecards(
    context: dg.SensorEvaluationContext, database: DatabaseResource, settings: dg.ResourceParam[Settings]
) -> dg.SensorResult:
    days = _partition_days(settings)
    with database.session() as session:
        now = database_now(session)
        since = watermark(context.cursor, now)
        ids = automatic_scorecards(session)
        work = audits_to_run(session, ids, since=since - GRACE, **days)
    work = [w for w in work if not _auditing(context.instance, w.day, w.scorecard_id)]
    keys = {(w.day, w.scorecard_id): f"audits:{w.day}:{w.scorecard_id}:{w.newest.isoformat()}" for w in work}
    # A day being fetched or transcribed gets its runs now: they start while transcripts land, and take them.
    for day, upstream in days_being_worked(context.instance, {fiche_details.key, transcripts.key}, **days).items():
        for scorecard_id in ids:
            if (day, scorecard_id) not in keys and not _auditing(context.instance, day, scorecard_id):
                keys[day, scorecard_id] = f"audits:{day}:{scorecard_id}:after:{upstream}"
    wanted = {str(scorecard_id) for _, scorecard_id in keys}
    unknown = sorted(wanted - set(context.instance.get_dynamic_partitions(scorecards.name or "scorecards")))
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=key,
                partition_key=dg.MultiPartitionKey({"sales_day": day.isoformat(), "scorecard": str(scorecard_id)}),
                tags=AUTOMATION_TAGS,
            )
            for (day, scorecard_id), key in sorted(keys.items())
        ],
        dynamic_partitions_requests=[scorecards.build_add_request(unknown)] if unknown else [],
        cursor=next_cursor(since, [w.newest for w in work], now),
    )


def _auditing(instance: dg.DagsterInstance, day: dt.date, scorecard_id: int) -> bool:
    tags = {f"{PARTITION}/sales_day": day.isoformat(), f"{PARTITION}/scorecard": str(scorecard_id)}
    return bool(runs_in_progress(instance, tags, job_name=AUDIT_SALES_DAY_JOB))


def _dagster_status(instance: dg.DagsterInstance, run_id: str) -> str | None:
    run = instance.get_run_by_id(run_id)
    return run.status.value if run is not None else None


def build_automation_scheduler(cron: str) -> dg.SensorDefinition:
    """The scheduler sensor, evaluated every AUTOMATION_SCHEDULER_CRON tick (given when the definitions
    are built)."""

    @dg.sensor(
        name="automation_scheduler",
        job=automation_run_job,
        description="Runs the automation schedules stored in the database when they are due (catch-up within "
        "AUTOMATION_SCHEDULER_WINDOW_MINUTES, older due times recorded as missed) and reconciles runs left behind.",
        minimum_interval_seconds=tick_seconds(cron),
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def automation_scheduler(
        context: dg.SensorEvaluationContext, database: DatabaseResource, settings: dg.ResourceParam[Settings]
    ) -> dg.SensorResult:
        tick_settings = TickSettings(
            window=dt.timedelta(minutes=settings.automation_scheduler_window_minutes),
            stale_after=dt.timedelta(
                milliseconds=settings.automation_stale_threshold_ms + settings.automation_scheduler_stale_grace_ms
            ),
        )
        with database.session() as session:
            now = database_now(session)
            due = tick(
                session, now=now, settings=tick_settings, dagster_status=lambda i: _dagster_status(context.instance, i)
            )
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=d.key,
                    run_config=RunAutomation(automation_run_id=d.run_id).run_config(),
                    tags={
                        **automation_tags(
                            d.run_id,
                            d.schedule_id,
                            d.schedule_name,
                            source="schedule",
                            priority=d.priority,
                            max_concurrent_runs=d.max_concurrent_runs,
                        ),
                        **({"app/due_at": d.due_at.isoformat()} if d.due_at else {}),
                    },
                )
                for d in due
            ]
        )

    return automation_scheduler
