"""The lease semaphore against a real Redis 6.2: a global cap across processes, crash recovery, fail closed."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import time
from multiprocessing.synchronize import Barrier, Event

import pytest
import redis

from callaudit.embedded import EmbeddedRedis
from resources.redis import (
    LeaseSemaphore,
    SemaphoreTimeout,
    SemaphoreUnavailable,
    create_async_redis,
)

SPAWN = multiprocessing.get_context("spawn")

# Counts the workers inside their critical section and keeps the highest count ever seen, atomically.
_ENTER = """
local active = redis.call('INCR', KEYS[1])
if active > tonumber(redis.call('GET', KEYS[2]) or '0') then redis.call('SET', KEYS[2], active) end
return active
"""


# --- code run in spawned processes (module level so that `spawn` can import it) --------------------


def _capped_workers(url: str, workers: int, barrier: Barrier) -> None:
    async def main() -> None:
        client = create_async_redis(url)
        sem = LeaseSemaphore(client, "crowd", 3, lease_seconds=5, max_poll_interval=0.05)
        enter = client.register_script(_ENTER)

        async def worker() -> None:
            async with sem.slot(wait_timeout=20) as lease:
                await enter(keys=["crowd:active", "crowd:peak"])
                await client.rpush("crowd:fences", lease.fence)
                await asyncio.sleep(0.05)
                await client.decr("crowd:active")

        await asyncio.gather(*(worker() for _ in range(workers)))
        await client.aclose()

    barrier.wait(timeout=30)  # both processes are imported and ready: start contending together
    asyncio.run(main())


def _hold_forever(url: str, acquired: Event) -> None:
    async def main() -> None:
        sem = LeaseSemaphore(create_async_redis(url), "victim", 1, lease_seconds=1)
        async with sem.slot(wait_timeout=10):
            acquired.set()
            await asyncio.sleep(3600)

    asyncio.run(main())


# --- tests ------------------------------------------------------------------------------------------


def test_cap_holds_across_two_processes(redis_url, redis_client):
    barrier = SPAWN.Barrier(2)
    processes = [SPAWN.Process(target=_capped_workers, args=(redis_url, 15, barrier)) for _ in range(2)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
    assert [process.exitcode for process in processes] == [0, 0]

    fences = redis_client.lrange("crowd:fences", 0, -1)
    assert len(fences) == 30
    assert len(set(fences)) == 30
    assert redis_client.get("crowd:peak") == "3"
    assert redis_client.get("crowd:active") == "0"
    assert redis_client.zcard("sem:{crowd}:holders") == 0  # every slot was given back


async def test_killed_holder_slot_returns_after_its_lease(redis_url, aredis):
    acquired = SPAWN.Event()
    holder = SPAWN.Process(target=_hold_forever, args=(redis_url, acquired))
    holder.start()
    assert holder.pid is not None
    try:
        assert await asyncio.to_thread(acquired.wait, 30)
        sem = LeaseSemaphore(aredis, "victim", 1, lease_seconds=1, max_poll_interval=0.05)
        [victim] = await sem.holders()
        assert f":{holder.pid}:" in victim.holder_id
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.join(timeout=10)
    killed_at = time.monotonic()

    # Right after the kill the dead holder still owns the only slot...
    with pytest.raises(SemaphoreTimeout):
        async with sem.slot(wait_timeout=0):
            pytest.fail("slot granted while the killed holder's lease was still running")
    # ...and it comes back once the lease (1 s, renewed every 1/3 s until the kill) has run out.
    async with sem.slot(wait_timeout=5) as lease:
        reclaimed_after = time.monotonic() - killed_at
        assert lease.fence == 2
    assert reclaimed_after < 3


async def test_heartbeat_keeps_lease_past_its_length(aredis):
    sem = LeaseSemaphore(aredis, "long-job", 1, lease_seconds=0.3, max_poll_interval=0.05)
    async with sem.slot(wait_timeout=1) as lease:
        for _ in range(4):  # 1.2 s of work, four times the lease
            await asyncio.sleep(0.3)
            with pytest.raises(SemaphoreTimeout):
                async with sem.slot(wait_timeout=0):
                    pytest.fail("second holder admitted while the first one is still working")
        assert not lease.lost.is_set()
        [holder] = await sem.holders()
        assert holder.holder_id == lease.holder_id
        assert 0 < holder.expires_in <= 0.3
    assert await sem.count() == 0


async def test_lease_flagged_lost_when_renewal_is_refused(aredis, redis_client):
    sem = LeaseSemaphore(aredis, "reaped", 1, lease_seconds=0.3)
    async with sem.slot(wait_timeout=1) as lease:
        redis_client.delete("sem:{reaped}:holders")  # as if the lease had ended and been reaped
        await asyncio.wait_for(lease.lost.wait(), timeout=1)


async def test_wait_timeout_raises(aredis):
    sem = LeaseSemaphore(aredis, "busy", 1, lease_seconds=5, max_poll_interval=0.05)
    async with sem.slot(wait_timeout=1):
        started = time.monotonic()
        with pytest.raises(SemaphoreTimeout, match="busy"):
            async with sem.slot(wait_timeout=0.3):
                pytest.fail("slot granted beyond the limit")
        assert 0.3 <= time.monotonic() - started < 2


async def test_callers_beyond_the_limit_wait_in_line_without_polling(aredis, monkeypatch):
    """One process never holds more than `limit` slots: its extra callers queue locally, so each
    caller asks Redis once when nobody else holds the semaphore, and the cap still holds."""
    sem = LeaseSemaphore(aredis, "queue", 3, lease_seconds=5, max_poll_interval=0.01)
    script, asked = sem._acquire, []

    async def counted(**kwargs):
        asked.append(1)
        return await script(**kwargs)

    monkeypatch.setattr(sem, "_acquire", counted)
    inside, peak = 0, 0

    async def worker() -> None:
        nonlocal inside, peak
        async with sem.slot(wait_timeout=10):
            inside += 1
            peak = max(peak, inside)
            await asyncio.sleep(0.05)
            inside -= 1

    await asyncio.gather(*(worker() for _ in range(12)))
    assert peak == 3
    assert len(asked) == 12
    assert await sem.count() == 0


async def test_retried_acquire_keeps_its_slot_and_fence(aredis):
    """redis-py re-sends a call whose reply was lost; the retry must not take a second slot."""
    sem = LeaseSemaphore(aredis, "retry", 2, lease_seconds=5)
    keys = [sem.holders_key, sem.fences_key, sem.fence_key]
    first = await sem._acquire(keys=keys, args=[2, 5000, "holder-a"])
    again = await sem._acquire(keys=keys, args=[2, 5000, "holder-a"])
    assert first == again == [1, 1]
    assert await sem.count() == 1


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        ("unix://{tmp}/no-such-redis.sock", "no-such-redis.sock"),
        ("redis://:s3cr3t-pw@127.0.0.1:1/0", "s3cr3t-pw"),
    ],
)
async def test_fails_closed_when_redis_is_unreachable(tmp_path, url, secret):
    client = create_async_redis(url.format(tmp=tmp_path))
    sem = LeaseSemaphore(client, "crm-search", 1)
    with pytest.raises(SemaphoreUnavailable) as caught:
        async with sem.slot(wait_timeout=1):
            pytest.fail("slot granted without Redis")
    message = str(caught.value)
    assert "Redis is unreachable" in message
    assert "crm-search" in message
    assert secret not in message
    assert str(tmp_path) not in message
    with pytest.raises(SemaphoreUnavailable):
        await sem.count()
    await client.aclose()


async def test_redis_dying_mid_lease_flags_it_lost_and_refuses_new_slots(tmp_path):
    server = EmbeddedRedis(tmp_path)
    server.start()
    try:
        url, pid = server.url(), server.status().pid
        assert url is not None
        assert pid is not None
        client = create_async_redis(url)
        sem = LeaseSemaphore(client, "fragile", 2, lease_seconds=0.6)
        async with sem.slot(wait_timeout=1) as lease:
            os.kill(pid, signal.SIGKILL)
            await asyncio.wait_for(lease.lost.wait(), timeout=3)
        # Leaving the block did not raise although the release could not reach Redis.
        with pytest.raises(SemaphoreUnavailable) as caught:
            async with sem.slot(wait_timeout=1):
                pytest.fail("slot granted without Redis")
        assert str(server.socket_path) not in str(caught.value)
        assert isinstance(caught.value.__cause__, redis.exceptions.ConnectionError)
        await client.aclose()
    finally:
        server.stop()
