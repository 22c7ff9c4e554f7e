"""One SSE stream: resume cursors, the `reset` decision, the backlog, then the live entries.

The event id of a stream following one topic is the Redis entry id (`<ms>-<seq>`); following
several, it is their entry ids joined by commas, in the order of the `topic` parameters, so the
`Last-Event-ID` a browser sends back on reconnect resumes every topic where it stopped, on any
replica. A cursor older than a topic's oldest retained entry (trimmed, or the stream expired)
gets a `reset` event: the client refetches the REST state, and the topic goes on from its tail.

Nothing here holds a database session: authorization happened before the stream started.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sse_starlette import ServerSentEvent

from api.realtime.hub import BodyWriter, LifetimeReached, LiveEntry, Slot, StreamClosed, StreamHub, Subscription
from resources.redis.streams import parse_stream_id, stream_key

ORIGIN = "0-0"
#: Reconnect hints (ms): soon after a planned end, a little later after an outage.
RETRY_AFTER_END_MS = 500
RETRY_AFTER_FAILURE_MS = 3000
BACKLOG_COUNT = 500


class BadCursor(ValueError):
    """A `Last-Event-ID` that is not one entry id per followed topic."""


def parse_last_event_id(value: str | None, topics: int) -> list[str | None]:
    if value is None or not value.strip():
        return [None] * topics
    parts = [p.strip() for p in value.split(",")]
    if len(parts) != topics:
        raise BadCursor(f"expected {topics} comma-separated entry id(s), one per topic, got {len(parts)}")
    for part in parts:
        try:
            parse_stream_id(part)
        except ValueError:
            raise BadCursor("expected entry ids '<milliseconds>-<sequence>'") from None
    return list(parts)


@dataclass
class Plan:
    """Where each topic's stream starts, and which topics need a `reset` first."""

    topics: tuple[str, ...]
    positions: list[str]
    resets: list[bool]

    def event_id(self) -> str:
        return ",".join(self.positions)


async def plan_stream(
    redis: aioredis.Redis, topics: Sequence[str], cursors: Sequence[str | None], *, replay: bool
) -> Plan:
    """Resolved before the response starts (one round trip for every topic's oldest and newest
    entries), so Redis being down is a 503, not a stream that breaks at once."""
    async with redis.pipeline(transaction=False) as pipe:
        for topic in topics:
            pipe.xrange(stream_key(topic), "-", "+", count=1)
            pipe.xrevrange(stream_key(topic), "+", "-", count=1)
        answers: list[Any] = await pipe.execute()
    positions: list[str] = []
    resets: list[bool] = []
    for i, cursor in enumerate(cursors):
        first, last = answers[2 * i], answers[2 * i + 1]
        tail = str(last[0][0]) if last else ORIGIN
        if cursor is None:
            positions.append(ORIGIN if replay else tail)
            resets.append(False)
            continue
        trimmed = cursor != ORIGIN and (not first or parse_stream_id(cursor) < parse_stream_id(str(first[0][0])))
        positions.append(tail if trimmed else cursor)
        resets.append(trimmed)
    return Plan(tuple(topics), positions, resets)


async def _backlog(redis: aioredis.Redis, plan: Plan, keys: list[tuple[int, int]]) -> AsyncIterator[ServerSentEvent]:
    """What each topic has after its position, read without blocking (the hub brings the rest)."""
    for i, topic in enumerate(plan.topics):
        while True:
            response: Any = await redis.xread({stream_key(topic): plan.positions[i]}, count=BACKLOG_COUNT)
            batches = response.values() if isinstance(response, dict) else [b for _, b in response or []]
            entries = [entry for batch in batches for entry in batch]
            if not entries:
                break
            for entry_id, fields in entries:
                plan.positions[i] = str(entry_id)
                keys[i] = parse_stream_id(plan.positions[i])
                yield ServerSentEvent(fields["data"], event=fields["type"], id=plan.event_id())


def _frames(plan: Plan, keys: list[tuple[int, int]], entries: list[LiveEntry]) -> bytes:
    """The entries not sent yet, as one chunk; a stream of one topic forwards the hub's frames."""
    frames = []
    for entry in entries:
        i = plan.topics.index(entry.topic)
        if entry.key <= keys[i]:
            continue  # already sent from the backlog
        plan.positions[i], keys[i] = entry.id, entry.key
        if len(plan.topics) == 1:
            frames.append(entry.frame)
        else:
            frames.append(ServerSentEvent(entry.data, event=entry.type, id=plan.event_id()).encode())
    return b"".join(frames)


async def _queued(subscription: Subscription, plan: Plan, keys: list[tuple[int, int]]) -> AsyncIterator[bytes]:
    """The live entries queued while the backlog was sent, until none is left."""
    while entries := subscription.take():
        if chunk := _frames(plan, keys, entries):
            yield chunk


async def events(  # noqa: PLR0917 - one stream's parts
    hub: StreamHub, redis: aioredis.Redis, plan: Plan, lifetime: float, slot: Slot, writer: BodyWriter | None = None
) -> AsyncIterator[ServerSentEvent | bytes]:
    """The stream's events until its lifetime, an outage or the client's departure; then `slot` is
    given back (here rather than in a wrapping generator: one generator hop less per delivery).

    With a `writer` (the server's direct body writer) a one-topic stream hands its live entries to
    the hub once the backlog and what queued meanwhile are sent, and waits for its end."""
    keys = [parse_stream_id(position) for position in plan.positions]
    subscription = None
    expiry = None
    try:
        subscription = await hub.subscribe(plan.topics)
        expiry = asyncio.get_running_loop().call_later(lifetime, subscription.close, LifetimeReached())
        for i, topic in enumerate(plan.topics):
            if plan.resets[i]:
                data = json.dumps({"topic": topic, "reason": "history_trimmed"})
                yield ServerSentEvent(data, event="reset", id=plan.event_id())
        async for event in _backlog(redis, plan, keys):
            yield event
        if writer is not None and len(plan.topics) == 1:
            async for chunk in _queued(subscription, plan, keys):
                yield chunk
            subscription.write_directly(writer, keys[0])
        while True:
            if chunk := _frames(plan, keys, await subscription.next()):
                yield chunk
    except LifetimeReached:
        yield ServerSentEvent(comment="stream lifetime reached; resume with Last-Event-ID", retry=RETRY_AFTER_END_MS)
    except (StreamClosed, RedisError, OSError):
        yield ServerSentEvent(comment="stream interrupted; resume with Last-Event-ID", retry=RETRY_AFTER_FAILURE_MS)
    finally:
        if expiry is not None:
            expiry.cancel()
        if subscription is not None:
            hub.unsubscribe(subscription)
        slot.release()
