"""`/api/fiches`: cached CRM fiches, their status, day coverage and progressive date-range fetches.

Every route needs `fiches.read`. Anything that calls the CRM or stores what it answers (the live
search, fetching missing, expired or refreshed details, the background range fetch) additionally
needs `fiches.fetch`: without it a route answers from the cache only. Lists are filtered by the
caller's fiche scope in SQL; a fiche outside the scope is a 404, like a missing one, with the same
message. Static paths are declared before `/{fiche_id}`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request

from api.deps import RedisDep, SessionDep, SettingsDep
from api.errors import BadRequest, Forbidden, NotFound
from api.fiches import details, jobs, progressive, reads, status
from api.fiches.coverage import coverage_of, coverage_out
from api.fiches.deps import FicheSyncDep
from api.fiches.schemas import (
    FICHE_ID_PATTERN,
    ByDateMeta,
    ByDateRangeResponse,
    ByDateResponse,
    DetailsMeta,
    FetchJobOut,
    FicheCacheOut,
    FicheDetailsResponse,
    FicheListItem,
    FicheStatusOut,
    SearchMeta,
    SearchResponse,
    StatusBatchIn,
    StatusBatchResponse,
)
from api.runs import LauncherDep
from api.schemas import Envelope, Page, PageParams, SalesDay, ok, page_params
from api.security import Grant, Str255, fetch_page, require
from api.sql_json import JSONText, envelope, object_text
from api.webhooks.router import EgressPolicyDep
from api.webhooks.service import checked_url
from domain.models import FicheFetchJob
from domain.rbac import Action, Scope

router = APIRouter(prefix="/fiches", tags=["fiches"])

ReadFiches = Annotated[Grant, Depends(require("fiches", "read"))]
FicheIdPath = Annotated[str, Path(pattern=FICHE_ID_PATTERN, description="CRM fiche id")]
Pages = Annotated[PageParams, Depends(page_params)]
Refresh = Annotated[bool, Query(description="Refetch from the CRM (needs `fiches.fetch`)")]
Day = Annotated[SalesDay, Query(description="Sales day (YYYY-MM-DD)")]


def _fetch_grant(grant: Grant) -> Grant | None:
    return grant.principal.grant("fiches.fetch", Action.WRITE)


def _require_fetch(grant: Grant, why: str) -> Grant:
    fetch = _fetch_grant(grant)
    if fetch is None:
        raise Forbidden(f"Missing permission fiches.fetch (needed for {why})")
    return fetch


@router.get("", response_model=Page[FicheListItem], summary="Stored fiches in scope, newest sales day first")
async def list_fiches(  # noqa: PLR0917 - FastAPI dependencies and query parameters
    grant: ReadFiches,
    session: SessionDep,
    page: Pages,
    sales_date_from: Annotated[SalesDay | None, Query(description="First sales day (YYYY-MM-DD), inclusive")] = None,
    sales_date_to: Annotated[SalesDay | None, Query(description="Last sales day (YYYY-MM-DD), inclusive")] = None,
    groupe: Annotated[Str255 | None, Query(description="Only fiches of this CRM group (exact name)")] = None,
) -> Page[FicheListItem]:
    """What is stored, never a CRM call: the fiches the caller may see, filtered in SQL and paginated
    (`page` starts at 1). `POST /api/fiches/search` ingests a day first."""
    if sales_date_from and sales_date_to and sales_date_from > sales_date_to:
        raise BadRequest("sales_date_from must be on or before sales_date_to", field="sales_date_from")
    rows, total = await reads.fiches_page(
        session, grant, page, first_day=sales_date_from, last_day=sales_date_to, groupe=groupe
    )
    return page.paginate([FicheListItem.model_validate(f) for f in rows], total)


_COMPATIBILITY_GET = "The original's `GET`, kept for compatibility: it starts the same work as the `POST`. "


@router.post(
    "/search",
    response_model=SearchResponse,
    summary="Ingest one day's CRM sales, then list them",
    responses={502: {"description": "The CRM sales search failed"}},
)
@router.get(
    "/search",
    response_model=SearchResponse,
    summary="Ingest one day's CRM sales, then list them (compatibility GET)",
    description=_COMPATIBILITY_GET + "Prefer `POST /api/fiches/search`.",
    responses={502: {"description": "The CRM sales search failed"}},
)
async def search_sales(  # noqa: PLR0917 - FastAPI dependencies
    grant: ReadFiches,
    session: SessionDep,
    settings: SettingsDep,
    sync: FicheSyncDep,
    page: Pages,
    date: Day,
) -> SearchResponse:
    """Searches the CRM for the day's sales through the same code as the Dagster assets (summaries
    stored, the day marked covered, zero sales included), then answers with the stored fiches of
    that day the caller may see, paginated in SQL (fix of §13.2 #16). Needs `fiches.fetch`; a day
    after today (SALES_TIMEZONE) has no sales to search."""
    _require_fetch(grant, "a live CRM search; GET /api/fiches/status/by-date lists the cached day")
    if date > reads.today_in(settings):
        raise BadRequest("date cannot be after today", field="date")
    result = await sync.sync_sales_day(date, include_recordings=settings.fiche_sales_include_recordings)
    rows, total = await reads.day_page(session, grant, page, date)
    coverage = await coverage_of(session, [date])
    listing = page.paginate([FicheListItem.model_validate(f) for f in rows], total)
    return SearchResponse(
        data=listing.data,
        pagination=listing.pagination,
        meta=SearchMeta(
            date=date,
            listed_by_crm=result.fiches if grant.scope is Scope.ALL else None,
            coverage=coverage_out(date, coverage.get(date)),
        ),
    )


@router.post("/status/batch", response_model=StatusBatchResponse, summary="Status of many fiches")
async def status_batch(body: StatusBatchIn, grant: ReadFiches, session: SessionDep) -> JSONText:
    """The stored status of up to 500 fiches by id (`fiche_ids`), each with its transcription and audit state, in
    one query; a fiche missing or out of the caller's scope answers its id with empty fields."""
    ids = list(dict.fromkeys(body.fiche_ids))
    found = await status.statuses(session, grant, ids)
    return envelope(object_text((i, found.get(i) or status.empty_status(i)) for i in ids))


@router.get("/status/by-date", response_model=ByDateResponse, summary="Cached fiches of one sales day")
async def status_by_date(
    grant: ReadFiches,
    session: SessionDep,
    page: Pages,
    date: Day,
) -> ByDateResponse:
    """The stored fiches of one sales day in the caller's scope, paginated (`page` starts at 1), and whether that
    day was fetched from the CRM. Reads only; `POST /api/fiches/search` ingests a day."""
    rows, total = await reads.day_page(session, grant, page, date)
    coverage = await coverage_of(session, [date])
    listing = page.paginate([FicheListItem.model_validate(f) for f in rows], total)
    return ByDateResponse(
        data=listing.data,
        pagination=listing.pagination,
        meta=ByDateMeta(date=date, coverage=coverage_out(date, coverage.get(date))),
    )


@router.post(
    "/status/by-date-range",
    response_model=ByDateRangeResponse,
    summary="Cached fiches of a date range now, plus one background fetch of the missing days",
)
@router.get(
    "/status/by-date-range",
    response_model=ByDateRangeResponse,
    summary="Cached fiches of a date range, fetching missing days (compatibility GET)",
    description=_COMPATIBILITY_GET + "Prefer `POST /api/fiches/status/by-date-range`.",
)
async def status_by_date_range(  # noqa: PLR0917 - FastAPI dependencies and query parameters
    request: Request,
    grant: ReadFiches,
    session: SessionDep,
    settings: SettingsDep,
    redis: RedisDep,
    launcher: LauncherDep,
    policy: EgressPolicyDep,
    page: Pages,
    start_date: Annotated[SalesDay, Query(description="First sales day (YYYY-MM-DD)")],
    end_date: Annotated[SalesDay, Query(description="Last sales day, clamped to today (SALES_TIMEZONE)")],
    refresh: Refresh = False,
    webhook_url: Annotated[
        str | None, Query(alias="webhookUrl", max_length=2000, description="Receiver of the job's outcome")
    ] = None,
    webhook_secret: Annotated[
        str | None,
        Query(alias="webhookSecret", min_length=16, max_length=200, description="Signing secret (default: generated)"),
    ] = None,
) -> ByDateRangeResponse:
    """Answers at once from the cache. When days are missing (or `refresh`), ONE Dagster backfill of
    the `sync_sales_day` assets is launched for them; identical concurrent requests share it
    (`meta.job_id`, poll `GET /api/fiches/jobs/{job_id}`), if the caller has `fiches.fetch`. A
    Dagster outage never fails this request: the job is recorded as `failed_to_launch`.

    `webhookUrl` (SSRF-checked: 400 naming it) subscribes that URL to the job's
    `fiches.progressive_fetch.complete|failed`, signed with `webhookSecret` or a generated secret
    returned once in `meta.webhook_secret`; its `partialData` holds only fiches in the caller's scope."""
    if webhook_url is not None:
        await checked_url(webhook_url, policy, "webhookUrl")
    if start_date > end_date:
        raise BadRequest("start_date must be on or before end_date", field="start_date")
    if (end_date - start_date).days + 1 > reads.MAX_RANGE_DAYS:
        raise BadRequest(f"the range is limited to {reads.MAX_RANGE_DAYS} days", field="end_date")
    may_fetch = _require_fetch(grant, "refresh=true") if refresh else _fetch_grant(grant)
    end = min(end_date, reads.today_in(settings))
    days = reads.days_between(start_date, end) if start_date <= end else []
    coverage = await coverage_of(session, days)
    meta = progressive.range_meta(start_date, end, days, coverage)
    rows, total = await reads.range_page(session, grant, page, start_date, end)
    wanted = days if refresh else meta.dates_missing
    if wanted and may_fetch is None:
        meta.job_error = "missing days are not fetched: that needs the fiches.fetch permission"
    elif wanted:
        started = await progressive.start_progressive_fetch(
            session,
            redis,
            launcher,
            start=start_date,
            end=end,
            days=wanted,
            refresh=refresh,
            requested_by=grant.principal.user_id,
            request_id=getattr(request.state, "request_id", None),
            partitions_start=settings.sales_partitions_start,
        )
        meta.job_id, meta.job_status, meta.job_reused, meta.job_error = (
            started.job_id,
            started.status,
            started.reused,
            started.error,
        )
        if webhook_url is not None and started.job_id is not None:
            subscription_id, generated = await jobs.subscribe_job(
                session, settings, policy, job_id=started.job_id, url=webhook_url, secret=webhook_secret, grant=grant
            )
            meta.webhook_subscription_id, meta.webhook_secret = str(subscription_id), generated
    listing = page.paginate([FicheListItem.model_validate(f) for f in rows], total)
    return ByDateRangeResponse(data=listing.data, pagination=listing.pagination, meta=meta)


JobIdPattern = r"^[0-9a-f-]{36}$"


async def _job(session: SessionDep, job_id: str) -> FicheFetchJob:
    job = await reads.fetch_job(session, job_id)
    if job is None:
        raise NotFound("Job not found")
    return job


@router.get("/jobs", response_model=Page[jobs.FetchJobSummary], summary="Progressive fetches, newest first")
async def list_jobs(
    grant: ReadFiches,
    session: SessionDep,
    page: Pages,
    status: Annotated[
        Literal["launched", "failed_to_launch", "complete", "failed"] | None, Query(description="Only this status")
    ] = None,
) -> Page[jobs.FetchJobSummary]:
    """The caller's own progressive fetches (everyone's with ALL scope on fiches), with how many webhook
    subscriptions each has. Statuses are the stored ones; `GET /api/fiches/jobs/{job_id}` concludes a job."""
    rows, total = await fetch_page(session, jobs.visible_jobs(grant, status), page)
    return page.paginate(await jobs.summaries(session, rows, grant.principal.user_id), total)


@router.get("/jobs/{job_id}", response_model=Envelope[FetchJobOut], summary="Progress of a progressive fetch")
async def fetch_job(
    job_id: Annotated[str, Path(pattern=JobIdPattern, description="Job id (UUID)")],
    grant: ReadFiches,
    session: SessionDep,
    settings: SettingsDep,
    launcher: LauncherDep,
) -> Envelope[FetchJobOut]:
    """Day-level progress only (no fiche data, so no scope leak): days done / failed / remaining
    from sales-day coverage since the job started, and the Dagster backfill status if reachable."""
    job = await _job(session, job_id)
    return ok(await progressive.job_report(session, job, launcher, grant.principal.user_id, settings.api_base_url))


@router.get(
    "/webhooks/fiches",
    response_model=jobs.JobNotification,
    summary="Polling alternative to a job's webhook: its state and the cached fiches in scope",
    openapi_extra={"x-looks-up": "jobId"},
)
async def job_notification(
    job_id: Annotated[str, Query(alias="jobId", pattern=JobIdPattern, description="Job id (UUID)")],
    grant: ReadFiches,
    session: SessionDep,
    settings: SettingsDep,
    launcher: LauncherDep,
) -> jobs.JobNotification:
    """What the job's webhook carries, on demand (§4.5): `event` (progress | complete | failed), the job's
    progress, and `partialData`, the cached fiches of the range **in the caller's scope** (first 1000; the
    original listed every fiche of the range), with `dataUrl` once complete."""
    job = await _job(session, job_id)
    report = await progressive.job_report(session, job, launcher, grant.principal.user_id, settings.api_base_url)
    return await jobs.notification(session, grant, job, report, settings.api_base_url)


@router.get(
    "/{fiche_id}",
    response_model=FicheDetailsResponse,
    summary="Full fiche details (cache-first; the gateway's payload)",
    responses={502: {"description": "The CRM failed and nothing is cached"}},
)
async def fiche_details(  # noqa: PLR0917 - FastAPI dependencies
    fiche_id: FicheIdPath,
    grant: ReadFiches,
    session: SessionDep,
    settings: SettingsDep,
    sync: FicheSyncDep,
    refresh: Refresh = False,
) -> FicheDetailsResponse:
    """Served from the cache when fresh; fetched live (cache-first, §3.7) when missing, expired or
    incomplete, or when `refresh=true`, for callers with `fiches.fetch`. If that fetch fails or may
    not happen, the stored details are served with `meta.stale=true`; with nothing stored: 502
    (CRM), 503 (Redis) or 403 (no `fiches.fetch`). `recordings` is only present for callers with
    `recordings.read` reaching this fiche."""
    may_fetch = _require_fetch(grant, "refresh=true") if refresh else _fetch_grant(grant)
    result = await details.load_details(
        session, grant, fiche_id, refresh=refresh, may_fetch=may_fetch is not None, sync=sync, settings=settings
    )
    recordings_grant = grant.principal.grant("recordings", Action.READ)
    include = details.can_see_recordings(recordings_grant, result.fiche)
    payload = dict(result.payload)
    if not include:
        payload.pop("recordings", None)
    return FicheDetailsResponse(
        data=payload,
        meta=DetailsMeta(
            fiche_id=fiche_id,
            stale=result.stale,
            source="crm" if result.fetched else "cache",
            fetch_outcome=result.outcome,
            fetch_error=result.error,
            fetched_at=result.fiche.fetched_at,
            expires_at=result.fiche.expires_at,
            recordings_included=include,
        ),
    )


@router.post(
    "/{fiche_id}/refresh",
    response_model=FicheDetailsResponse,
    summary="Refetch a fiche's details from the CRM",
    responses={502: {"description": "The CRM failed and nothing is cached"}},
)
async def refresh_fiche(
    fiche_id: FicheIdPath, grant: ReadFiches, session: SessionDep, settings: SettingsDep, sync: FicheSyncDep
) -> FicheDetailsResponse:
    """The work-starting form of `GET /api/fiches/{fiche_id}?refresh=true` (that `GET` is kept for
    compatibility). Needs `fiches.write` on the fiche; within `FICHE_FORCE_REFRESH_COOLDOWN_MS` of the last
    fetch the stored details are served instead of calling the CRM again."""
    return await fiche_details(fiche_id, grant, session, settings, sync, refresh=True)


@router.get("/{fiche_id}/cache", response_model=Envelope[FicheCacheOut], summary="Cache metadata of a fiche")
async def fiche_cache(fiche_id: FicheIdPath, grant: ReadFiches, session: SessionDep) -> Envelope[FicheCacheOut]:
    """When the fiche's details were fetched, until when they are fresh, and what is stored; 404 when missing or out
    of scope."""
    return ok(FicheCacheOut.model_validate(await reads.visible_or_404(session, grant, fiche_id)))


@router.get(
    "/{fiche_id}/status",
    response_model=Envelope[FicheStatusOut],
    summary="Where a fiche stands: details, transcription, audits",
)
async def fiche_status(fiche_id: FicheIdPath, grant: ReadFiches, session: SessionDep) -> JSONText:
    """The fiche's stored state: details, recordings, transcription and audit progress, read from the tables in one
    query; 404 when missing or out of scope."""
    found = await status.statuses(session, grant, [fiche_id])
    if fiche_id not in found:
        raise NotFound("Fiche not found")
    return envelope(found[fiche_id])
