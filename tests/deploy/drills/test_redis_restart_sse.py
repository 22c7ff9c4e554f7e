"""Redis restarted (`SIGTERM`, then started again on the same socket and data directory) while 100 SSE
clients follow ten audits through `callaudit api`, and the audits' events keep being published.

The publishers are the product's (`RedisResource.async_publisher`, what the stages use), one per
audit, each publishing a step event every 100 ms before, during and after the restart, then
`audit.completed`. The clients behave like EventSource: after a break they reconnect with the last
event id they received in `Last-Event-ID`, and retry a refused connection (503 while Redis is down).
Checked from the clients' side and in Redis: every event published is in its topic's stream once
(the publish waited the restart out instead of dropping it), every client received its topic's
stream exactly once, in order, and every client resumed after the restart with `Last-Event-ID`.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from callaudit.embedded import EmbeddedRedis
from domain.events import Event
from resources.redis import create_async_redis, stream_key
from resources.redis.resource import RedisResource
from tests.fixtures.factories.audits import add_audit
from tests.fixtures.factories.scorecards import add_scorecard
from tests.fixtures.processes import cli_env, served_api
from tests.fixtures.sse import Frame, SseReader

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("clean_tables")]

AUDITS = 10
CLIENTS_PER_AUDIT = 10
PERIOD = 0.1  # seconds between two events of one audit
AFTER = 30  # events of each audit once Redis is back
DOWN_SECONDS = 5.0  # longer than the clients' 3 s reconnection delay: some are refused (503) meanwhile


@dataclass
class Follower:
    """An EventSource-like client of one topic."""

    base_url: str
    token: str
    topic: str
    received: list[Frame] = field(default_factory=list)
    resumed_from: list[str] = field(default_factory=list)  # Last-Event-ID sent on each reconnection
    refused: int = 0
    retry_ms: int = 3000  # EventSource's reconnection delay, until the server sends its own
    warm: asyncio.Event = field(default_factory=asyncio.Event)  # a few events received
    resumed: asyncio.Event = field(default_factory=asyncio.Event)
    resumed_at: float = 0.0

    async def run(self, client: httpx.AsyncClient) -> None:
        while True:
            headers = {"Authorization": f"Bearer {self.token}"}
            if self.received:
                headers["Last-Event-ID"] = self.received[-1].id or ""
            try:
                async with client.stream(
                    "GET", "/api/realtime/stream", params={"topic": self.topic}, headers=headers
                ) as response:
                    if response.status_code != 200:
                        self.refused += 1
                        await asyncio.sleep(float(response.headers.get("Retry-After", 1)))
                        continue
                    if self.received:
                        self.resumed_from.append(headers["Last-Event-ID"])
                        if not self.resumed.is_set():
                            self.resumed_at = time.monotonic()
                            self.resumed.set()
                    if await self._read(SseReader(response)):
                        return
            except httpx.HTTPError:
                pass  # the connection broke: reconnect, like EventSource
            await asyncio.sleep(self.retry_ms / 1000)

    async def _read(self, reader: SseReader) -> bool:
        while (frame := await reader.frame()) is not None:
            if frame.retry is not None:
                self.retry_ms = frame.retry
            if frame.event is None:
                continue
            self.received.append(frame)
            if len(self.received) == 5:
                self.warm.set()
            if frame.event == Event.AUDIT_COMPLETED:
                return True
        return False


@dataclass
class Outage:
    down: asyncio.Event = field(default_factory=asyncio.Event)
    up: asyncio.Event = field(default_factory=asyncio.Event)
    published_while_down: int = 0


@pytest.fixture
def restartable_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path / "redis-home")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def api(tmp_path: Path, database_url: str, restartable_redis: EmbeddedRedis) -> Iterator[dict[str, str]]:
    """`callaudit api`, as production serves it (its hub writes live events to the connections)."""
    url = restartable_redis.url()
    assert url is not None
    token = secrets.token_urlsafe(24)
    env = cli_env(
        tmp_path,
        DATABASE_URL=database_url,
        REDIS_URL=url,
        JWT_ACCESS_SECRET=secrets.token_urlsafe(48),
        API_AUTH_TOKEN=token,
        API_AUTH_TOKEN_SCOPE="ALL",
        CALLAUDIT_ENV="test",
        LOG_LEVEL="WARNING",
    )
    with served_api(env) as api_url:
        yield {"url": api_url, "token": token, "redis_url": url}


async def _publish(resource: RedisResource, topic: str, outage: Outage, ids: list[str]) -> None:
    """One audit's events through the product's publisher, one every PERIOD, before, during and
    after the restart (AFTER of them once Redis is back), then `audit.completed`."""
    client = create_async_redis(resource.url)
    publisher = resource.async_publisher(client)
    seq = after = 0
    try:
        while after < AFTER:
            pending = not outage.up.is_set()
            ids.append(await publisher.publish(topic, Event.AUDIT_STEP_COMPLETED, {"seq": seq}))
            if pending and outage.down.is_set():  # asked before Redis was back, answered after it stopped
                outage.published_while_down += 1
            seq += 1
            after += outage.up.is_set()
            await asyncio.sleep(PERIOD)
        ids.append(await publisher.publish(topic, Event.AUDIT_COMPLETED, {"seq": seq}))
    finally:
        await client.aclose()


async def _restart(server: EmbeddedRedis, outage: Outage, followers: list[Follower]) -> list[float]:
    """Once every client has events, Redis goes down for DOWN_SECONDS and comes back; the seconds
    from its start to each client's resumption, in order."""
    await asyncio.gather(*(f.warm.wait() for f in followers))
    await asyncio.to_thread(server.stop)  # SIGTERM: Redis writes its append-only file and exits
    outage.down.set()
    await asyncio.sleep(DOWN_SECONDS)
    await asyncio.to_thread(server.start)
    back = time.monotonic()
    outage.up.set()
    await asyncio.gather(*(f.resumed.wait() for f in followers))
    return sorted(f.resumed_at - back for f in followers)


