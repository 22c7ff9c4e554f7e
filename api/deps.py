"""Request-scoped dependencies, exposed as `Annotated` aliases the routers declare."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import httpx
import redis.asyncio as aioredis
from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from callaudit.settings import Settings


@dataclass
class AppState:
    """Everything the lifespan opens once per process and closes at shutdown."""

    settings: Settings
    instance_id: str
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    redis: aioredis.Redis
    http: httpx.AsyncClient
    #: Clients built lazily by route families on first use (`api.fiches.deps`), by name.
    extras: dict[str, Any] = field(default_factory=dict)
    #: Closed by the lifespan at shutdown, last registered first.
    cleanups: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.callaudit
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def get_settings_dep(state: StateDep) -> Settings:
    return state.settings


async def get_session(state: StateDep) -> AsyncIterator[AsyncSession]:
    """One session per request: committed when the route returns, rolled back if it raises."""
    async with state.sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


def get_redis(state: StateDep) -> aioredis.Redis:
    return state.redis


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
# scope="function": the commit happens before the response is sent, so a failed commit is an error
# response rather than a silently lost write after a 200.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
RedisDep = Annotated[aioredis.Redis, Depends(get_redis)]
