"""Progressive date-range fetches: one Dagster backfill of the missing days, deduplicated in Redis, and
the job's progress as the days settle.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.fiches.coverage import DayCoverage, day_states_of
from api.fiches.schemas import (
    FetchJobOut,
    JobProgress,
    RangeMeta,
)
from domain.crm.fetch_jobs import (
    DayOutcomes,
    announce_outcome,
    classify_days,
    conclude,
    fetch_payload,
    fiches_in_range,
    job_days,
    runs_failed,
)
from domain.events import Event, job_topic
from domain.models import DayCoverageStatus, FicheFetchJob, FicheFetchJobStatus
from resources.redis import EventPublisher, RedisUnavailable
from runs.contract import FETCH_JOB_TAG, REQUEST_ID_TAG, SOURCE_TAG
from runs.launcher import LaunchFailed, LaunchRequest, RunLauncher

log = logging.getLogger(__name__)


DEDUP_SECONDS = 300
TERMINAL_BACKFILL = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


def dedup_key(days: Sequence[dt.date]) -> str:
    digest = hashlib.sha256(",".join(d.isoformat() for d in days).encode()).hexdigest()[:40]
    return f"callaudit:fiches:progressive:{digest}"


@dataclass
class JobStart:
    job_id: str | None
    status: str | None
    reused: bool
    error: str | None


async def start_progressive_fetch(
    session: AsyncSession,
    redis: aioredis.Redis,
    launcher: RunLauncher,
    *,
    start: dt.date,
    end: dt.date,
    days: Sequence[dt.date],
    refresh: bool,
    requested_by: int | None,
    request_id: str | None,
    partitions_start: dt.date,
) -> JobStart:
    """ONE background fetch of `days`: identical concurrent requests share it (Redis `SET NX`).

    The lock value is the job id; it expires after `DEDUP_SECONDS`, and is dropped at once when the
    launch fails so the next request retries (the original reused a stalled job, §13.2 #3).
    """
    key = dedup_key(days)
    job_id = str(uuid.uuid4())
    try:
        acquired = await redis.set(key, job_id, nx=True, ex=DEDUP_SECONDS)
        if not acquired:
            existing = await redis.get(key)
            if existing:
                existing_id = existing.decode() if isinstance(existing, bytes) else str(existing)
                status = await session.scalar(select(FicheFetchJob.status).where(FicheFetchJob.id == existing_id))
                return JobStart(existing_id, status or FicheFetchJobStatus.LAUNCHED.value, True, None)
            acquired = await redis.set(key, job_id, nx=True, ex=DEDUP_SECONDS)
            if not acquired:
                return JobStart(None, None, False, "an identical fetch is being started; retry shortly")
    except (RedisError, OSError) as exc:
        log.warning("progressive fetch not started, Redis unavailable: %s", type(exc).__name__)
        return JobStart(None, None, False, "background fetch unavailable (Redis); cached data only")

    launchable = [d for d in days if d >= partitions_start]
    job = FicheFetchJob(
        id=job_id,
        start_date=start,
        end_date=end,
        days=[d.isoformat() for d in days],
        refresh=refresh,
        requested_by_id=requested_by,
        status=FicheFetchJobStatus.LAUNCHED.value,
    )
    tags = {SOURCE_TAG: "api", FETCH_JOB_TAG: job_id}
    if request_id:
        tags[REQUEST_ID_TAG] = request_id
    try:
        if not launchable:
            raise LaunchFailed(f"every day is before the first sales partition ({partitions_start})")
        launched = await launcher.launch_days(LaunchRequest(job_id=job_id, days=launchable, tags=tags))
        job.dagster_backfill_id = launched.backfill_id
        job.dagster_run_ids = list(launched.run_ids)
        if len(launchable) < len(days):
            job.error = f"days before {partitions_start} are not sales partitions and were skipped"
    except LaunchFailed as exc:
        job.status = FicheFetchJobStatus.FAILED_TO_LAUNCH.value
        job.error = str(exc)
        log.warning("progressive fetch %s failed to launch: %s", job_id, exc)
        try:
            if await redis.get(key) in (job_id, job_id.encode()):
                await redis.delete(key)
        except (RedisError, OSError):
            pass
    session.add(job)
    await session.flush()
    total_fiches = int(await session.scalar(fiches_in_range(job)) or 0)
    if job.status == FicheFetchJobStatus.FAILED_TO_LAUNCH:
        announce_outcome(
            session, job, DayOutcomes([], list(days), []), total_fiches=total_fiches, run_id=None, base_url=None
        )
    try:
        created = fetch_payload(job, DayOutcomes([], [], list(days)), total_fiches=total_fiches, run_id=None)
        # A request does not wait out an outage (the job row is the record): one attempt.
        publisher = EventPublisher(redis, outage_seconds=0)
        await publisher.publish(job_topic(job_id), Event.PROGRESSIVE_FETCH_CREATED, created)
    except (RedisUnavailable, RedisError, OSError) as exc:
        log.info("could not publish the creation of job %s: %s", job_id, exc)
    return JobStart(job_id, job.status, False, job.error)


def range_meta(
    start: dt.date, end: dt.date, days: Sequence[dt.date], coverage: dict[dt.date, DayCoverage]
) -> RangeMeta:
    missing = [d for d in days if d not in coverage or coverage[d].status != DayCoverageStatus.FETCHED]
    return RangeMeta(
        start_date=start,
        end_date=end,
        total_days=len(days),
        days_fetched=len(days) - len(missing),
        days_missing=len(missing),
        dates_missing=missing,
        complete=not missing,
    )


# --- job progress ---------------------------------------------------------------------------------


async def job_report(
    session: AsyncSession,
    job: FicheFetchJob,
    launcher: RunLauncher,
    caller_user_id: int | None,
    base_url: str | None = None,
) -> FetchJobOut:
    """Progress from day coverage since the job was created, plus Dagster's word when reachable;
    a terminal outcome is stored on the job once reached. While Dagster says the backfill is still
    going, the job is not concluded, even if every day already looks covered (another run may have
    covered them): the job is done when its backfill is."""
    days = job_days(job)
    states = await day_states_of(session, days)
    outcomes = classify_days(days, states, since=job.created_at, refresh=job.refresh, runs_failed=runs_failed(job))
    done, failed, remaining = outcomes.done, outcomes.failed, outcomes.remaining
    dagster_status = None
    if job.dagster_backfill_id and job.status == FicheFetchJobStatus.LAUNCHED:
        dagster_status = await launcher.backfill_status(job.dagster_backfill_id)
        if dagster_status in TERMINAL_BACKFILL and remaining:
            failed, remaining = failed + remaining, []
    backfill_going = dagster_status is not None and dagster_status not in TERMINAL_BACKFILL
    if job.status == FicheFetchJobStatus.LAUNCHED and not remaining and not backfill_going:
        await session.refresh(job, with_for_update=True)  # a run may be concluding it right now
        if job.status == FicheFetchJobStatus.LAUNCHED:
            concluded = DayOutcomes(done, failed, [])
            conclude(job, concluded)
            await session.flush()
            total_fiches = int(await session.scalar(fiches_in_range(job)) or 0)
            announce_outcome(session, job, concluded, total_fiches=total_fiches, run_id=None, base_url=base_url)
            await session.refresh(job)
    total = len(days)
    return FetchJobOut(
        id=job.id,
        status=job.status,
        start_date=job.start_date,
        end_date=job.end_date,
        days=days,
        refresh=job.refresh,
        requested_by_me=caller_user_id is not None and job.requested_by_id == caller_user_id,
        dagster_backfill_id=job.dagster_backfill_id,
        dagster_status=dagster_status,
        error=job.error,
        progress=JobProgress(
            total_days=total,
            days_done=len(done),
            days_failed=len(failed),
            days_remaining=len(remaining),
            dates_failed=failed,
            dates_remaining=remaining,
            percentage=round(100.0 * (len(done) + len(failed)) / total, 1) if total else 100.0,
        ),
        created_at=job.created_at,
        updated_at=job.updated_at,
    )
