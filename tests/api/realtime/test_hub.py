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


class _Connection:
    """A direct body writer that records what it is given, and refuses once `open` is False."""

    def __init__(self, *, chunked: bool) -> None:
        self.chunked = chunked
        self.open = True
        self.written: list[bytes] = []

    def write(self, plain: bytes, chunked: bytes) -> bool:
        if not self.open:
            return False
        self.written.append(chunked if self.chunked else plain)
        return True


async def test_a_direct_follower_is_written_by_the_reader_from_where_its_queue_stopped(aredis: aioredis.Redis) -> None:
    hub = StreamHub(aredis, max_streams=10, block_ms=200)
    publisher = EventPublisher(aredis)
    direct, queued = await hub.subscribe(["fiche:D1"]), await hub.subscribe(["fiche:D1"])
    first = await publisher.publish("fiche:D1", "audit.progress", {"n": 1})
    async with asyncio.timeout(10):
        [entry] = await direct.next()
        assert direct.take() == []
    connection = _Connection(chunked=True)
    direct.write_directly(connection, entry.key)
    second = await publisher.publish("fiche:D1", "audit.progress", {"n": 2})
    third = await publisher.publish("fiche:D1", "audit.progress", {"n": 3})
    async with asyncio.timeout(10):
        while len(connection.written) < 2:  # noqa: ASYNC110 - the reader writes, nothing to await here
            await asyncio.sleep(0.01)
        seen: list[str] = []
        while len(seen) < 3:
            seen += [e.id for e in await queued.next()]
    assert seen == [first, second, third], "a queued follower of the same topic is unaffected"
    frames = [f"id: {second}".encode(), f"id: {third}".encode()]
    for written, frame_start in zip(connection.written, frames, strict=True):
        size, _, rest = written.partition(b"\r\n")
        assert int(size, 16) == len(rest) - 2, "one HTTP/1.1 chunk per frame"
        assert rest.startswith(frame_start)
        assert rest.endswith(b"\r\n\r\n\r\n"), "the frame's blank line, then the chunk's end"
    assert direct.take() == [], "nothing is queued once written directly"

    # An entry the stream already sent (its backlog went past the reader's cursor) is not written again.
    direct.offer(entry)
    assert len(connection.written) == 2

    connection.open = False  # the client stopped reading or left: the stream ends, and will resume
    await publisher.publish("fiche:D1", "audit.progress", {"n": 4})
    async with asyncio.timeout(10):
        with pytest.raises(StreamClosed, match="fell behind or left"):
            await direct.next()
    hub.unsubscribe(direct)
    hub.unsubscribe(queued)
    await hub.close()
