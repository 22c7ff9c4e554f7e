"""A scoped route family used only by tests: the shape fiche/audit/recording routes copy.

It exercises the whole chain on real rows: `require` (401/403), SQL scoping of a single entity
(404 when out of scope), of a write (403 without write, 404 out of scope) and of a list (totals).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel
from sqlalchemy import Select, select
from sqlalchemy.orm import load_only

from api.deps import SessionDep
from api.errors import ERROR_RESPONSES
from api.schemas import Envelope, Page, PageParams, ok, page_params
from api.security import EntityId, Grant, IdStr, fetch_page, get_visible_or_404, require
from domain.models import Fiche
from domain.scoping import apply_fiche_scope

router = APIRouter(prefix="/_probe/fiches", tags=["test probe"], responses=ERROR_RESPONSES)

ReadFiches = Annotated[Grant, Depends(require("fiches", "read"))]
FetchFiches = Annotated[Grant, Depends(require("fiches", "fetch"))]


def fiches() -> Select[Fiche]:
    return select(Fiche).options(load_only(Fiche.id, Fiche.fiche_id))


class ProbeFiche(BaseModel):
    id: IdStr
    fiche_id: str


@router.get("", response_model=Page[ProbeFiche])
async def list_fiches(
    grant: ReadFiches, session: SessionDep, page: Annotated[PageParams, Depends(page_params)]
) -> Page[ProbeFiche]:
    rows, total = await fetch_page(session, apply_fiche_scope(fiches().order_by(Fiche.id), grant), page)
    return page.paginate([ProbeFiche(id=f.id, fiche_id=f.fiche_id) for f in rows], total)


@router.get("/{fiche_id}", response_model=Envelope[ProbeFiche])
async def get_fiche(fiche_id: EntityId, grant: ReadFiches, session: SessionDep) -> Envelope[ProbeFiche]:
    fiche = await get_visible_or_404(session, apply_fiche_scope(fiches().where(Fiche.id == fiche_id), grant))
    return ok(ProbeFiche(id=fiche.id, fiche_id=fiche.fiche_id))


@router.post("/{fiche_id}/refresh", response_model=Envelope[ProbeFiche])
async def refresh_fiche(fiche_id: EntityId, grant: FetchFiches, session: SessionDep) -> Envelope[ProbeFiche]:
    fiche = await get_visible_or_404(session, apply_fiche_scope(fiches().where(Fiche.id == fiche_id), grant))
    return ok(ProbeFiche(id=fiche.id, fiche_id=fiche.fiche_id))
