"""Per-topic event streams in Redis, the replay buffer behind the API's server-sent events.

One stream per topic (`sse:audit:123`, `sse:run:<uuid>`): readers of a topic never scan other
topics' events, authorization is a check on the topic, and retention is per topic. Each publish is
`XADD ... MAXLEN ~ maxlen` plus `EXPIRE` in one MULTI: approximate trimming is cheap (whole nodes)
and bounds memory, and the expiry removes streams nobody publishes to any more. The entry id
(`<ms>-<seq>`) is the SSE event id and the resume cursor, monotonic within a topic.

The stream is a best-effort, bounded buffer; Postgres stays the source of truth. A reader whose
cursor is older than `first_id(topic)` has missed trimmed events and must refetch a snapshot.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.asyncio.client import Pipeline as AsyncPipeline
from redis.client import Pipeline
from redis.typing import EncodableT, FieldT

from resources.redis._support import check_name
from resources.redis.errors import RedisUnavailable, unavailable_as

_STREAM_ID = re.compile(r"(\d{1,20})(?:-(\d{1,20}))?")
LIVE = "$"  # XREAD cursor meaning "only entries added from now on"


def stream_key(topic: str) -> str:
    """The Redis key of a topic's stream; rejects names outside letters, digits and `:_-.`."""
    return f"sse:{check_name('topic', topic)}"


def parse_stream_id(value: str) -> tuple[int, int]:
    """`"<ms>-<seq>"` (or `"<ms>"`) as a comparable tuple; ValueError for anything else.

    Cursors come from clients (`Last-Event-ID`), so they are checked before reaching Redis, and
    comparing tuples tells whether a cursor predates the first retained entry.
    """
    match = _STREAM_ID.fullmatch(value)
    if match is None:
        raise ValueError("invalid stream id: expected '<milliseconds>-<sequence>'")
    return int(match[1]), int(match[2] or 0)


def _json_default(value: object) -> str:
    # datetime is a date subclass; ISO 8601 keeps time zones. Decimal as text keeps its precision.
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def encode_payload(payload: Mapping[str, Any]) -> str:
    """Compact JSON for an event payload; datetimes, dates, Decimals and UUIDs become strings."""
    return json.dumps(payload, default=_json_default, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class StreamEvent:
    """One stream entry. `data` is the JSON text as stored, so SSE can forward it without re-encoding."""

    id: str
    type: str
    data: str

    def payload(self) -> Any:
        return json.loads(self.data)


class _Publisher:
    """Settings and command building shared by the async and sync publishers."""

    def __init__(self, *, maxlen: int, ttl_seconds: int) -> None:
        if maxlen < 1 or ttl_seconds < 1:
            raise ValueError("maxlen and ttl_seconds must be >= 1")
        self.maxlen = maxlen
        self.ttl_seconds = ttl_seconds

    def _queue(self, pipe: Pipeline | AsyncPipeline, topic: str, event_type: str, payload: Mapping[str, Any]) -> None:
        """Queue XADD + EXPIRE on a MULTI pipeline; validation and encoding fail before any I/O."""
        key = stream_key(topic)
        fields: dict[FieldT, EncodableT] = {
            "type": check_name("event type", event_type),
            "data": encode_payload(payload),
        }
        pipe.xadd(key, fields, maxlen=self.maxlen, approximate=True)
        pipe.expire(key, self.ttl_seconds)

    @staticmethod
    def _unavailable(action: str, topic: str) -> AbstractContextManager[None]:
        return unavailable_as(RedisUnavailable, f"cannot {action} topic {topic!r}")


class EventPublisher(_Publisher):
    """Publishes and reads topic events with an asyncio client (API side).

    The client must decode responses to `str`, as the ones from `create_async_redis` do.
    """

    def __init__(self, redis: AsyncRedis, *, maxlen: int = 1000, ttl_seconds: int = 86_400) -> None:
        super().__init__(maxlen=maxlen, ttl_seconds=ttl_seconds)
        self._redis = redis

    async def publish(self, topic: str, event_type: str, payload: Mapping[str, Any]) -> str:
        """Append an event to the topic's stream and return its entry id."""
        async with self._redis.pipeline(transaction=True) as pipe:
            self._queue(pipe, topic, event_type, payload)
            with self._unavailable("publish to", topic):
                entry_id, _ = await pipe.execute()
        return str(entry_id)

    async def read(
        self, topic: str, after_id: str = "0-0", count: int = 100, block_ms: int | None = None
    ) -> list[StreamEvent]:
        """Up to `count` events after `after_id` (`"0-0"`: all retained, `LIVE`: only new ones).

        With `block_ms`, waits up to that long for an event. The client's `socket_timeout` must be
        longer than the wait, otherwise redis-py gives up before Redis answers: use a dedicated
        client for blocking reads (see `create_async_redis`).
        """
        key = stream_key(topic)
        if after_id != LIVE:
            parse_stream_id(after_id)
        if block_ms is not None:
            # BLOCK 0 would wait forever and pin a connection.
            if block_ms < 1:
                raise ValueError("block_ms must be >= 1")
            socket_timeout = self._redis.connection_pool.connection_kwargs.get("socket_timeout")
            if socket_timeout is not None and socket_timeout <= block_ms / 1000:
                raise ValueError("block_ms must be shorter than the client's socket_timeout")
        with self._unavailable("read", topic):
            response = await self._redis.xread({key: after_id}, count=count, block=block_ms)
        # RESP2 and redis-py's default "legacy" RESP3 answer [[key, entries]]; plain RESP3 {key: entries}.
        streams: Iterable[Any] = response.values() if isinstance(response, dict) else (item[1] for item in response)
        return [
            StreamEvent(str(entry_id), fields["type"], fields["data"])
            for entries in streams
            for entry_id, fields in entries
        ]

    async def first_id(self, topic: str) -> str | None:
        """The oldest retained entry id, or None when the stream is empty or gone (trimmed/expired)."""
        with self._unavailable("read", topic):
            entries = await self._redis.xrange(stream_key(topic), "-", "+", count=1)
        return str(entries[0][0]) if entries else None


class SyncEventPublisher(_Publisher):
    """The synchronous twin of `EventPublisher.publish`, for Dagster ops and sensors."""

    def __init__(self, redis: Redis, *, maxlen: int = 1000, ttl_seconds: int = 86_400) -> None:
        super().__init__(maxlen=maxlen, ttl_seconds=ttl_seconds)
        self._redis = redis

    def publish(self, topic: str, event_type: str, payload: Mapping[str, Any]) -> str:
        """Append an event to the topic's stream and return its entry id."""
        with self._redis.pipeline(transaction=True) as pipe:
            self._queue(pipe, topic, event_type, payload)
            with self._unavailable("publish to", topic):
                entry_id, _ = pipe.execute()
        return str(entry_id)
