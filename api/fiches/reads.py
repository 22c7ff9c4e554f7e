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
from api.security import Grant
from callaudit.settings import Settings
from domain.models import Fiche
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
