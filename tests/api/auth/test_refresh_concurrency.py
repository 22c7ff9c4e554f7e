"""Two tabs refreshing the same token at the same moment, on real concurrent Postgres transactions."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from api.auth.service import issue_refresh_token, rotate_refresh_token
from domain.models import RefreshToken, User, UserStatus

pytestmark = pytest.mark.usefixtures("clean_tables")

KEY = b"k" * 32


async def _rotate(session: AsyncSession, raw: str) -> str:
    _, successor = await rotate_refresh_token(
        session, raw, ttl_seconds=3600, ip=None, user_agent=None, successor_key=KEY, grace_seconds=10
    )
    return successor.token


async def test_a_refresh_waiting_on_the_rotation_gets_the_same_successor(async_engine: AsyncEngine) -> None:
    async with AsyncSession(async_engine, expire_on_commit=False) as setup:
        user = User(email="tabs@example.test", status=UserStatus.ACTIVE)
        setup.add(user)
        await setup.flush()
        issued, _ = await issue_refresh_token(setup, user.id, ttl_seconds=3600, ip=None, user_agent=None)
        await setup.commit()

    async with AsyncSession(async_engine) as first, AsyncSession(async_engine) as second:
        successor = await _rotate(first, issued.token)  # its transaction holds the token's row
        waiting = asyncio.create_task(_rotate(second, issued.token))
        async with AsyncSession(async_engine) as observer:
            for _ in range(200):  # until the second refresh is blocked on that row lock
                blocked = await observer.scalar(text("SELECT count(*) FROM pg_locks WHERE NOT granted"))
                if blocked:
                    break
                await asyncio.sleep(0.02)
            assert blocked, "the second refresh never waited on the first"
        await first.commit()
        assert await waiting == successor
        await second.commit()

    async with AsyncSession(async_engine) as check:
        rows = await check.scalar(
            select(func.count()).select_from(RefreshToken).where(RefreshToken.revoked_at.is_(None))
        )
        assert rows == 2  # the login's token and ONE successor; nothing revoked
