"""One blocking `XREAD` per replica, fanned out to every open SSE stream of that replica.

A blocking read per stream costs one Redis connection per browser tab; here one task reads every
followed topic at once (XREAD takes many keys) and hands new entries to the streams following
them through bounded queues. A stream first registers, then reads its own backlog (from its
`Last-Event-ID`) with plain reads, then takes the live entries from its queue, skipping those its
backlog already had: entry ids are monotonic per topic, so that handover loses and repeats nothing.

Redis failing under the reader ends every stream of the replica (the clients resume with their
`Last-Event-ID`); the reader retries with a short pause. A stream whose queue overflows (a client
too slow to read) is ended the same way, so a slow client never holds memory or delays others.

A stream of one topic served by our HTTP protocol (`callaudit.httpserver.DirectBody`) goes further
once its backlog is sent: the reader writes each entry's frame to the stream's connection itself, so
an event reaching 500 streams is 500 socket writes from one task instead of 500 task wake-ups, each
through the response's loop, the middlewares and h11. The stream's task then only waits for its end.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sse_starlette import ServerSentEvent

from resources.redis.streams import parse_stream_id, stream_key

log = logging.getLogger(__name__)

QUEUE_SIZE = 1000
READ_COUNT = 500
BLOCK_MS = 5000
RETRY_PAUSE_SECONDS = 1.0
WAKE_TTL_SECONDS = 3600


class StreamClosed(Exception):
    """The hub cannot feed this stream any more (Redis dropped, or the client fell too far behind)."""


class LifetimeReached(StreamClosed):
    """The stream lived its `REALTIME_STREAM_MAX_SECONDS`."""


@dataclass(frozen=True, eq=False)
class LiveEntry:
    """A new stream entry as every follower needs it: built once per entry, not once per follower.

    `frame` is the whole SSE frame for a stream following this topic alone (its id is the entry id),
    so such a stream forwards the bytes as they are; `chunk` is the same frame as one HTTP/1.1 chunk,
    for the streams written directly.
    """

    topic: str
    id: str
    key: tuple[int, int]
    type: str
    data: str
    frame: bytes
    chunk: bytes


class BodyWriter(Protocol):
    """Writes a frame to a started streaming response at once; False when it cannot (see
    `callaudit.httpserver.DirectBody`)."""

    def write(self, plain: bytes, chunked: bytes) -> bool: ...


@dataclass(eq=False)
class Subscription:
    topics: tuple[str, ...]
    queue: asyncio.Queue[LiveEntry | StreamClosed] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    closed: bool = False
    _reason: StreamClosed | None = None
    #: Set by `write_directly`: entries newer than `_sent` are written by the hub, not queued.
    _writer: BodyWriter | None = None
    _sent: tuple[int, int] = (0, 0)

    def offer(self, entry: LiveEntry) -> None:
        if self.closed:
            return
        if self._writer is not None:
            if entry.key > self._sent:
                if not self._writer.write(entry.frame, entry.chunk):
                    self.close(StreamClosed("the client fell behind or left"))
                    return
                self._sent = entry.key
            return
        try:
            self.queue.put_nowait(entry)
        except asyncio.QueueFull:
            self.close(StreamClosed("the client fell behind"))

    def write_directly(self, writer: BodyWriter, sent: tuple[int, int]) -> None:
        """From now on the hub writes this one-topic stream's entries newer than `sent` to `writer`.
        The caller has sent everything queued (`take` answered nothing), with no await since: the
        queue then only ever holds the reason the stream closed."""
        assert len(self.topics) == 1
        assert self.queue.empty()
        self._writer, self._sent = writer, sent

    def close(self, reason: StreamClosed) -> None:
        if self.closed:
            return
        self.closed = True
        while self.queue.full():  # make room for the reason: what was queued is resumed from the cursor
            self.queue.get_nowait()
        self.queue.put_nowait(reason)

    async def next(self) -> list[LiveEntry]:
        """The live entries queued so far, waiting for one if there is none; raises StreamClosed
        once closed (see `close`), after the entries queued before. A stream that fell behind gets
        them all at once and sends them together, so falling behind costs fewer sends, not more.

        No timeout of its own: a timer per wait would cost more than the delivery; the stream's
        lifetime closes the queue instead.
        """
        if self._reason is not None:
            raise self._reason
        return self._drain(await self.queue.get())

    def take(self) -> list[LiveEntry]:
        """What `next` would answer, without waiting: [] when nothing is queued."""
        if self._reason is not None:
            raise self._reason
        return [] if self.queue.empty() else self._drain(self.queue.get_nowait())

    def _drain(self, item: LiveEntry | StreamClosed) -> list[LiveEntry]:
        entries: list[LiveEntry] = []
        while True:
            if isinstance(item, StreamClosed):
                if entries:
                    self._reason = item
                    return entries
                raise item
            entries.append(item)
            if self.queue.empty():
                return entries
            item = self.queue.get_nowait()


class Slot:
    """One open stream's place in the replica's cap, given back once however the stream ends."""

    def __init__(self, give_back: Callable[[], None]) -> None:
        self._give_back: Callable[[], None] | None = give_back

    def release(self) -> None:
        give_back, self._give_back = self._give_back, None
        if give_back is not None:
            give_back()


class StreamHub:
    """The replica's reader. `blocking` must have a socket timeout longer than `block_ms`."""

    def __init__(self, blocking: aioredis.Redis, *, max_streams: int, block_ms: int = BLOCK_MS) -> None:
        self._redis = blocking
        self.max_streams = max_streams
        self._block_ms = block_ms
        self._subscribers: dict[str, set[Subscription]] = {}
        self._cursors: dict[str, str] = {}
        # Registering a topic wakes the reader through its own stream, so the topic joins the read
        # at once instead of after the current BLOCK times out.
        self._wake_key = stream_key(f"hub.{uuid.uuid4().hex}")
        self._wake_cursor = "0-0"
        self._reserved = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def open_streams(self) -> int:
        return self._reserved

    def reserve(self) -> Slot | None:
        """Take one of the replica's stream slots; None when all are taken."""
        if self._reserved >= self.max_streams:
            return None
        self._reserved += 1
        return Slot(self._give_back)

    def _give_back(self) -> None:
        self._reserved -= 1

    async def subscribe(self, topics: Iterable[str]) -> Subscription:
        """Register before reading the backlog: entries published from now on reach the queue."""
        subscription = Subscription(tuple(topics))
        new = False
        for topic in subscription.topics:
            if topic not in self._cursors:
                last = await self._redis.xrevrange(stream_key(topic), "+", "-", count=1)
                self._cursors.setdefault(topic, str(last[0][0]) if last else "0-0")
                new = True
            self._subscribers.setdefault(topic, set()).add(subscription)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="sse-hub")
        elif new:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.xadd(self._wake_key, {"wake": "1"}, maxlen=10, approximate=True)
                pipe.expire(self._wake_key, WAKE_TTL_SECONDS)  # a replica gone leaves nothing behind
                await pipe.execute()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        for topic in subscription.topics:
            followers = self._subscribers.get(topic)
            if followers is not None:
                followers.discard(subscription)
                if not followers:
                    del self._subscribers[topic]
                    self._cursors.pop(topic, None)

    async def _run(self) -> None:
        while self._subscribers:
            try:
                await self._read_once()
            except (RedisError, OSError) as exc:
                log.warning("SSE hub lost Redis (%s): closing %d stream(s)", type(exc).__name__, self._count())
                self._close_all(StreamClosed("Redis unavailable"))
                await asyncio.sleep(RETRY_PAUSE_SECONDS)
            except Exception:  # a reader that died silently would leave every stream waiting
                log.exception("SSE hub failed: closing %d stream(s)", self._count())
                self._close_all(StreamClosed("server error"))
                await asyncio.sleep(RETRY_PAUSE_SECONDS)

    async def _read_once(self) -> None:
        keys: dict[Any, Any] = {stream_key(t): c for t, c in self._cursors.items()}
        keys[self._wake_key] = self._wake_cursor
        response: Any = await self._redis.xread(keys, count=READ_COUNT, block=self._block_ms)
        streams = response.items() if isinstance(response, dict) else response or []
        for key, entries in streams:
            if key == self._wake_key:
                self._wake_cursor = str(entries[-1][0])
                continue
            topic = str(key).removeprefix("sse:")
            followers = self._subscribers.get(topic)
            if followers is None:  # unfollowed while the read was blocked
                continue
            for entry_id, fields in entries:
                entry = _entry(topic, str(entry_id), fields["type"], fields["data"])
                for subscription in list(followers):
                    subscription.offer(entry)
            self._cursors[topic] = str(entries[-1][0])

    def _count(self) -> int:
        return len({s for followers in self._subscribers.values() for s in followers})

    def _close_all(self, reason: StreamClosed) -> None:
        for followers in list(self._subscribers.values()):
            for subscription in list(followers):
                subscription.close(reason)
                self.unsubscribe(subscription)

    async def close(self) -> None:
        self._close_all(StreamClosed("the server is shutting down"))
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._redis.aclose()


def _entry(topic: str, entry_id: str, event_type: str, data: str) -> LiveEntry:
    frame = ServerSentEvent(data, event=event_type, id=entry_id).encode()
    chunk = b"%x\r\n%b\r\n" % (len(frame), frame)
    return LiveEntry(topic, entry_id, parse_stream_id(entry_id), event_type, data, frame, chunk)
