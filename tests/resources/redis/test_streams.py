"""Per-topic event streams against a real Redis 6.2: ids, trimming, expiry, validation, reads."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
import redis

from callaudit.embedded import EmbeddedRedis
from resources.redis import (
    LIVE,
    EventPublisher,
    RedisUnavailable,
    SyncEventPublisher,
    create_async_redis,
    parse_stream_id,
)


@pytest.fixture
def publisher(aredis):
    return EventPublisher(aredis)


async def test_publish_returns_increasing_ids(publisher, redis_client):
    ids = [await publisher.publish("audit:123", "progress", {"step": step}) for step in range(10)]
    assert [parse_stream_id(entry_id) for entry_id in ids] == sorted(parse_stream_id(entry_id) for entry_id in ids)
    assert len(set(ids)) == 10
    [(first_id, fields)] = redis_client.xrange("sse:audit:123", count=1)
    assert first_id == ids[0]
    assert fields == {"type": "progress", "data": '{"step":0}'}


def test_maxlen_caps_the_stream(redis_client):
    publisher = SyncEventPublisher(redis_client, maxlen=100)
    first = publisher.publish("run:flood", "tick", {"n": 0})
    for n in range(1, 5000):
        publisher.publish("run:flood", "tick", {"n": n})
    # `MAXLEN ~` trims whole internal nodes, so the length hovers a little above the cap.
    assert 100 <= redis_client.xlen("sse:run:flood") <= 500
    assert redis_client.xrange("sse:run:flood", count=1)[0][0] != first


async def test_each_publish_refreshes_the_ttl(aredis, redis_client):
    publisher = EventPublisher(aredis, ttl_seconds=60)
    await publisher.publish("fiche:ABC", "fetched", {})
    redis_client.expire("sse:fiche:ABC", 5)
    await publisher.publish("fiche:ABC", "fetched", {})
    assert 55 < redis_client.ttl("sse:fiche:ABC") <= 60


@pytest.mark.parametrize("topic", ["", "audit 1", "run:{x}", "job:a\nb", "é", ":leading", "x" * 201])
async def test_invalid_topics_are_rejected(publisher, redis_client, topic):
    with pytest.raises(ValueError, match="invalid topic"):
        await publisher.publish(topic, "progress", {})
    with pytest.raises(ValueError, match="invalid topic"):
        await publisher.read(topic)
    assert redis_client.dbsize() == 0


async def test_invalid_event_type_and_payload_write_nothing(publisher, redis_client):
    with pytest.raises(ValueError, match="invalid event type"):
        await publisher.publish("audit:1", "done\ndata: injected", {})
    with pytest.raises(TypeError, match="not JSON serializable"):
        await publisher.publish("audit:1", "done", {"x": object()})
    assert redis_client.dbsize() == 0


async def test_read_after_an_id_returns_only_later_events(publisher):
    ids = [await publisher.publish("job:j-1", f"step.{n}", {"n": n}) for n in range(5)]
    events = await publisher.read("job:j-1", after_id=ids[1])
    assert [event.id for event in events] == ids[2:]
    assert [event.type for event in events] == ["step.2", "step.3", "step.4"]
    assert [event.payload() for event in events] == [{"n": 2}, {"n": 3}, {"n": 4}]
    assert [event.id for event in await publisher.read("job:j-1", count=2)] == ids[:2]
    assert await publisher.read("job:j-1", after_id=ids[-1]) == []


async def test_blocking_live_read_receives_a_new_event(publisher):
    reader = asyncio.create_task(publisher.read("run:live", after_id=LIVE, block_ms=2000))
    await asyncio.sleep(0.1)
    entry_id = await publisher.publish("run:live", "started", {"ok": True})
    [event] = await reader
    assert event.id == entry_id
    assert event.payload() == {"ok": True}


async def test_read_checks_cursor_and_block_time(publisher):
    with pytest.raises(ValueError, match="invalid stream id"):
        await publisher.read("run:x", after_id="0-0; FLUSHALL")
    with pytest.raises(ValueError, match="socket_timeout"):
        await publisher.read("run:x", block_ms=60_000)  # would outlast the client's 5 s socket timeout
    with pytest.raises(ValueError, match="block_ms"):
        await publisher.read("run:x", block_ms=0)  # BLOCK 0 waits forever


async def test_json_payload_round_trips(publisher):
    run_id = uuid.uuid4()
    payload = {
        "at": datetime(2026, 11, 25, 14, 30, 5, 123000, tzinfo=UTC),
        "day": date(2026, 11, 25),
        "score": Decimal("87.50"),
        "run": run_id,
        "nested": {"items": [1, "deux", None, True]},
        "text": "appel été",
    }
    await publisher.publish(f"run:{run_id}", "audit.completed", payload)
    [event] = await publisher.read(f"run:{run_id}")
    assert event.type == "audit.completed"
    assert event.payload() == {
        "at": "2026-11-25T14:30:05.123000+00:00",
        "day": "2026-11-25",
        "score": "87.50",
        "run": str(run_id),
        "nested": {"items": [1, "deux", None, True]},
        "text": "appel été",
    }


async def test_first_id_for_gap_detection(publisher, redis_client):
    assert await publisher.first_id("audit:9") is None
    first = await publisher.publish("audit:9", "a", {})
    await publisher.publish("audit:9", "b", {})
    assert await publisher.first_id("audit:9") == first
    redis_client.xtrim("sse:audit:9", maxlen=1, approximate=False)
    retained = await publisher.first_id("audit:9")
    assert retained is not None
    assert parse_stream_id(first) < parse_stream_id(retained)  # a client resuming at `first` missed events


async def test_unreachable_redis_raises_without_the_url(tmp_path):
    client = create_async_redis(f"unix://{tmp_path}/absent.sock")
    with pytest.raises(RedisUnavailable) as caught:
        await EventPublisher(client, outage_seconds=0).publish("audit:1", "x", {})
    assert str(tmp_path) not in str(caught.value)
    await client.aclose()


@pytest.mark.parametrize("topics", [["audit:7"], ["fiche:F2", "audit:7"]], ids=["publish", "publish_all"])
async def test_a_publish_waits_out_a_redis_restart(tmp_path, topics):
    """An event published while Redis restarts is stored once it is back, after what was there before
    (`publish_all`'s, on each of its topics)."""
    server = EmbeddedRedis(tmp_path)
    server.start()
    url = server.url()
    assert url is not None
    client = create_async_redis(url)
    try:
        publisher = EventPublisher(client)

        async def send(event_type: str, n: int) -> list[str]:
            if len(topics) == 1:
                return [await publisher.publish(topics[0], event_type, {"n": n})]
            return await publisher.publish_all(topics, event_type, {"n": n})

        before = await send("audit.started", 1)
        server.stop()
        during = asyncio.create_task(send("audit.step.completed", 2))
        await asyncio.sleep(1)
        assert not during.done(), "the publish waits for Redis"
        server.start()
        after = await during
        for index, topic in enumerate(topics):
            events = await publisher.read(topic)
            assert [(e.id, e.payload()) for e in events] == [(before[index], {"n": 1}), (after[index], {"n": 2})]
    finally:
        await client.aclose()
        server.stop()


async def test_publish_all_adds_the_event_to_each_topic_once(publisher, redis_client):
    """One event on a fiche's topic and its audit's: on a Redis that has not seen the script yet (the
    pipeline's EVALSHA refused, done again topic by topic), then pipelined; never twice."""
    redis_client.script_flush()
    first = await publisher.publish_all(["fiche:F1", "audit:31"], "audit.progress", {"n": 1})
    second = await publisher.publish_all(["fiche:F1", "audit:31"], "audit.progress", {"n": 2})
    for index, topic in enumerate(["fiche:F1", "audit:31"]):
        events = await publisher.read(topic)
        assert [(e.id, e.type, e.payload()) for e in events] == [
            (first[index], "audit.progress", {"n": 1}),
            (second[index], "audit.progress", {"n": 2}),
        ]


class _LostReply:
    """Runs the script for real, then fails as a connection dropped before the answer would."""

    def __init__(self, script: Any, failures: int = 1) -> None:
        self.script, self.failures, self.calls = script, failures, 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        answer = self.script(*args, **kwargs)
        if self.calls <= self.failures:
            if asyncio.iscoroutine(answer):
                return self._fail_after(answer)
            raise redis.exceptions.ConnectionError("Connection closed by server.")
        return answer

    async def _fail_after(self, answer: Any) -> None:
        await answer
        raise redis.exceptions.ConnectionError("Connection closed by server.")


async def test_a_publish_retried_after_a_lost_reply_adds_its_event_once(aredis, redis_client, monkeypatch):
    publisher = EventPublisher(aredis)
    lost = _LostReply(publisher._add)
    monkeypatch.setattr(publisher, "_add", lost)
    entry_id = await publisher.publish("audit:8", "audit.completed", {"n": 1})
    assert lost.calls == 2
    assert [entry[0] for entry in redis_client.xrange("sse:audit:8")] == [entry_id]


def test_a_sync_publish_retried_after_a_lost_reply_adds_its_event_once(redis_client, monkeypatch):
    publisher = SyncEventPublisher(redis_client)
    first = publisher.publish("audit:9", "audit.started", {"n": 0})
    lost = _LostReply(publisher._add, failures=2)
    monkeypatch.setattr(publisher, "_add", lost)
    entry_id = publisher.publish("audit:9", "audit.completed", {"n": 1})
    assert lost.calls == 3
    assert [entry[0] for entry in redis_client.xrange("sse:audit:9")] == [first, entry_id]


async def test_past_the_outage_window_publishes_fail_at_once_until_redis_answers(tmp_path, monkeypatch):
    client = create_async_redis(f"unix://{tmp_path}/absent.sock")
    publisher = EventPublisher(client, outage_seconds=0.3)
    counted = _LostReply(publisher._add, failures=0)
    monkeypatch.setattr(publisher, "_add", counted)
    try:
        with pytest.raises(RedisUnavailable):
            await publisher.publish("audit:1", "x", {})
        assert counted.calls > 1, "retried within the window"
        calls = counted.calls
        with pytest.raises(RedisUnavailable):
            await publisher.publish("audit:1", "y", {})
        assert counted.calls == calls + 1, "the outage outlasted the window: one attempt"
    finally:
        await client.aclose()
