"""Fiche reads filtered by the caller's scope in SQL (`domain.scoping`), so totals and pages only count
visible fiches; one 404 message whether a fiche is unknown or out of scope.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import NotFound
from api.schemas import PageParams
from api.security import Grant, fetch_page
from callaudit.settings import Settings
from domain.models import Fiche, FicheFetchJob, FicheTranscription, Recording
from domain.scoping import apply_fiche_scope

MAX_RANGE_DAYS = 366
NOT_FOUND = "Fiche not found"  # one message whether the id is unknown, out of scope or absent from the CRM


def today_in(settings: Settings) -> dt.date:
    return dt.datetime.now(ZoneInfo(settings.sales_timezone)).date()


def days_between(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


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


async def visible_recordings(session: AsyncSession, grant: Grant, fiche_id: str) -> list[Recording]:
    """The fiche's recordings in call order (404 when the fiche is missing or outside the scope)."""
    if await session.scalar(scoped(select(Fiche.id).where(Fiche.fiche_id == fiche_id), grant).limit(1)) is None:
        raise NotFound(NOT_FOUND)
    statement = (
        select(Recording)
        .where(Recording.fiche_id == fiche_id)
        .order_by(Recording.start_time.asc().nulls_last(), Recording.call_id)
    )
    return list((await session.scalars(statement)).all())


async def transcription_run_id(session: AsyncSession, fiche_id: str) -> str | None:
    """The Dagster run of the fiche's last transcription, if it was ever transcribed."""
    return await session.scalar(select(FicheTranscription.run_id).where(FicheTranscription.fiche_id == fiche_id))


async def fiches_page(
    session: AsyncSession,
    grant: Grant,
    page: PageParams,
    *,
    first_day: dt.date | None = None,
    last_day: dt.date | None = None,
    groupe: str | None = None,
) -> tuple[list[Fiche], int]:
    """Stored fiches in scope, newest sales day first, optionally within days (inclusive) and of one group."""
    statement = select(Fiche)
    if first_day is not None:
        statement = statement.where(Fiche.sales_date >= first_day)
    if last_day is not None:
        statement = statement.where(Fiche.sales_date <= last_day)
    if groupe is not None:
        statement = statement.where(Fiche.groupe == groupe)
    ordered = scoped(statement, grant).order_by(Fiche.sales_date.desc().nulls_last(), Fiche.fiche_id)
    return await fetch_page(session, ordered, page)


async def day_page(session: AsyncSession, grant: Grant, page: PageParams, day: dt.date) -> tuple[list[Fiche], int]:
    """The day's stored fiches in scope, by id."""
    statement = scoped(select(Fiche).where(Fiche.sales_date == day), grant).order_by(Fiche.fiche_id)
    return await fetch_page(session, statement, page)


async def range_page(
    session: AsyncSession, grant: Grant, page: PageParams, start: dt.date, end: dt.date
) -> tuple[list[Fiche], int]:
    """The stored fiches in scope of the days from `start` to `end` (inclusive), by day then id."""
    statement = scoped(select(Fiche).where(Fiche.sales_date.between(start, end)), grant)
    return await fetch_page(session, statement.order_by(Fiche.sales_date, Fiche.fiche_id), page)


async def fetch_job(session: AsyncSession, job_id: str) -> FicheFetchJob | None:
    """The progressive fetch job as stored now (not a copy from earlier in the session)."""
    statement = select(FicheFetchJob).where(FicheFetchJob.id == job_id).execution_options(populate_existing=True)
    return (await session.scalars(statement)).first()