@pytest.mark.timeout(600)
def test_every_sse_client_resumes_after_a_redis_restart_without_loss_or_duplicate(
    api: dict[str, str], restartable_redis: EmbeddedRedis, sync_engine: Engine
) -> None:
    with Session(sync_engine) as session, session.begin():
        version = add_scorecard(session).current_version
        assert version is not None
        topics = [f"audit:{add_audit(session, None, version, status='running')}" for _ in range(AUDITS)]
    followers = [Follower(api["url"], api["token"], topic) for topic in topics for _ in range(CLIENTS_PER_AUDIT)]
    published: dict[str, list[str]] = {topic: [] for topic in topics}
    outage = Outage()

    async def scenario() -> list[float]:
        limits = httpx.Limits(max_connections=len(followers) + 10)
        timeout = httpx.Timeout(30, connect=5)
        async with httpx.AsyncClient(base_url=api["url"], limits=limits, timeout=timeout) as client:
            following = [asyncio.create_task(f.run(client)) for f in followers]
            resource = RedisResource(url=api["redis_url"])
            publishing = [asyncio.create_task(_publish(resource, t, outage, published[t])) for t in topics]
            try:
                async with asyncio.timeout(300):
                    resumed = await _restart(restartable_redis, outage, followers)
                    await asyncio.gather(*publishing)
                    await asyncio.gather(*following)
            finally:
                for task in [*following, *publishing]:
                    task.cancel()
        return resumed

    resumed = asyncio.run(scenario())

    check = redis.Redis.from_url(api["redis_url"], decode_responses=True)
    streams: dict[str, list[tuple[str, dict[str, str]]]] = {t: check.xrange(stream_key(t)) for t in topics}  # type: ignore[misc]
    check.close()
    refused = sum(f.refused for f in followers)
    print(
        f"\n{len(followers)} clients on {AUDITS} audits; {sum(map(len, published.values()))} events published, "
        f"{outage.published_while_down} of them while Redis was down; clients resumed {resumed[0]:.1f} / "
        f"{resumed[len(resumed) // 2]:.1f} / {resumed[-1]:.1f} s (first / median / last) after Redis started; "
        f"reconnections {sum(len(f.resumed_from) for f in followers)}, "
        f"refused while down {refused}"
    )
    for topic in topics:
        entries = streams[topic]
        assert [entry_id for entry_id, _ in entries] == published[topic], "every publish stored once"
        assert [json.loads(fields["data"])["seq"] for _, fields in entries] == list(range(len(published[topic])))
    assert outage.published_while_down >= AUDITS, "each audit published while Redis was down"
    for follower in followers:
        assert [(f.id, f.event, f.data) for f in follower.received] == [
            (entry_id, fields["type"], fields["data"]) for entry_id, fields in streams[follower.topic]
        ], "every event of the audit exactly once, in order"
        assert follower.resumed_from, "the client resumed with Last-Event-ID"
        assert all(cursor in published[follower.topic] for cursor in follower.resumed_from)
