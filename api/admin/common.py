"""Helpers shared by the administration routers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.admin.repository import RoleRepository
from api.errors import BadRequest, Conflict, ErrorBody
from domain.models.auth import Role

#: Extra OpenAPI responses of the administration routes (on top of the `/api` router's).
CONFLICT_RESPONSES: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorBody, "description": "Conflicts with existing data (duplicate key, protected entity)"},
}


async def flush_or_409(session: AsyncSession, message: str) -> None:
    """Flush pending changes; a unique/foreign-key violation becomes a 409 instead of a 500.

    Explicit checks come first (for a precise message and field); this closes the race between them.
    """
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict(message) from None


async def roles_by_key(roles: RoleRepository, keys: Sequence[str], field: str = "role_keys") -> list[Role]:
    """The roles named by `keys` (deduplicated, in order); an unknown key is a 400 naming it."""
    wanted = list(dict.fromkeys(keys))
    found = await roles.by_keys(wanted)
    for index, key in enumerate(wanted):
        if key not in found:
            raise BadRequest(f"Unknown role {key!r}", field=f"{field}.{index}")
    return [found[k] for k in wanted]


def like_pattern(text: str) -> str:
    """`%text%` with LIKE wildcards in `text` escaped (use with `escape="\\\\"`)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
