"""The views' rows in the `analytics` schema: a partition replaced whole, and what the checks count."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, func, insert, or_, select
from sqlalchemy.orm import Session

from domain.models.analytics import AgentScorecardWeek, AuditFact, ScorecardHealthRow


def replace_health(session: Session, day: dt.date, rows: Sequence[Mapping[str, Any]]) -> None:
    session.execute(delete(ScorecardHealthRow).where(ScorecardHealthRow.sales_day == day))
    if rows:
        session.execute(insert(ScorecardHealthRow), [{"sales_day": day, **row} for row in rows])


def replace_week(session: Session, monday: dt.date, rows: Sequence[Mapping[str, Any]]) -> None:
    session.execute(delete(AgentScorecardWeek).where(AgentScorecardWeek.week == monday))
    if rows:
        session.execute(insert(AgentScorecardWeek), list(rows))


def health_mismatch(session: Session, day: dt.date) -> tuple[int, int, int]:
    """(points the day's health rows count, facts of the day, health rows with a rate outside [0, 1])."""
    of_day = ScorecardHealthRow.sales_day == day
    counted = session.scalar(select(func.coalesce(func.sum(ScorecardHealthRow.points), 0)).where(of_day))
    facts = session.scalar(select(func.count()).select_from(AuditFact).where(AuditFact.sales_day == day))
    rates = (ScorecardHealthRow.ai_pass_rate, ScorecardHealthRow.evidence_rate, ScorecardHealthRow.override_rate)
    outside = session.scalar(
        select(func.count()).where(of_day, or_(*(rate < 0 for rate in rates), *(rate > 1 for rate in rates)))
    )
    return int(counted or 0), int(facts or 0), int(outside or 0)


def week_mismatch(session: Session, monday: dt.date) -> tuple[int, int, int]:
    """(audits the week's rows count, distinct audits of the week's facts, rows with no audit or a
    REJET rate outside [0, 1])."""
    of_week = AgentScorecardWeek.week == monday
    counted = session.scalar(select(func.coalesce(func.sum(AgentScorecardWeek.audits), 0)).where(of_week))
    audits = session.scalar(
        select(func.count(AuditFact.audit_id.distinct())).where(
            AuditFact.sales_day.between(monday, monday + dt.timedelta(days=6))
        )
    )
    invalid = session.scalar(
        select(func.count()).where(
            of_week,
            or_(AgentScorecardWeek.audits < 1, AgentScorecardWeek.rejet_rate < 0, AgentScorecardWeek.rejet_rate > 1),
        )
    )
    return int(counted or 0), int(audits or 0), int(invalid or 0)
