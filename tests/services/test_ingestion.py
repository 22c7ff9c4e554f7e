"""What ingestion does with each kind of CRM failure, read at the port (`domain.upstream`): a fiche the
CRM does not know is NOT_FOUND, a failed call fails that fiche only, and refused credentials stop the
batch (no other fiche could succeed) instead of marking every fiche failed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from zoneinfo import ZoneInfo

import pytest
import redis.asyncio as aioredis
from sqlalchemy import Engine, select

from domain.crm.cache import CachePolicy
from domain.models.fiches import Fiche, FicheFetchStatus
from resources.crm import CrmAuthError, CrmClient, CrmConfig
from resources.database import sync_session_factory
from services.ingestion import FicheOutcome, FicheSync
from tests.fixtures.crm_gateway import BASE, FAST, Gateway, status

MakeSync = Callable[[Gateway], FicheSync]


@pytest.fixture
async def make_sync(aredis: aioredis.Redis, sync_engine: Engine, clean_tables: None) -> AsyncIterator[MakeSync]:
    clients: list[CrmClient] = []

    def make(gateway: Gateway) -> FicheSync:
        client = CrmClient(BASE, aredis, auth_token="t", config=CrmConfig(**FAST), transport=gateway.transport())
        clients.append(client)
        return FicheSync(
            client, sync_session_factory(sync_engine), policy=CachePolicy(), tz=ZoneInfo("UTC"), concurrency=2
        )

    yield make
    for client in clients:
        await client.aclose()


async def test_a_fiche_the_crm_does_not_know_is_not_found(make_sync: MakeSync) -> None:
    result = await make_sync(Gateway(status(404))).sync_fiche("1")
    assert result.outcome is FicheOutcome.NOT_FOUND


async def test_a_failed_call_fails_that_fiche_with_its_reason(make_sync: MakeSync) -> None:
    result = await make_sync(Gateway(status(503))).sync_fiche("1")
    assert result.outcome is FicheOutcome.FAILED
    assert "HTTP 503" in (result.reason or "")


async def test_refused_credentials_stop_the_batch_and_mark_nothing(make_sync: MakeSync, sync_engine: Engine) -> None:
    sessions = sync_session_factory(sync_engine)
    with sessions.begin() as session:
        session.add_all([Fiche(fiche_id=i, fetch_status=FicheFetchStatus.SUMMARY) for i in ("1", "2")])
    with pytest.raises(CrmAuthError):
        await make_sync(Gateway(status(401))).sync_fiches(["1", "2"])
    with sessions() as session:
        assert set(session.scalars(select(Fiche.fetch_status))) == {FicheFetchStatus.SUMMARY}
