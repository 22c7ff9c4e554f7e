"""SSE streams served over real sockets by uvicorn with the production protocol (`callaudit api`).

There, a one-topic stream's live events are written to its connection by the replica's hub
(`callaudit.httpserver.DirectBody`) instead of going through ASGI: these tests check that the bytes
are still well-formed HTTP (chunks for HTTP/1.1, raw for HTTP/1.0) and SSE, every event arrives
once and in order after the backlog, `Last-Event-ID` resumes, and the stream still ends cleanly.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import pytest_asyncio
import redis
from fastapi import FastAPI

from api.realtime.router import stream_hub
from callaudit.httpserver import DirectBody
from resources.redis import SyncEventPublisher, stream_key
from tests.fixtures.sse import SseReader
from tests.fixtures.uvicorn_server import Serve
from tests.fixtures.world import World

STREAM = "/api/realtime/stream"


@pytest.fixture
def direct_writes(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """What the hub wrote straight to connections (the real writer does the writing)."""
    written: list[bytes] = []
    real = DirectBody.write

    def write(self: DirectBody, plain: bytes, chunked: bytes) -> bool:
        done = real(self, plain, chunked)
        if done:
            written.append(chunked if self.chunked else plain)
        return done

    monkeypatch.setattr(DirectBody, "write", write)
    return written


@pytest.fixture
def publish(redis_client: redis.Redis) -> Callable[..., str]:
    publisher = SyncEventPublisher(redis_client)

    def _publish(topic: str, **payload: Any) -> str:
        return publisher.publish(topic, "audit.progress", {"run_id": None, **payload})

    return _publish


@pytest_asyncio.fixture(loop_scope="session")
async def topic(world: World, redis_client: redis.Redis) -> str:
    await world.commit()
    name = f"fiche:{world.fiche_ids['own']}"
    redis_client.delete(stream_key(name))
    return name


async def test_live_events_written_directly_arrive_once_in_order_and_resume(
    app: FastAPI, serve: Serve, world: World, topic: str, publish: Callable[..., str], direct_writes: list[bytes]
) -> None:
    backlog = [publish(topic, n=n) for n in range(2)]
    headers = world.headers("viewer")
    async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        async with client.stream("GET", STREAM, params={"topic": topic}, headers=headers) as response:
            assert response.http_version == "HTTP/1.1"
            assert response.headers["transfer-encoding"] == "chunked"
            reader = SseReader(response)
            assert [f.id for f in await reader.events(2)] == backlog
            while not direct_writes:  # until the stream has handed its live entries to the hub
                backlog.append(publish(topic, n=-1))
                [frame] = await reader.events(1)
                assert frame.id == backlog[-1]
            live = [publish(topic, n=n) for n in range(20)]
            frames = await reader.events(20)
        assert [f.id for f in frames] == live
        assert [json.loads(f.data or "")["n"] for f in frames] == list(range(20))
        assert len(direct_writes) == 21, "from then on every event was written by the hub, none through ASGI"

        resumed = {**headers, "Last-Event-ID": live[9]}  # on a new connection
        async with client.stream("GET", STREAM, params={"topic": topic}, headers=resumed) as response:
            reader = SseReader(response)
            after = await reader.events(10)
            newer = publish(topic, n=20)
            [last] = await reader.events(1)
    assert [f.id for f in after] == live[10:]
    assert last.id == newer


async def test_an_http_1_0_client_gets_the_frames_unchunked(
    app: FastAPI, serve: Serve, world: World, topic: str, publish: Callable[..., str], direct_writes: list[bytes]
) -> None:
    async with serve(app) as base_url:
        host, port = base_url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        token = world.headers("viewer")["Authorization"]
        writer.write(f"GET {STREAM}?topic={topic}&replay=false HTTP/1.0\r\nAuthorization: {token}\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        assert b"transfer-encoding" not in head.lower()
        body, ids = b"", []
        async with asyncio.timeout(10):
            while not direct_writes:  # until the stream has handed its live entries to the hub
                ids.append(publish(topic, n=0))
                body += await reader.read(1 << 16)
            ids += [publish(topic, n=n) for n in (1, 2)]
            while body.count(b"id: ") < len(ids) or not body.endswith(b"\r\n\r\n"):
                body += await reader.read(1 << 16)
        writer.close()
    frames = [frame for frame in body.split(b"\r\n\r\n") if frame]
    assert [frame.split(b"\r\n")[0].decode() for frame in frames] == [f"id: {i}" for i in ids]
    assert len(direct_writes) == 3
    assert all(written.startswith(b"id: ") for written in direct_writes), "no chunk framing for HTTP/1.0"


async def test_a_directly_written_stream_still_ends_at_its_lifetime(
    app_factory: Any, serve: Serve, world: World, topic: str, publish: Callable[..., str], direct_writes: list[bytes]
) -> None:
    application = await app_factory(realtime_stream_max_seconds=1)
    async with serve(application) as base_url, httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        params = {"topic": topic, "replay": "false"}
        async with client.stream("GET", STREAM, params=params, headers=world.headers("viewer")) as response:
            reader = SseReader(response)
            while not direct_writes:  # until the stream has handed its live entries to the hub
                sent = publish(topic, n=1)
                [event] = await reader.events(1)
                assert event.id == sent
            rest = await reader.rest()
    assert rest[-1].retry is not None
    assert "lifetime" in rest[-1].comments[0]


async def test_a_client_that_stops_reading_is_let_go_instead_of_buffered(
    app: FastAPI, serve: Serve, world: World, topic: str, publish: Callable[..., str], direct_writes: list[bytes]
) -> None:
    hub = stream_hub(app.state.callaudit)  # the replica's hub, which the route will use
    async with serve(app) as base_url:
        host, port = base_url.removeprefix("http://").split(":")
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect((host, int(port)))
        token = world.headers("viewer")["Authorization"]
        sock.sendall(
            f"GET {STREAM}?topic={topic}&replay=false HTTP/1.1\r\nHost: t\r\nAuthorization: {token}\r\n\r\n".encode()
        )
        reader, writer = await asyncio.open_connection(sock=sock)
        await reader.readuntil(b"\r\n\r\n")
        async with asyncio.timeout(10):
            while not direct_writes:
                publish(topic, n=0)
                await reader.read(1 << 16)
        # From now on nothing is read: the stream reader's buffer fills, the kernel's, then the server's.
        followers = set(hub._subscribers[topic])  # the stream's state, seen from the hub
        padding = "x" * 32_000
        async with asyncio.timeout(30):
            while not all(s.closed for s in followers):
                publish(topic, n=1, padding=padding)
                await asyncio.sleep(0.01)
        writer.close()
