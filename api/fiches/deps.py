"""Clients the fiche routes share, built lazily once per app and closed by its lifespan.

* `get_crm_client`: the CRM gateway client, with budgets sized for an interactive request;
* `get_sync_sessions`: a *sync* session factory on the application database, for `FicheSync`
  (the same cache-first code the Dagster assets run);
* `get_fiche_sync`: `FicheSync` over both.

Run launches: `api.runs`.

Tests override these with `app.dependency_overrides`.
"""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Depends
from sqlalchemy.orm import Session, sessionmaker

from api.deps import StateDep
from domain.crm.cache import CachePolicy
from resources.crm import CrmClient, CrmConfig
from resources.database import create_sync_engine, sync_session_factory
from services.ingestion import FicheSync


def api_crm_config(fetch_concurrency: int, search_concurrency: int) -> CrmConfig:
    """Caps shared with Dagster (same semaphores); shorter budgets: a person is waiting."""
    return CrmConfig(
        search_concurrency=search_concurrency,
        fetch_concurrency=fetch_concurrency,
        search_timeout=45.0,
        search_budget=60.0,
        details_timeout=15.0,
        details_budget=25.0,
        directory_timeout=15.0,
        directory_budget=25.0,
        max_attempts=3,
        backoff_base=0.5,
        backoff_cap=5.0,
    )


def get_crm_client(state: StateDep) -> CrmClient:
    client = state.crm
    if client is None:
        settings = state.settings
        config = api_crm_config(settings.fiche_fetch_concurrency, settings.fiche_sales_search_concurrency)
        client = CrmClient(settings.crm_base_url, state.redis, auth_token=settings.fiche_api_auth_token, config=config)
        state.crm = client
        state.cleanups.append(client.aclose)
    return client


def get_sync_sessions(state: StateDep) -> sessionmaker[Session]:
    sessions = state.sync_sessions
    if sessions is None:
        # The API engine's own URL (the lifespan resolved it), with the sync driver.
        engine = create_sync_engine(state.engine.url.render_as_string(hide_password=False), pool_size=5, max_overflow=5)
        sessions = sync_session_factory(engine)
        state.sync_sessions = sessions

        async def dispose() -> None:
            engine.dispose()

        state.cleanups.append(dispose)
    return sessions


CrmDep = Annotated[CrmClient, Depends(get_crm_client)]
SyncSessionsDep = Annotated[sessionmaker[Session], Depends(get_sync_sessions)]


def get_fiche_sync(state: StateDep, crm: CrmDep, sessions: SyncSessionsDep) -> FicheSync:
    settings = state.settings
    key = (id(crm), id(sessions))
    sync = state.fiche_sync
    if sync is None or state.fiche_sync_key != key:
        sync = FicheSync(
            crm,
            sessions,
            policy=CachePolicy.from_settings(settings),
            tz=ZoneInfo(settings.sales_timezone),
            concurrency=settings.fiche_fetch_concurrency,
        )
        state.fiche_sync, state.fiche_sync_key = sync, key
    return sync


FicheSyncDep = Annotated[FicheSync, Depends(get_fiche_sync)]
