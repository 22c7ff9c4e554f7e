"""`/api/admin`: users, roles, the permission catalogue, teams and API tokens (ALL-scope grants only)."""

from fastapi import APIRouter

from api.admin import permissions, roles, teams, tokens, users

router = APIRouter(prefix="/admin")
for _module in (users, roles, permissions, teams, tokens):
    router.include_router(_module.router)

__all__ = ["router"]
