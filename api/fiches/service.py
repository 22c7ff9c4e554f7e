"""What the fiche routes do: scoped reads in SQL, cache-first live fetches, progressive fetch jobs.

Live fetches go through `services.ingestion.FicheSync` (the code the Dagster assets run), which
writes in its own transactions; reads go through the request's session and are filtered by the
caller's scope in SQL (`domain.scoping`), so totals and pages only count visible fiches.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import ExternalServiceError, Forbidden, NotFound, ServiceUnavailable
from api.fiches.schemas import (
    CoverageState,
    DayCoverageOut,
    FetchJobOut,
    FicheCacheOut,
    FicheListItem,
    JobProgress,
    RangeMeta,
)
from api.security import Grant
from callaudit.settings import Settings
from domain.crm.cache import CachePolicy, decide, has_fallback_details
from domain.crm.fetch_jobs import (
    DayOutcomes,
    DayState,
    announce_outcome,
    classify_days,
    conclude,
    fetch_payload,
    fiches_in_range,
    job_days,
    runs_failed,
)
from domain.crm.store import DetailsNotStored, load_cache_state, reconstruct_payload
from domain.events import Event, job_topic
from domain.models import DayCoverageStatus, Fiche, FicheFetchJob, FicheFetchJobStatus, FicheFetchStatus
from domain.models.fiches import SalesDayCoverage
from domain.rbac import Scope
from domain.scoping import apply_fiche_scope
from resources.crm.errors import CrmCapUnavailable, CrmError
from resources.redis import EventPublisher, RedisUnavailable
from runs.contract import FETCH_JOB_TAG, REQUEST_ID_TAG, SOURCE_TAG
from runs.launcher import LaunchFailed, LaunchRequest, RunLauncher
from services.ingestion import FicheOutcome, FicheSync

log = logging.getLogger(__name__)

MAX_RANGE_DAYS = 366
NOT_FOUND = "Fiche not found"  # one message whether the id is unknown, out of scope or absent from the CRM
DEDUP_SECONDS = 300
TERMINAL_BACKFILL = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


def today_in(settings: Settings) -> dt.date:
    return dt.datetime.now(ZoneInfo(settings.sales_timezone)).date()


def days_between(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


# --- scoped reads --------------------------------------------------------------------------------


def scoped(statement: Select[Any], grant: Grant) -> Select[Any]:
    return apply_fiche_scope(statement, grant)


async def visible_fiche(session: AsyncSession, grant: Grant, fiche_id: str) -> Fiche | None:
    statement = select(Fiche).where(Fiche.fiche_id == fiche_id).execution_options(populate_existing=True)
    return (await session.scalars(scoped(statement, grant).limit(1))).first()


async def visible_or_404(session: AsyncSession, grant: Grant, fiche_id: str) -> Fiche:
    fiche = await visible_fiche(session, grant, fiche_id)
    if fiche is None:
        raise NotFound(NOT_FOUND)
    return fiche


def list_item(fiche: Fiche) -> FicheListItem:
    return FicheListItem(
        fiche_id=fiche.fiche_id,
        sales_date=fiche.sales_date,
        groupe=fiche.groupe,
        agence_nom=fiche.agence_nom,
        prospect_nom=fiche.prospect_nom,
        prospect_prenom=fiche.prospect_prenom,
        fetch_status=fiche.fetch_status,
        recordings_count=fiche.recordings_count,
        fetched_at=fiche.fetched_at,
        created_at=fiche.created_at,
    )


def cache_out(fiche: Fiche) -> FicheCacheOut:
    return FicheCacheOut(
        fiche_id=fiche.fiche_id,
        groupe=fiche.groupe,
        prospect_nom=fiche.prospect_nom,
        prospect_prenom=fiche.prospect_prenom,
        recordings_count=fiche.recordings_count,
        fetched_at=fiche.fetched_at,
        expires_at=fiche.expires_at,
        fetch_status=fiche.fetch_status,
        fetch_error=fiche.fetch_error,
    )


@dataclass(frozen=True)
class DayCoverage:
    """A sales day as far as the fiches of it are concerned: `status` is FETCHED only when the CRM
    search succeeded *and* every fiche it listed has its details or a terminal outcome. A search
    followed by a failed details step (e.g. Redis down) is not a fetched day: re-running the range
    fetches what is missing instead of reporting it complete."""

    status: str
    searched: bool  # the CRM search itself succeeded (the details may still be missing)
    missing_details: int  # fiches of the day still without details or a terminal outcome
    fiche_count: int
    error: str | None  # the last CRM search failure
    fetched_at: dt.datetime | None
    updated_at: dt.datetime | None


UNSETTLED = (FicheFetchStatus.SUMMARY.value, FicheFetchStatus.FAILED.value)
PARTIAL = "partial"


async def coverage_of(session: AsyncSession, days: Sequence[dt.date]) -> dict[dt.date, DayCoverage]:
    if not days:
        return {}
    rows = await session.scalars(
        select(SalesDayCoverage)
        .where(SalesDayCoverage.sales_date.in_(list(days)))
        .execution_options(populate_existing=True)
    )
    unsettled = dict(
        (
            await session.execute(
                select(Fiche.sales_date, func.count())
                .where(Fiche.sales_date.in_(list(days)), Fiche.fetch_status.in_(UNSETTLED))
                .group_by(Fiche.sales_date)
            )
        ).all()
    )
    found = {}
    for row in rows:
        searched = row.status == DayCoverageStatus.FETCHED
        missing = unsettled.get(row.sales_date, 0)
        status = PARTIAL if searched and missing else row.status
        found[row.sales_date] = DayCoverage(
            status, searched, missing, row.fiche_count, row.error, row.fetched_at, row.updated_at
        )
    return found


async def day_states_of(session: AsyncSession, days: Sequence[dt.date]) -> dict[dt.date, DayState]:
    coverage = await coverage_of(session, days)
    return {
        day: DayState(row.status == DayCoverageStatus.FETCHED, row.searched, row.error, row.updated_at)
        for day, row in coverage.items()
    }


def coverage_out(day: dt.date, row: DayCoverage | None) -> DayCoverageOut:
    if row is None:
        return DayCoverageOut(date=day, status="not_fetched")
    status: CoverageState = (
        "fetched" if row.status == DayCoverageStatus.FETCHED else "partial" if row.status == PARTIAL else "failed"
    )
    error = row.error or (f"{row.missing_details} fiche(s) of the day without details" if row.missing_details else None)
    return DayCoverageOut(date=day, status=status, fetched_at=row.fetched_at, error=error)


# --- details (cache-first) -----------------------------------------------------------------------


@dataclass
class DetailsResult:
    payload: dict[str, Any]
    fiche: Fiche
    stale: bool
    fetched: bool
    outcome: str | None
    error: str | None  # for the caller: why stored details were served instead of fresh ones


CRM_DOWN = "the CRM could not be reached; stored details served"


def _scope_decidable(fiche: Fiche) -> bool:
    """Whether the row says whose it is; a bare summary or NOT_FOUND marker does not yet."""
    return fiche.fetch_status == FicheFetchStatus.DETAILS or bool(fiche.crm_group_id or fiche.attribution_user_id)


async def load_details(
    session: AsyncSession,
    grant: Grant,
    fiche_id: str,
    *,
    refresh: bool,
    may_fetch: bool,
    sync: FicheSync,
    settings: Settings,
) -> DetailsResult:
    """The cached details, fetched live first when missing, expired, broken or `refresh` (§3.7).

    Scope first: a row the caller cannot see is a 404 without any CRM call, unless the row cannot
    say whose it is yet (unknown, summary without group) and the caller may fetch; then it is
    fetched and checked after. Without `may_fetch` nothing is fetched and nothing is written.
    """
    tz = ZoneInfo(settings.sales_timezone)
    fiche = await visible_fiche(session, grant, fiche_id)
    if fiche is None:
        row = (
            await session.scalars(
                select(Fiche).where(Fiche.fiche_id == fiche_id).execution_options(populate_existing=True)
            )
        ).first()
        if not may_fetch or (row is not None and _scope_decidable(row)):
            raise NotFound(NOT_FOUND)
    state = await session.run_sync(lambda s: load_cache_state(s, fiche_id))
    decision = decide(state, dt.datetime.now(dt.UTC), force=refresh, policy=CachePolicy.from_settings(settings))
    fetched, stale, outcome, error = False, False, None, None
    if decision.action.value == "not_found_cached":
        raise NotFound(NOT_FOUND)
    if decision.fetch and not may_fetch:
        if not has_fallback_details(state):
            raise Forbidden("Missing permission fiches.fetch (the details of this fiche are not stored yet)")
        stale, error = True, "stored details served: refreshing them needs the fiches.fetch permission"
    elif decision.fetch:
        fetched, outcome, error = await _fetch_live(
            sync, fiche_id, refresh=refresh, fallback=has_fallback_details(state)
        )
        stale = error is not None
        if fetched:
            await _link_group(session, sync, fiche_id)
    fiche = await visible_fiche(session, grant, fiche_id)
    if fiche is None:
        raise NotFound(NOT_FOUND)
    try:
        payload = await session.run_sync(lambda s: reconstruct_payload(s, fiche_id, tz=tz))
    except DetailsNotStored as exc:
        if exc.status == FicheFetchStatus.NOT_FOUND:
            raise NotFound(NOT_FOUND) from None
        raise ExternalServiceError("The CRM could not be reached and nothing is cached") from None
    return DetailsResult(payload, fiche, stale, fetched, outcome, error)


async def _fetch_live(
    sync: FicheSync, fiche_id: str, *, refresh: bool, fallback: bool
) -> tuple[bool, str | None, str | None]:
    """(fetched, outcome, error for the caller); raises when the CRM fails and nothing is stored."""
    try:
        result = await sync.sync_fiche(fiche_id, force=refresh)
    except CrmCapUnavailable as exc:
        log.warning("fiche %s: %s", fiche_id, exc)
        if not fallback:
            raise ServiceUnavailable("Service unavailable: cannot reach Redis to call the CRM") from None
        return False, None, CRM_DOWN
    except CrmError as exc:
        log.info("fiche %s: the CRM failed: %s", fiche_id, exc.reason)
        if not fallback:
            raise ExternalServiceError("The CRM could not be reached and nothing is cached") from None
        return False, None, CRM_DOWN
    if result.outcome in (FicheOutcome.NOT_FOUND, FicheOutcome.NOT_FOUND_CACHED):
        raise NotFound(NOT_FOUND)
    if result.outcome is FicheOutcome.FAILED:
        if not fallback:
            raise ExternalServiceError("The CRM could not be reached and nothing is cached")
        return False, result.outcome.value, CRM_DOWN
    return result.outcome is FicheOutcome.FETCHED, result.outcome.value, None


async def _link_group(session: AsyncSession, sync: FicheSync, fiche_id: str) -> None:
    """A freshly fetched fiche names its group but not its id; GROUP scope needs the id."""
    row = (await session.execute(select(Fiche.groupe, Fiche.crm_group_id).where(Fiche.fiche_id == fiche_id))).first()
    if row is None or not row.groupe or row.crm_group_id:
        return
    try:
        await sync.link_groups()
    except CrmError as exc:
        log.info("could not link fiche %s to its CRM group: %s", fiche_id, exc)


def can_see_recordings(session_grant: Grant | None, fiche: Fiche) -> bool:
    """`recordings.read` whose scope reaches this fiche (§13.3 #23: not implied by `fiches.read`)."""
    if session_grant is None:
        return False
    if session_grant.scope is Scope.ALL:
        return True
    if session_grant.scope is Scope.GROUP:
        return fiche.crm_group_id is not None and fiche.crm_group_id in session_grant.crm_group_ids
    return session_grant.crm_user_id is not None and fiche.attribution_user_id == session_grant.crm_user_id


# --- progressive date-range fetch ------------------------------------------------------------------


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
        await EventPublisher(redis).publish(job_topic(job_id), Event.PROGRESSIVE_FETCH_CREATED, created)
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
