"""`/api/admin/permissions`: the permission catalogue (seeded by `callaudit seed`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy import select

from api.admin.schemas import PermissionOut
from api.deps import SessionDep
from api.schemas import Envelope, ok
from api.security import Grant, require_all
from domain.models.auth import Permission

router = APIRouter(prefix="/permissions", tags=["admin: roles"])

ReadPermissions = Annotated[Grant, Depends(require_all("admin.permissions", "read"))]


@router.get("", response_model=Envelope[list[PermissionOut]], summary="The permission catalogue")
async def list_permissions(_: ReadPermissions, session: SessionDep) -> Envelope[list[PermissionOut]]:
    """Every permission key the roles can grant, with its description."""
    rows = (await session.scalars(select(Permission).order_by(Permission.key))).all()
    return ok([PermissionOut(id=p.id, key=p.key, description=p.description) for p in rows])
