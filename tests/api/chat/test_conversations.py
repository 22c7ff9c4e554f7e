"""Conversations on real Postgres, committed through separate connections: race-safe get-or-create."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from api.chat.repository import conversation
from domain.models import ChatConversation, Fiche

pytestmark = pytest.mark.usefixtures("clean_tables")
RACERS = 4


async def _fiche(engine: AsyncEngine, fiche_id: str) -> None:
    async with AsyncSession(engine) as session:
        await session.execute(insert(Fiche).values(fiche_id=fiche_id, crm_group_id="G"))
        await session.commit()


async def test_concurrent_first_messages_on_a_fiche_share_one_conversation(async_engine: AsyncEngine) -> None:
    await _fiche(async_engine, "F-RACE")
    barrier = asyncio.Barrier(RACERS)

    async def first_message() -> int:
        async with AsyncSession(async_engine) as session:
            # Every racer's transaction is open and has looked (nothing there) before any inserts.
            found = await session.scalar(select(ChatConversation.id).where(ChatConversation.fiche_id == "F-RACE"))
            assert found is None
            await barrier.wait()
            conversation_id = (await conversation(session, "F-RACE", None)).id
            await session.commit()
            return conversation_id

    ids = await asyncio.gather(*(first_message() for _ in range(RACERS)))
    assert len(set(ids)) == 1
    async with AsyncSession(async_engine) as session:
        assert await session.scalar(select(func.count()).select_from(ChatConversation)) == 1


async def test_the_database_refuses_a_second_fiche_level_conversation(async_engine: AsyncEngine) -> None:
    """What makes the race safe: NULL audit ids escape the pair's unique constraint, not the partial index."""
    await _fiche(async_engine, "F-TWICE")
    async with AsyncSession(async_engine) as session:
        await session.execute(insert(ChatConversation).values(fiche_id="F-TWICE", audit_id=None))
        await session.commit()
        with pytest.raises(IntegrityError, match="uq_chat_conversations_fiche_level"):
            await session.execute(insert(ChatConversation).values(fiche_id="F-TWICE", audit_id=None))
