"""The sliding-window rate limiter against a real Redis: shared by clients, waits the window out, fails closed."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from resources.redis import RateLimiter, RateLimiterUnavailable, RateLimitTimeout, create_async_redis

WINDOW = 0.6


async def test_the_call_past_the_limit_waits_for_the_window(aredis: aioredis.Redis, redis_url: str) -> None:
    other = create_async_redis(redis_url)  # a second process's client: the window is shared
    try:
        limiters = [
            RateLimiter(aredis, "stt", 3, window_seconds=WINDOW),
            RateLimiter(other, "stt", 3, window_seconds=WINDOW),
        ]
        started = time.monotonic()
        admitted: list[float] = []

        async def call(limiter: RateLimiter) -> None:
            await limiter.admit(wait_timeout=5)
            admitted.append(time.monotonic() - started)

        await asyncio.gather(*(call(limiters[i % 2]) for i in range(4)))
    finally:
        await other.aclose()
    first_three, fourth = sorted(admitted)[:3], sorted(admitted)[3]
    assert max(first_three) < WINDOW / 3
    assert WINDOW - 0.02 <= fourth < WINDOW + 0.4  # as soon as the first admission left the window
    assert await aredis.zcard("rate:{stt}:admissions") == 1  # the first three have left the window


async def test_a_sliding_window_allows_no_burst_across_a_boundary(aredis: aioredis.Redis) -> None:
    limiter = RateLimiter(aredis, "sliding", 2, window_seconds=WINDOW)
    await limiter.admit(wait_timeout=1)
    await asyncio.sleep(WINDOW / 2)
    await limiter.admit(wait_timeout=1)
    started = time.monotonic()
    await limiter.admit(wait_timeout=2)  # a fixed window would admit at once after a boundary
    assert time.monotonic() - started >= WINDOW / 2 - 0.05


async def test_a_wait_past_the_deadline_is_refused_at_once(aredis: aioredis.Redis) -> None:
    limiter = RateLimiter(aredis, "minute", 1, window_seconds=60)
    await limiter.admit(wait_timeout=1)
    started = time.monotonic()
    with pytest.raises(RateLimitTimeout, match="1 per 60 s"):
        await limiter.admit(wait_timeout=5)
    assert time.monotonic() - started < 1  # it did not sleep towards a deadline it cannot meet


async def test_fails_closed_when_redis_is_unreachable(tmp_path: Path) -> None:
    client = create_async_redis(f"unix://{tmp_path}/no-such-redis.sock")
    limiter = RateLimiter(client, "stt", 10)
    with pytest.raises(RateLimiterUnavailable) as caught:
        await limiter.admit(wait_timeout=1)
    assert "Redis is unreachable" in str(caught.value)
    assert str(tmp_path) not in str(caught.value)
    await client.aclose()


def test_limits_must_be_positive(aredis: aioredis.Redis) -> None:
    with pytest.raises(ValueError, match="limit"):
        RateLimiter(aredis, "x", 0)
    with pytest.raises(ValueError, match="window"):
        RateLimiter(aredis, "x", 1, window_seconds=0)
