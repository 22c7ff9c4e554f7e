"""`/api/realtime`: SSE streams of topics, authorized before the first byte, resumable, bounded."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import pytest_asyncio
import redis
from fastapi import FastAPI
from sqlalchemy import func, update

from api.realtime.tokens import StreamGrant, issue_stream_token
from callaudit.embedded import EmbeddedRedis
from callaudit.settings import Settings
from domain.models import FicheFetchJob, RefreshToken, User
from domain.models.auth import UserStatus
from resources.redis import SyncEventPublisher, stream_key
from tests.api.conftest import build_app, make_settings, running
from tests.fixtures.factories.aio import add_audit, add_scorecard
from tests.fixtures.factories.automation import add_run, add_schedule
from tests.fixtures.sse import SseReader, StreamingASGITransport
from tests.fixtures.world import World

STREAM = "/api/realtime/stream"


def sse_client(application: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=StreamingASGITransport(application), base_url="http://test", timeout=30)


@pytest_asyncio.fixture(loop_scope="session")
async def sse(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with sse_client(app) as client:
        yield client


@pytest.fixture
def publish(redis_client: redis.Redis) -> Any:
    publisher = SyncEventPublisher(redis_client)

    def _publish(topic: str, event: str = "audit.progress", **payload: Any) -> str:
        return publisher.publish(topic, event, {"run_id": None, **payload})

    return _publish


def fresh(redis_client: redis.Redis, *topics: str) -> None:
    redis_client.delete(*(stream_key(t) for t in topics))


# --- authorization: refused before any byte of stream -------------------------------------------------


@pytest.mark.parametrize(
    ("principal", "topic", "status"),
    [
        ("viewer", "fiche:{other}", 404),
        ("operator", "fiche:{other}", 404),
        ("self_user", "fiche:{own}", 403),  # the agent role has no `realtime`
        ("anonymous", "fiche:{own}", 401),
        ("token", "fiche:{own}", 403),  # an API token without `realtime`
        ("viewer", "user:{admin}", 404),  # someone else's notifications
        ("viewer", "global", 400),  # no global channel
        ("viewer", "job:no-such-job", 404),
        ("admin", "fiche:{other}", 200),
    ],
)
async def test_out_of_scope_topics_are_refused_before_the_stream_starts(
    sse: httpx.AsyncClient, world: World, principal: str, topic: str, status: int
) -> None:
    await world.commit()
    name = topic.format(own=world.fiche_ids["own"], other=world.fiche_ids["other"], admin=world.users["admin"])
    async with sse.stream("GET", STREAM, params={"topic": name}, headers=world.headers(principal)) as response:
        assert response.status_code == status
        if status == 200:
            assert response.headers["content-type"].startswith("text/event-stream")
            return
        assert response.headers["content-type"].startswith("application/json")
        body = json.loads(await response.aread())
        assert body["success"] is False
        assert "event:" not in json.dumps(body)


async def test_one_out_of_scope_topic_refuses_the_whole_stream(sse: httpx.AsyncClient, world: World) -> None:
    await world.commit()
    topics = [f"fiche:{world.fiche_ids['own']}", f"fiche:{world.fiche_ids['other']}"]
    async with sse.stream("GET", STREAM, params={"topic": topics}, headers=world.headers("viewer")) as response:
        assert response.status_code == 404


async def test_audit_topics_follow_the_audit_fiche_scope(sse: httpx.AsyncClient, world: World) -> None:
    scorecard = await add_scorecard(world.session)
    own = await add_audit(world.session, world.fiche_ids["own"], scorecard)
    other = await add_audit(world.session, world.fiche_ids["other"], scorecard)
    await world.commit()
    for audit_id, status in ((own, 200), (other, 404)):
        params = {"topic": f"audit:{audit_id}"}
        async with sse.stream("GET", STREAM, params=params, headers=world.headers("viewer")) as response:
            assert response.status_code == status


async def test_job_topics_belong_to_who_asked_or_to_readers_of_everything(sse: httpx.AsyncClient, world: World) -> None:
    job_id = str(uuid.uuid4())
    world.session.add(
        FicheFetchJob(
            id=job_id,
            start_date="2026-03-02",
            end_date="2026-03-02",
            days=["2026-03-02"],
            requested_by_id=world.users["operator"],
            status="launched",
        )
    )
    scorecard = await add_scorecard(world.session)
    run_id = uuid.uuid4().hex
    await add_audit(world.session, world.fiche_ids["other"], scorecard, run_id=run_id)
    await world.commit()
    cases = [
        (job_id, "operator", 200),
        (job_id, "viewer", 404),  # same group, but the range spans every group
        (job_id, "admin", 200),
        (run_id, "viewer", 404),  # a run over another group's fiche
        (run_id, "admin", 200),
    ]
    for job, principal, status in cases:
        params = {"topic": f"job:{job}"}
        async with sse.stream("GET", STREAM, params=params, headers=world.headers(principal)) as response:
            assert response.status_code == status, (job, principal)


# --- delivery, resume, reset ------------------------------------------------------------------------


async def test_backlog_then_live_events_in_order_and_resume_after_last_event_id(
    sse: httpx.AsyncClient, world: World, redis_client: redis.Redis, publish: Any
) -> None:
    await world.commit()
    topic = f"fiche:{world.fiche_ids['own']}"
    fresh(redis_client, topic)
    first = publish(topic, n=1)
    second = publish(topic, n=2)
    headers = world.headers("viewer")
    async with sse.stream("GET", STREAM, params={"topic": topic}, headers=headers) as response:
        reader = SseReader(response)
        backlog = await reader.events(2)
        third = publish(topic, n=3)
        [live] = await reader.events(1)
    assert [(f.id, json.loads(f.data or "")["n"]) for f in [*backlog, live]] == [(first, 1), (second, 2), (third, 3)]
    assert live.event == "audit.progress"

    publish(topic, n=4)
    resumed_headers = {**headers, "Last-Event-ID": second}
    async with sse.stream("GET", STREAM, params={"topic": topic}, headers=resumed_headers) as response:
        after = await SseReader(response).events(2)
    assert [json.loads(f.data or "")["n"] for f in after] == [3, 4]


async def test_without_replay_only_new_events_come(
    sse: httpx.AsyncClient, world: World, redis_client: redis.Redis, publish: Any
) -> None:
    await world.commit()
    topic = f"fiche:{world.fiche_ids['own']}"
    fresh(redis_client, topic)
    publish(topic, n=1)
    params = {"topic": topic, "replay": "false"}
    async with sse.stream("GET", STREAM, params=params, headers=world.headers("viewer")) as response:
        reader = SseReader(response)
        publish(topic, n=2)
        [event] = await reader.events(1)
    assert json.loads(event.data or "")["n"] == 2


async def test_several_topics_resume_each_where_it_stopped(
    sse: httpx.AsyncClient, world: World, redis_client: redis.Redis, publish: Any
) -> None:
    await world.commit()
    fiche, user = f"fiche:{world.fiche_ids['own']}", f"user:{world.users['viewer']}"
    fresh(redis_client, fiche, user)
    a1 = publish(fiche, n="a1")
    b1 = publish(user, "notification", type="info", message="b1")
    params = {"topic": [fiche, user]}
    async with sse.stream("GET", STREAM, params=params, headers=world.headers("viewer")) as response:
        events = await SseReader(response).events(2)
    assert [f.id for f in events] == [f"{a1},0-0", f"{a1},{b1}"]
    a2 = publish(fiche, n="a2")
    b2 = publish(user, "notification", type="info", message="b2")
    resumed = {**world.headers("viewer"), "Last-Event-ID": f"{a1},0-0"}
    async with sse.stream("GET", STREAM, params=params, headers=resumed) as response:
        events = await SseReader(response).events(3)
    assert [f.id for f in events] == [f"{a2},0-0", f"{a2},{b1}", f"{a2},{b2}"]


async def test_a_cursor_older_than_the_retained_events_gets_a_reset(
    sse: httpx.AsyncClient, world: World, redis_client: redis.Redis, publish: Any
) -> None:
    await world.commit()
    topic = f"fiche:{world.fiche_ids['own']}"
    fresh(redis_client, topic)
    oldest = publish(topic, n=1)
    for n in range(2, 6):
        publish(topic, n=n)
    redis_client.xtrim(stream_key(topic), maxlen=2, approximate=False)
    tail = publish(topic, n=6)
    headers = {**world.headers("viewer"), "Last-Event-ID": oldest}
    async with sse.stream("GET", STREAM, params={"topic": topic}, headers=headers) as response:
        reader = SseReader(response)
        [reset] = await reader.events(1)
        publish(topic, n=7)
        [live] = await reader.events(1)
    assert reset.event == "reset"
    assert json.loads(reset.data or "") == {"topic": topic, "reason": "history_trimmed"}
    assert reset.id == tail, "the client resumes from the tail after refetching the REST state"
    assert json.loads(live.data or "")["n"] == 7


async def test_a_malformed_last_event_id_is_a_400_naming_it(sse: httpx.AsyncClient, world: World) -> None:
    await world.commit()
    headers = {**world.headers("viewer"), "Last-Event-ID": "yesterday"}
    params = {"topic": f"fiche:{world.fiche_ids['own']}"}
    async with sse.stream("GET", STREAM, params=params, headers=headers) as response:
        assert response.status_code == 400
        assert json.loads(await response.aread())["field"] == "Last-Event-ID"


# --- stream tokens (EventSource) -----------------------------------------------------------------------


async def test_a_stream_token_opens_its_one_topic_without_headers(
    sse: httpx.AsyncClient, client: httpx.AsyncClient, world: World, redis_client: redis.Redis, publish: Any
) -> None:
    await world.commit()
    topic = f"fiche:{world.fiche_ids['own']}"
    fresh(redis_client, topic)
    minted = await client.post("/api/realtime/stream-tokens", json={"topic": topic}, headers=world.headers("viewer"))
    assert minted.status_code == 200, minted.text
    data = minted.json()["data"]
    assert data["expires_in"] == world.settings.realtime_stream_token_ttl_seconds
    publish(topic, n=1)
    async with sse.stream("GET", data["url"]) as response:
        [event] = await SseReader(response).events(1)
    assert json.loads(event.data or "")["n"] == 1

    other = f"fiche:{world.fiche_ids['other']}"
    params = {"topic": other, "token": data["token"]}
    async with sse.stream("GET", STREAM, params=params) as response:
        assert response.status_code == 403, "a token opens its own topic only"
    as_access = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {data['token']}"})
    assert as_access.status_code == 401, "a stream token is not an access token"


async def test_stream_tokens_are_refused_when_expired_forged_or_out_of_scope(
    sse: httpx.AsyncClient, client: httpx.AsyncClient, world: World
) -> None:
    await world.commit()
    own = f"fiche:{world.fiche_ids['own']}"
    other = f"fiche:{world.fiche_ids['other']}"
    refused = await client.post("/api/realtime/stream-tokens", json={"topic": other}, headers=world.headers("viewer"))
    assert refused.status_code == 404
    viewer = world.users["viewer"]
    expired = issue_stream_token(world.keyring, StreamGrant(viewer, world.session_ids[viewer], own), -60)
    forged = jwt.encode({"sub": str(viewer), "topic": own}, "not-our-key-0123456789abcdef0123456789", "HS256")
    access = world.access_token("viewer")
    for token in (expired, forged, access):
        async with sse.stream("GET", STREAM, params={"topic": own, "token": token}) as response:
            assert response.status_code == 401
    # A token minted for a topic then out of scope (team changed, ...) is checked again on use.
    stale = issue_stream_token(world.keyring, StreamGrant(viewer, world.session_ids[viewer], other), 60)
    async with sse.stream("GET", STREAM, params={"topic": other, "token": stale}) as response:
        assert response.status_code == 404


async def test_a_stream_token_ends_with_its_login_session_and_its_user(
    sse: httpx.AsyncClient, client: httpx.AsyncClient, world: World
) -> None:
    """Checked on use, in one statement with the user (decision 101): logout or a disabled user refuses
    a stream token minted before, like the access token it came from."""
    await world.commit()
    own = f"fiche:{world.fiche_ids['own']}"
    for name, end in (
        ("viewer", update(RefreshToken).where(RefreshToken.user_id == world.users["viewer"])),
        ("operator", update(User).where(User.id == world.users["operator"])),
    ):
        user = world.users[name]
        token = issue_stream_token(world.keyring, StreamGrant(user, world.session_ids[user], own), 60)
        async with sse.stream("GET", STREAM, params={"topic": own, "token": token, "replay": "false"}) as response:
            assert response.status_code == 200, name
        values = {"revoked_at": func.now()} if name == "viewer" else {"status": UserStatus.DISABLED}
        await world.session.execute(end.values(**values))
        await world.commit()
        async with sse.stream("GET", STREAM, params={"topic": own, "token": token}) as response:
            assert response.status_code == 401, name


# --- bounds: heartbeat, lifetime, cap, Redis outage -----------------------------------------------------


async def test_heartbeats_keep_an_idle_stream_alive(app_factory: Any, world: World) -> None:
    await world.commit()
    application = await app_factory(realtime_heartbeat_seconds=1)
    params = {"topic": f"user:{world.users['viewer']}", "replay": "false"}
    async with (
        sse_client(application) as client,
        client.stream("GET", STREAM, params=params, headers=world.headers("viewer")) as response,
    ):
        frame = await SseReader(response).frame()
    assert frame is not None
    assert frame.event is None
    assert frame.comments
    assert frame.comments[0].startswith("ping")


async def test_a_stream_ends_at_its_lifetime_with_a_reconnect_hint(app_factory: Any, world: World) -> None:
    await world.commit()
    application = await app_factory(realtime_stream_max_seconds=1)
    params = {"topic": f"user:{world.users['viewer']}"}
    async with (
        sse_client(application) as client,
        client.stream("GET", STREAM, params=params, headers=world.headers("viewer")) as response,
    ):
        frames = await SseReader(response).rest()
    assert frames[-1].retry is not None
    assert "lifetime" in frames[-1].comments[0]


async def test_a_replica_refuses_streams_past_its_cap(app_factory: Any, world: World) -> None:
    await world.commit()
    application = await app_factory(realtime_max_streams=1)
    params = {"topic": f"user:{world.users['viewer']}"}
    headers = world.headers("viewer")
    async with sse_client(application) as client:
        async with client.stream("GET", STREAM, params=params, headers=headers) as first:
            assert first.status_code == 200
            async with client.stream("GET", STREAM, params=params, headers=headers) as second:
                assert second.status_code == 503
                assert int(second.headers["Retry-After"]) > 0
        async with client.stream("GET", STREAM, params=params, headers=headers) as third:
            assert third.status_code == 200, "a closed stream gives its slot back"


async def test_redis_dropping_mid_stream_ends_it_cleanly_and_the_client_resumes(
    api_settings: Settings, api_home: Path, world: World, tmp_path: Path
) -> None:
    await world.commit()
    server = EmbeddedRedis(tmp_path)
    server.start()
    try:
        url = server.url()
        assert url is not None
        database_url = api_settings.database_url
        assert database_url is not None
        settings = make_settings(database_url.get_secret_value(), url, api_home)
        async with running(build_app(settings), world.session) as application:
            await _follow_through_an_outage(application, server, world, url)
    finally:
        server.stop()


async def _follow_through_an_outage(application: FastAPI, server: EmbeddedRedis, world: World, url: str) -> None:
    """A stream ends cleanly when Redis stops; new ones are 503 until it is back; then it resumes."""
    topic = f"user:{world.users['viewer']}"
    publisher = SyncEventPublisher(redis.Redis.from_url(url, decode_responses=True))
    first = publisher.publish(topic, "notification", {"run_id": None, "type": "info", "message": "1"})
    headers = world.headers("viewer")
    async with sse_client(application) as client:
        async with client.stream("GET", STREAM, params={"topic": topic}, headers=headers) as response:
            reader = SseReader(response)
            [event] = await reader.events(1)
            server.stop()
            rest = await reader.rest()  # ends: no exception, no torn chunk
        assert event.id == first
        assert rest[-1].retry is not None
        async with client.stream("GET", STREAM, params={"topic": topic}, headers=headers) as refused:
            assert refused.status_code == 503, "while Redis is down, a new stream fails before starting"
        server.start()
        publisher.publish(topic, "notification", {"run_id": None, "type": "info", "message": "2"})
        resumed = {**headers, "Last-Event-ID": first}
        async with client.stream("GET", STREAM, params={"topic": topic}, headers=resumed) as response:
            [after] = await SseReader(response).events(1)
        assert json.loads(after.data or "")["message"] == "2"


async def test_an_automation_runs_topic_follows_its_schedules_scope(client: httpx.AsyncClient, world: World) -> None:
    own_run = await add_run(world.session, await add_schedule(world.session, "G-OWN"))
    other_run = await add_run(world.session, await add_schedule(world.session, "G-OTHER"))
    await world.commit()

    async def mint(topic: str, who: str) -> int:
        response = await client.post("/api/realtime/stream-tokens", json={"topic": topic}, headers=world.headers(who))
        return response.status_code

    assert await mint(f"job:{own_run}", "operator") == 200
    assert await mint(f"job:{other_run}", "operator") == 404
    assert await mint(f"job:{other_run}", "admin") == 200
