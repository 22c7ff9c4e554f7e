"""Request-scoped dependencies, exposed as `Annotated` aliases the routers declare."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

import httpx
import redis.asyncio as aioredis
from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from callaudit.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy import orm

    from api.auth.principal_cache import PrincipalCache
    from api.realtime.hub import StreamHub
    from api.realtime.response import SendWatchdog
    from api.runlogs import RunLogReader
    from domain.chat.answer import ChatModel
    from resources.crm import CrmClient
    from resources.egress.client import EgressClient
    from services.ingestion import FicheSync


@dataclass
class AppState:
    """Everything the lifespan opens once per process and closes at shutdown."""

    settings: Settings
    instance_id: str
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    redis: aioredis.Redis
    http: httpx.AsyncClient
    #: Signed-in principals remembered between requests; `None` when `AUTH_PRINCIPAL_CACHE_SECONDS` is 0.
    principals: PrincipalCache | None = None
    # Built on first use by the route families that need them (`api.fiches.deps`, `api.realtime`,
    # `api.runlogs`, `api.chat.deps`, `api.reports.audio`), so a replica that never serves them opens nothing.
    crm: CrmClient | None = None
    sync_sessions: orm.sessionmaker[orm.Session] | None = None  # `orm.`: a field above is named sessionmaker
    fiche_sync: FicheSync | None = None
    #: What `fiche_sync` was built from (the CRM client and the sessions), to rebuild it if they change.
    fiche_sync_key: tuple[int, int] | None = None
    sse_hub: StreamHub | None = None
    sse_send_watchdog: SendWatchdog | None = None
    run_logs: RunLogReader | None = None
    chat_model: ChatModel | None = None
    recordings_egress: EgressClient | None = None
    #: Closed by the lifespan at shutdown, last registered first.
    cleanups: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


# The dependencies below are `async def` though they never await: FastAPI runs a plain `def`
# dependency in a worker thread, a thread hop (and its wake-ups) per dependency and request for an
# attribute read (decision 110).
async def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.callaudit
    return state


StateDep = Annotated[AppState, Depends(get_state)]


async def get_settings_dep(state: StateDep) -> Settings:
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


async def get_redis(state: StateDep) -> aioredis.Redis:
    return state.redis


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
# scope="function": the commit happens before the response is sent, so a failed commit is an error
# response rather than a silently lost write after a 200.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
RedisDep = Annotated[aioredis.Redis, Depends(get_redis)]
