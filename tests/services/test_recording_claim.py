"""A recording's claim ends with its holder, even when the renewal loses its cancellation.

The renewal runs beside the claim's block and is cancelled when the block ends; a cancel that lands
while `extend` awaits Redis can be lost in the client (a four-host drill kept a claim renewed for
minutes after its holder had finished, every other host waiting on it). Here `extend` is made to lose
it on purpose, against the real Redis: the block must still end and the claim be released.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial

import pytest
import redis.asyncio as aioredis

from resources.redis.locks import RedisLock
from services import transcription
from services.transcription import recording_claim


async def test_a_claim_whose_renewal_loses_its_cancellation_still_ends(
    aredis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transcription, "RENEW_SECONDS", 0.05)  # the claim itself lasts its 60 s
    extending = asyncio.Event()
    original: Callable[..., Awaitable[bool]] = RedisLock.extend

    async def extend_losing_cancellation(self: RedisLock, seconds: float | None = None) -> bool:
        extending.set()
        try:
            await asyncio.sleep(0.2)  # the call the holder's cancel lands in
            return await original(self, seconds)
        except asyncio.CancelledError:
            return True  # what a client that swallows the cancellation hands back

    monkeypatch.setattr(RedisLock, "extend", extend_losing_cancellation)

    async def hold() -> None:
        async with recording_claim(partial(RedisLock, aredis), 4242, wait_timeout=0):
            assert await aredis.exists("lock:stt:recording:4242") == 1
            await extending.wait()  # end the block while the renewal is inside `extend`

    # A generous bound that only a hang reaches: the holder never used to come back.
    await asyncio.wait_for(hold(), timeout=10)
    assert await aredis.exists("lock:stt:recording:4242") == 0, "the claim is released for the other runs"
