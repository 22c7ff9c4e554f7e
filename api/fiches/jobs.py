"""Progressive fetch jobs beyond their progress: the list, the polling view, their webhooks (§4.5, §11.5).

* a job that reaches `complete` / `failed` (or fails to launch) announces it through the outbox, in the
  transaction that records it (`domain.crm.fetch_jobs.announce_outcome`, shared with the pipeline);
* `webhookUrl` / `webhookSecret` on the range request subscribe that URL to the job's terminal events;
  what it receives is filtered by the requester's scope (the original sent every cached fiche of the
  range, §13.2 #5);
* the polling view carries the same data, filtered by the caller's scope.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.fiches.schemas import FetchJobOut
from api.security import Grant
from api.webhooks.service import create_subscription
from callaudit.settings import Settings
from domain.crm.fetch_jobs import data_url
from domain.models import Fiche, FicheFetchJob, FicheFetchJobStatus, WebhookSubscription
from domain.outbox.catalogue import PROGRESSIVE_FETCH_EVENTS
from domain.rbac import Scope
from domain.scoping import apply_fiche_scope
from resources.egress import EgressPolicy

PARTIAL_DATA_LIMIT = 1000
TERMINAL = {FicheFetchJobStatus.COMPLETE.value, FicheFetchJobStatus.FAILED.value, FicheFetchJobStatus.FAILED_TO_LAUNCH}


# --- webhookUrl on the range request -----------------------------------------------------------------


async def subscribe_job(
    session: AsyncSession,
    settings: Settings,
    policy: EgressPolicy,
    *,
    job_id: str,
    url: str,
    secret: str | None,
    grant: Grant,
) -> tuple[int, str | None]:
    """The job's subscription for `url` (one per requester and URL); the secret when we generated it."""
    existing = await session.scalar(
        select(WebhookSubscription.id).where(
            WebhookSubscription.job_id == job_id,
            WebhookSubscription.url == url.strip(),
            WebhookSubscription.owner_user_id.is_not_distinct_from(grant.principal.user_id),
        )
    )
    if existing is not None:
        return existing, None
    subscription, used = await create_subscription(
        session,
        settings,
        policy,
        url=url,
        event_types=list(PROGRESSIVE_FETCH_EVENTS),
        owner_user_id=grant.principal.user_id,
        created_by_id=grant.principal.user_id,
        job_id=job_id,
        secret=secret,
        url_field="webhookUrl",
    )
    return subscription.id, None if secret else used


# --- listing and polling ------------------------------------------------------------------------------


class FetchJobSummary(BaseModel):
    id: str
    status: str
    start_date: dt.date
    end_date: dt.date
    total_days: int
    refresh: bool
    requested_by_me: bool
    error: str | None
    webhook_subscriptions: int
    created_at: dt.datetime


def visible_jobs(grant: Grant, status: str | None) -> Any:
    """A caller's own jobs; everyone's with ALL scope on fiches."""
    statement = select(FicheFetchJob)
    if grant.scope is not Scope.ALL:
        statement = statement.where(FicheFetchJob.requested_by_id == grant.principal.user_id)
    if status is not None:
        statement = statement.where(FicheFetchJob.status == status)
    return statement.order_by(FicheFetchJob.created_at.desc(), FicheFetchJob.id)


async def summaries(session: AsyncSession, jobs: Sequence[FicheFetchJob], user_id: int | None) -> list[FetchJobSummary]:
    counts = dict(
        (
            await session.execute(
                select(WebhookSubscription.job_id, func.count())
                .where(WebhookSubscription.job_id.in_([j.id for j in jobs]))
                .group_by(WebhookSubscription.job_id)
            )
        ).all()
    )
    return [
        FetchJobSummary(
            id=j.id,
            status=j.status,
            start_date=j.start_date,
            end_date=j.end_date,
            total_days=len(j.days),
            refresh=j.refresh,
            requested_by_me=user_id is not None and j.requested_by_id == user_id,
            error=j.error,
            webhook_subscriptions=counts.get(j.id, 0),
            created_at=j.created_at,
        )
        for j in jobs
    ]


class PartialFiche(BaseModel):
    ficheId: str
    groupe: str | None
    prospectNom: str | None
    prospectPrenom: str | None
    recordingsCount: int
    createdAt: dt.datetime


class JobData(BaseModel):
    job: FetchJobOut
    partialData: list[PartialFiche] = Field(description="Cached fiches of the range in the caller's scope (first 1000)")
    currentFichesCount: int = Field(description="How many there are in all")
    dataUrl: str | None = Field(None, description="Where the whole range is listed, once the job is complete")


class JobNotification(BaseModel):
    success: bool = True
    jobId: str
    event: Literal["progress", "complete", "failed"]
    timestamp: dt.datetime
    data: JobData


def event_of(status: str) -> Literal["progress", "complete", "failed"]:
    if status == FicheFetchJobStatus.COMPLETE:
        return "complete"
    if status in TERMINAL:
        return "failed"
    return "progress"


async def notification(
    session: AsyncSession, grant: Grant, job: FicheFetchJob, report: FetchJobOut, base_url: str
) -> JobNotification:
    visible = apply_fiche_scope(select(Fiche).where(Fiche.sales_date.between(job.start_date, job.end_date)), grant)
    total = int(await session.scalar(select(func.count()).select_from(visible.subquery())) or 0)
    rows = (await session.scalars(visible.order_by(Fiche.sales_date, Fiche.fiche_id).limit(PARTIAL_DATA_LIMIT))).all()
    event = event_of(report.status)
    return JobNotification(
        jobId=job.id,
        event=event,
        timestamp=dt.datetime.now(dt.UTC),
        data=JobData(
            job=report,
            partialData=[
                PartialFiche(
                    ficheId=f.fiche_id,
                    groupe=f.groupe,
                    prospectNom=f.prospect_nom,
                    prospectPrenom=f.prospect_prenom,
                    recordingsCount=f.recordings_count,
                    createdAt=f.created_at,
                )
                for f in rows
            ],
            currentFichesCount=total,
            dataUrl=data_url(base_url, job) if event == "complete" else None,
        ),
    )
