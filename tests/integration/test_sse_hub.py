"""The replica's SSE hub on a real Redis: one read fans out, a client falling behind is let go."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from api.realtime.hub import QUEUE_SIZE, StreamClosed, StreamHub
from resources.redis import EventPublisher


async def test_entries_reach_every_follower_once_and_a_laggard_is_closed(aredis: aioredis.Redis) -> None:
    hub = StreamHub(aredis, max_streams=10, block_ms=200)
    publisher = EventPublisher(aredis)
    reader = await hub.subscribe(["fiche:F1"])
    laggard = await hub.subscribe(["fiche:F1", "fiche:F2"])
    first = await publisher.publish("fiche:F1", "audit.progress", {"n": 1})
    async with asyncio.timeout(10):
        [entry] = await reader.next()
        [same] = await laggard.next()
    assert (entry.id, same.id, entry.topic) == (first, first, "fiche:F1")
    assert entry.frame.startswith(f"id: {first}".encode()), "encoded once, forwarded as is"

    async with aredis.pipeline(transaction=False) as pipe:
        for n in range(QUEUE_SIZE + 1):
            pipe.xadd("sse:fiche:F2", {"type": "audit.progress", "data": f'{{"n":{n}}}'})
        await pipe.execute()
    async with asyncio.timeout(10):
        while not laggard.closed:  # noqa: ASYNC110 - not reading is the point: the laggard falls behind
            await asyncio.sleep(0.01)
        entries = await laggard.next()  # what was queued still comes, all at once
        with pytest.raises(StreamClosed, match="fell behind"):
            await laggard.next()
    assert 0 < len(entries) < QUEUE_SIZE
    hub.unsubscribe(reader)
    hub.unsubscribe(laggard)
    await hub.close()


async def test_stream_slots_are_capped_and_given_back_once(aredis: aioredis.Redis) -> None:
    hub = StreamHub(aredis, max_streams=2)
    first, second = hub.reserve(), hub.reserve()
    assert first is not None
    assert second is not None
    assert hub.reserve() is None
    first.release()
    first.release()  # a stream ending twice (its `finally` and its collection) counts once
    assert hub.open_streams == 1
    assert hub.reserve() is not None
    assert hub.reserve() is None


async def test_a_reader_failure_ends_the_streams_instead_of_leaving_them_waiting(aredis: aioredis.Redis) -> None:
    hub = StreamHub(aredis, max_streams=10, block_ms=200)
    subscription = await hub.subscribe(["fiche:F9"])
    await aredis.xadd("sse:fiche:F9", {"unexpected": "entry"})  # not written by our publisher
    async with asyncio.timeout(10):
        with pytest.raises(StreamClosed, match="server error"):
            await subscription.next()
    await hub.close()
