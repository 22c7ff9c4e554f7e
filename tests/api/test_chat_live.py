"""Chat through the real API with real commits (each request its own connection; tables truncated after).

Two first messages on one fiche sent at once must share one conversation. To make the race certain
rather than likely, the test holds `chat_conversations` in SHARE mode: reads pass, inserts wait. Both
requests therefore look and find nothing, then queue their inserts; only when both are queued is the
table released. A "find, else create" would then create two conversations (or fail one request on
the partial unique index); `INSERT ... ON CONFLICT DO NOTHING` makes the second request use the first's.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.models import ChatConversation, ChatMessage, Fiche, MessageRole, MessageStatus
from resources.database import create_api_engine
from tests.api.conftest import build_app, make_settings
from tests.fixtures.sse import StreamingASGITransport

TOKEN = "static-chat-live-token-0123456789"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
FICHE = "F-CHAT-RACE"
WAITERS = """
    SELECT count(*) FROM pg_locks
    WHERE relation = 'chat_conversations'::regclass AND mode = 'RowExclusiveLock' AND NOT granted
"""

pytestmark = pytest.mark.usefixtures("clean_tables")


async def _queued_inserts(connection: AsyncConnection, expected: int) -> None:
    """Until `expected` inserts wait on the table (each request has looked and is about to create)."""
    for _ in range(600):
        if await connection.scalar(text(WAITERS)) == expected:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{expected} inserts never queued on chat_conversations")


async def _ask(client: httpx.AsyncClient, question: str) -> list[str]:
    async with client.stream("POST", f"/api/fiches/{FICHE}/chat", json={"message": question}, headers=HEADERS) as r:
        assert r.status_code == 200, await r.aread()
        return [line.removeprefix("data: ") async for line in r.aiter_lines() if line.startswith("data: ")]


async def test_two_concurrent_first_messages_on_a_fiche_create_one_conversation(
    database_url: str, redis_url: str, api_home: Path, redis_client: redis.Redis
) -> None:
    settings = make_settings(database_url, redis_url, api_home, api_auth_token=TOKEN)  # no model: extractive
    engine = create_api_engine(database_url)
    application = build_app(settings)
    try:
        async with engine.begin() as setup:
            await setup.execute(insert(Fiche).values(fiche_id=FICHE, crm_group_id="G"))
        async with (
            application.router.lifespan_context(application),
            httpx.AsyncClient(transport=StreamingASGITransport(application), base_url="http://test") as client,
            engine.connect() as holder,
            engine.connect() as watcher,
        ):
            await holder.begin()
            await holder.execute(text("LOCK TABLE chat_conversations IN SHARE MODE"))
            asking = asyncio.gather(_ask(client, "Quel assureur ?"), _ask(client, "Quelle carence ?"))
            try:
                await _queued_inserts(watcher, 2)
            finally:
                await holder.rollback()  # release the table: both inserts go ahead at once
            answers = await asking
        assert [a[-1] for a in answers] == ["[DONE]", "[DONE]"]
        assert all('"type": "error"' not in frame for answer in answers for frame in answer)

        async with engine.connect() as connection:
            conversations = (
                await connection.execute(
                    select(ChatConversation.id, ChatConversation.audit_id).where(ChatConversation.fiche_id == FICHE)
                )
            ).all()
            assert [audit_id for _, audit_id in conversations] == [None]
            messages = (
                await connection.execute(
                    select(ChatMessage.conversation_id, ChatMessage.role, ChatMessage.status, ChatMessage.content)
                )
            ).all()
        ((conversation_id, _),) = conversations
        assert {m.conversation_id for m in messages} == {conversation_id}
        questions = sorted((m.content, m.status) for m in messages if m.role == MessageRole.USER)
        assert questions == [("Quel assureur ?", MessageStatus.ANSWERED), ("Quelle carence ?", MessageStatus.ANSWERED)]
        assert sum(m.role == MessageRole.ASSISTANT for m in messages) == 2
    finally:
        await engine.dispose()
