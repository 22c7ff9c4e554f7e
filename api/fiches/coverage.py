"""Where a sales day stands for the fiche routes: searched, and every listed fiche settled."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.fiches.schemas import (
    CoverageState,
    DayCoverageOut,
)
from domain.crm.fetch_jobs import DayState
from domain.models import DayCoverageStatus, Fiche, FicheFetchStatus
from domain.models.fiches import SalesDayCoverage


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
