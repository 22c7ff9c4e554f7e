"""Token locks against a real Redis 6.2: exclusion, owner-only release, expiry, extension, outages."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from resources.redis import (
    LockNotAcquired,
    RedisLock,
    RedisUnavailable,
    SyncRedisLock,
    create_async_redis,
)


async def test_lock_serializes_read_modify_write(aredis, redis_client):
    async def increment() -> None:
        async with RedisLock(aredis, "counter", timeout=5, wait_timeout=10):
            value = int(await aredis.get("counter") or 0)
            await asyncio.sleep(0.005)  # without the lock, the other tasks would read the same value
            await aredis.set("counter", value + 1)

    await asyncio.gather(*(increment() for _ in range(20)))
    assert redis_client.get("counter") == "20"
    assert not redis_client.exists("lock:counter")


async def test_second_owner_is_refused_until_release(aredis):
    first = RedisLock(aredis, "fiche:42", timeout=5)
    await first.acquire()
    with pytest.raises(LockNotAcquired, match="fiche:42"):
        await RedisLock(aredis, "fiche:42", timeout=5).acquire()
    assert await first.release()
    async with RedisLock(aredis, "fiche:42", timeout=5):
        pass


async def test_non_owner_cannot_release_or_extend(aredis, redis_client):
    owner = RedisLock(aredis, "job:7", timeout=5)
    await owner.acquire()
    intruder = RedisLock(aredis, "job:7", timeout=60)
    assert not await intruder.release()
    assert not await intruder.extend()
    assert redis_client.get("lock:job:7") == owner.token
    assert redis_client.pttl("lock:job:7") <= 5000


async def test_lock_expires_after_its_timeout(aredis, redis_client):
    stale = RedisLock(aredis, "short", timeout=0.2)
    await stale.acquire()
    await asyncio.sleep(0.3)
    fresh = RedisLock(aredis, "short", timeout=5)
    await fresh.acquire()
    # The stale holder's late release must not free the new owner's lock.
    assert not await stale.release()
    assert redis_client.get("lock:short") == fresh.token


async def test_extend_keeps_the_lock(aredis, redis_client):
    lock = RedisLock(aredis, "extended", timeout=0.3)
    await lock.acquire()
    assert await lock.extend(2)
    await asyncio.sleep(0.4)
    with pytest.raises(LockNotAcquired):
        await RedisLock(aredis, "extended", timeout=1).acquire()
    assert 1000 < redis_client.pttl("lock:extended") <= 2000
    assert await lock.extend()  # back to the lock's own timeout
    assert redis_client.pttl("lock:extended") <= 300


async def test_waiting_acquire_gets_the_lock_when_released(aredis):
    holder = RedisLock(aredis, "handover", timeout=5)
    await holder.acquire()

    async def release_later() -> None:
        await asyncio.sleep(0.2)
        await holder.release()

    started = time.monotonic()
    releasing = asyncio.create_task(release_later())
    async with RedisLock(aredis, "handover", timeout=5, wait_timeout=2):
        assert time.monotonic() - started >= 0.2
    await releasing


async def test_waiting_acquire_gives_up_at_its_deadline(aredis):
    await RedisLock(aredis, "taken", timeout=5).acquire()
    started = time.monotonic()
    with pytest.raises(LockNotAcquired, match=r"within 0\.2 s"):
        await RedisLock(aredis, "taken", timeout=5, wait_timeout=0.2).acquire()
    assert 0.2 <= time.monotonic() - started < 1


async def test_acquire_is_safe_to_retry(aredis, redis_client):
    """redis-py re-sends a call whose reply was lost: the owner's second attempt must succeed."""
    lock = RedisLock(aredis, "retried", timeout=5)
    await lock.acquire()
    await lock.acquire()
    assert redis_client.get("lock:retried") == lock.token


async def test_exit_after_expiry_warns_instead_of_raising(aredis, caplog):
    with caplog.at_level(logging.WARNING, logger="resources.redis.locks"):
        async with RedisLock(aredis, "overrun", timeout=0.05):
            await asyncio.sleep(0.1)
    assert "outlived its timeout" in caplog.text


def test_sync_lock(redis_client):
    with SyncRedisLock(redis_client, "sensor:tick", timeout=5) as lock:
        assert redis_client.get("lock:sensor:tick") == lock.token
        with pytest.raises(LockNotAcquired):
            SyncRedisLock(redis_client, "sensor:tick", timeout=5, wait_timeout=0.05).acquire()
        assert lock.extend(10)
        assert redis_client.pttl("lock:sensor:tick") > 5000
    assert not redis_client.exists("lock:sensor:tick")


async def test_unreachable_redis_raises_without_the_url(tmp_path):
    client = create_async_redis(f"unix://{tmp_path}/absent.sock")
    with pytest.raises(RedisUnavailable) as caught:
        async with RedisLock(client, "nowhere", timeout=5):
            pytest.fail("lock granted without Redis")
    assert str(tmp_path) not in str(caught.value)
    await client.aclose()


@pytest.mark.parametrize("name", ["", "has space", "brace{", "new\nline"])
def test_invalid_names_are_rejected(redis_client, name):
    with pytest.raises(ValueError, match="invalid lock name"):
        SyncRedisLock(redis_client, name, timeout=1)


@pytest.mark.parametrize("timeout", [0, -1])
def test_lock_must_expire(redis_client, timeout):
    with pytest.raises(ValueError, match="positive"):
        SyncRedisLock(redis_client, "x", timeout=timeout)
