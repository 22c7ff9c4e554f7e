"""Per-topic event streams in Redis, the replay buffer behind the API's server-sent events.

One stream per topic (`sse:audit:123`, `sse:run:<uuid>`): readers of a topic never scan other
topics' events, authorization is a check on the topic, and retention is per topic. Each publish is
`XADD ... MAXLEN ~ maxlen` plus `EXPIRE` in one script: approximate trimming is cheap (whole nodes)
and bounds memory, and the expiry removes streams nobody publishes to any more. The entry id
(`<ms>-<seq>`) is the SSE event id and the resume cursor, monotonic within a topic.

The stream is a best-effort, bounded buffer; Postgres stays the source of truth. A reader whose
cursor is older than `first_id(topic)` has missed trimmed events and must refetch a snapshot.

A publish waits out a Redis restart (`outage_seconds`, from the first failure of an outage) instead
of dropping the event, and its retries never add it twice: the script that adds the entry also
stores its id under the publish's random marker key for the retry window, so a retry after a lost
reply (the command ran, the answer did not arrive: a restart can do that) returns the first entry's
id. Past the window the event is given up (`RedisUnavailable`) and, until Redis answers again, later
publishes try once each, so a long outage does not hold every caller that long.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import NoScriptError
from redis.typing import EncodableT

from resources.redis._support import Backoff, check_name
from resources.redis.errors import REDIS_DOWN, RedisUnavailable, unavailable_as

_STREAM_ID = re.compile(r"(\d{1,20})(?:-(\d{1,20}))?")
LIVE = "$"  # XREAD cursor meaning "only entries added from now on"
#: A pipeline of publishes that meets one of these is done again topic by topic (`publish_all`).
_PIPELINE_FALLBACK: tuple[type[BaseException], ...] = (NoScriptError, *REDIS_DOWN)
#: How long a publish waits out a Redis outage (a restart, a failover) before giving its event up.
OUTAGE_SECONDS = 30.0
# KEYS[1] = the topic's stream, KEYS[2] = the publish's marker; ARGV = maxlen, ttl, window_ms, type, data.
# The marker holds the entry id for `window_ms`, so a retry of the same publish (ours after an outage,
# or redis-py's own after a lost reply) returns that entry instead of adding a second one.
_ADD_ONCE = """
local added = redis.call('GET', KEYS[2])
if added then
  return added
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'type', ARGV[4], 'data', ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], id, 'PX', ARGV[3])
return id
"""


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
    """Settings, the script's arguments and the outage window shared by the async and sync publishers."""

    def __init__(self, *, maxlen: int, ttl_seconds: int, outage_seconds: float) -> None:
        if maxlen < 1 or ttl_seconds < 1 or outage_seconds < 0:
            raise ValueError("maxlen and ttl_seconds must be >= 1, outage_seconds >= 0")
        self.maxlen = maxlen
        self.ttl_seconds = ttl_seconds
        self.outage_seconds = outage_seconds
        self._down_since: float | None = None

    def _args(self, topic: str, event_type: str, data: str) -> tuple[list[str], list[EncodableT]]:
        """The script's keys and arguments (`data`: the encoded payload); validation fails before any I/O."""
        window_ms = int((self.outage_seconds + 60) * 1000)  # the retries' span, with room for slow calls
        key = stream_key(topic)
        # The stream's name as hash tag: both keys in one Redis Cluster slot, as a script needs.
        marker = f"{{{key}}}:pub:{secrets.token_hex(8)}"
        event = check_name("event type", event_type)
        return [key, marker], [self.maxlen, self.ttl_seconds, window_ms, event, data]

    def _retry_in(self, backoff: Backoff | None) -> tuple[Backoff | None, float | None]:
        """After a failed attempt: the outage's back-off and how long to sleep, or None to give up."""
        now = time.monotonic()
        if self._down_since is None:
            self._down_since = now
        if backoff is None:
            backoff = Backoff(max(0.0, self._down_since + self.outage_seconds - now), initial=0.05, cap=1.0)
        return backoff, backoff.next_delay()

    @staticmethod
    def _unavailable(action: str, topic: str) -> AbstractContextManager[None]:
        return unavailable_as(RedisUnavailable, f"cannot {action} topic {topic!r}")


class EventPublisher(_Publisher):
    """Publishes and reads topic events with an asyncio client (API side).

    The client must decode responses to `str`, as the ones from `create_async_redis` do.
    """

    def __init__(
        self,
        redis: AsyncRedis,
        *,
        maxlen: int = 1000,
        ttl_seconds: int = 86_400,
        outage_seconds: float = OUTAGE_SECONDS,
    ) -> None:
        super().__init__(maxlen=maxlen, ttl_seconds=ttl_seconds, outage_seconds=outage_seconds)
        self._redis = redis
        self._add = redis.register_script(_ADD_ONCE)

    async def publish(self, topic: str, event_type: str, payload: Mapping[str, Any]) -> str:
        """Append an event to the topic's stream and return its entry id, waiting out an outage."""
        return await self._add_once(topic, *self._args(topic, event_type, encode_payload(payload)))

    async def publish_all(self, topics: Sequence[str], event_type: str, payload: Mapping[str, Any]) -> list[str]:
        """`publish` of one event to each of `topics` (in that order), sent in one round trip: an audit's
        events go to its fiche's topic and its own, a few per model call (decision 111)."""
        data = encode_payload(payload)
        calls = [(topic, *self._args(topic, event_type, data)) for topic in topics]
        if len(calls) > 1:
            try:
                # EVALSHA, not the pipeline's script registration, which asks Redis for the script first.
                async with self._redis.pipeline(transaction=False) as pipe:
                    for _, keys, args in calls:
                        pipe.evalsha(self._add.sha, len(keys), *keys, *args)
                    entry_ids = await pipe.execute()
                self._down_since = None
                return [str(entry_id) for entry_id in entry_ids]
            except _PIPELINE_FALLBACK:
                pass  # a Redis without the script yet, or an outage: topic by topic, with the same markers
        return [await self._add_once(topic, keys, args) for topic, keys, args in calls]

    async def _add_once(self, topic: str, keys: list[str], args: list[EncodableT]) -> str:
        """The script run until it answers, waiting out an outage; its marker makes a retry return the
        entry a lost reply (or an earlier pipeline) already added."""
        backoff = None
        while True:
            try:
                entry_id = await self._add(keys, args)
            except REDIS_DOWN:
                backoff, delay = self._retry_in(backoff)
                if delay is None:
                    with self._unavailable("publish to", topic):
                        raise
                await asyncio.sleep(delay)
                continue
            self._down_since = None
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

    def __init__(
        self, redis: Redis, *, maxlen: int = 1000, ttl_seconds: int = 86_400, outage_seconds: float = OUTAGE_SECONDS
    ) -> None:
        super().__init__(maxlen=maxlen, ttl_seconds=ttl_seconds, outage_seconds=outage_seconds)
        self._redis = redis
        self._add = redis.register_script(_ADD_ONCE)

    def publish(self, topic: str, event_type: str, payload: Mapping[str, Any]) -> str:
        """Append an event to the topic's stream and return its entry id, waiting out an outage."""
        keys, args = self._args(topic, event_type, encode_payload(payload))
        backoff = None
        while True:
            try:
                entry_id = self._add(keys, args)
            except REDIS_DOWN:
                backoff, delay = self._retry_in(backoff)
                if delay is None:
                    with self._unavailable("publish to", topic):
                        raise
                time.sleep(delay)
                continue
            self._down_since = None
            return str(entry_id)
