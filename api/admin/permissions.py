"""`/api/admin/permissions`: the permission catalogue (seeded by `callaudit seed`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from api.admin.repository import Permissions
from api.admin.schemas import PermissionOut
from api.schemas import Envelope, ok
from api.security import Grant, require_all

router = APIRouter(prefix="/permissions", tags=["admin: roles"])

ReadPermissions = Annotated[Grant, Depends(require_all("admin.permissions", "read"))]


@router.get("", response_model=Envelope[list[PermissionOut]], summary="The permission catalogue")
async def list_permissions(_: ReadPermissions, permissions: Permissions) -> Envelope[list[PermissionOut]]:
    """Every permission key the roles can grant, with its description."""
    return ok([PermissionOut.model_validate(p) for p in await permissions.catalogue()])
