"""What the analytics export reads: `analytics.audit_facts` rows of a sales-day range, SQL only."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.models import Fiche
from domain.models.analytics import AuditFact
from domain.scoping import ScopeSubject, apply_fiche_scope


@functools.cache
def fact_columns() -> list[Any]:
    """The facts' columns in the export schema's order. Read at the first export: the schema is
    pyarrow's, which an API process loads only then (decision 124)."""
    from domain.analytics.facts import FACTS_SCHEMA

    return [AuditFact.__table__.c[name] for name in FACTS_SCHEMA.names]


def facts_in_scope(subject: ScopeSubject, first: dt.date, last: dt.date) -> Select[Any]:
    """The facts of those sales days (both included) whose fiche the subject may see *now*: joined to
    the live fiche, so a fiche moved to another group since the facts were built follows its new group,
    exactly as its audits do."""
    statement = (
        select(*fact_columns())
        .join(Fiche, Fiche.fiche_id == AuditFact.fiche_id)
        .where(AuditFact.sales_day.between(first, last))
        .order_by(AuditFact.sales_day, AuditFact.audit_id, AuditFact.step_position, AuditFact.control_point_index)
    )
    return apply_fiche_scope(statement, subject)


async def fact_batches(session: AsyncSession, statement: Select[Any], size: int) -> AsyncIterator[list[dict[str, Any]]]:
    """The rows in batches of `size` from a server-side cursor: memory stays one batch whatever the range."""
    result = await session.stream(statement.execution_options(yield_per=size))
    async for partition in result.mappings().partitions():
        yield [dict(row) for row in partition]
