"""Scoped reads: the single row or the page of an already-scoped statement, and the fiches a grant sees.

* 404 for an entity that is missing **or** outside the caller's scope (`get_visible_or_404`): no
  existence oracle.
* Lists are filtered in SQL before counting, so `pagination.total` and pages only see visible rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar, TypeVarTuple

from sqlalchemy import Select, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.principal import Grant
from api.errors import NotFound
from api.schemas import PageParams
from domain.models.fiches import Fiche
from domain.scoping import apply_fiche_scope

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


async def get_visible_or_404(session: AsyncSession, statement: Select[T], what: str = "Not found") -> T:
    """The single row of an already-scoped statement; 404 whether it is missing or out of scope."""
    row = (await session.scalars(statement.limit(1))).first()
    if row is None:
        raise NotFound(what)
    return row


async def _count(session: AsyncSession, statement: Select[*tuple[Any, ...]]) -> int:
    """Rows the statement would return: its columns replaced by a constant (cheap, same joins and filters).

    Not for statements with DISTINCT or GROUP BY, whose row count depends on the selected columns.
    """
    counted = statement.with_only_columns(literal(1), maintain_column_froms=True).order_by(None).subquery()
    total = await session.scalar(select(func.count()).select_from(counted))
    return int(total or 0)


async def fetch_page(session: AsyncSession, statement: Select[T], page: PageParams) -> tuple[list[T], int]:
    """One page of an (already scoped, ordered) single-entity statement and the total of visible rows."""
    rows = (await session.scalars(statement.limit(page.limit).offset(page.offset))).all()
    return list(rows), await _count(session, statement)


async def fetch_rows_page(
    session: AsyncSession, statement: Select[*Ts], page: PageParams
) -> tuple[list[tuple[*Ts]], int]:
    """`fetch_page` for statements selecting several columns/entities: rows as tuples."""
    rows = (await session.execute(statement.limit(page.limit).offset(page.offset))).all()
    return list(rows), await _count(session, statement)


async def visible_fiche_ids(session: AsyncSession, grant: Grant, fiche_ids: Sequence[str]) -> set[str]:
    statement = apply_fiche_scope(select(Fiche.fiche_id).where(Fiche.fiche_id.in_(list(fiche_ids))), grant)
    return set(await session.scalars(statement))


async def require_visible_fiches(session: AsyncSession, grant: Grant, fiche_ids: Sequence[str]) -> None:
    """404 naming the ids that are missing or outside the scope (the two are not told apart)."""
    visible = await visible_fiche_ids(session, grant, fiche_ids)
    missing = [i for i in fiche_ids if i not in visible]
    if len(missing) == 1 and len(fiche_ids) == 1:
        raise NotFound("Fiche not found")
    if missing:
        shown = ", ".join(missing[:20]) + (", ..." if len(missing) > 20 else "")
        raise NotFound(f"{len(missing)} fiche(s) not found: {shown}")
