"""`/api/admin`: users, roles, the permission catalogue, teams and API tokens (ALL-scope grants only)."""

from fastapi import APIRouter

from api.admin import crm, permissions, roles, teams, tokens, users

router = APIRouter(prefix="/admin")
# `crm` first: its static paths (`/users/from-crm`, `/teams/sync-from-crm`) precede `{id}` routes.
for _module in (crm, users, roles, permissions, teams, tokens):
    router.include_router(_module.router)

__all__ = ["router"]
