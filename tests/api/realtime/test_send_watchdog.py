"""A client that stops reading is let go by the replica's send watchdog, not by a timer per send."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from starlette.types import Message

from api.realtime.response import SendWatchdog, WatchedEventSourceResponse

SCOPE = {"type": "http", "method": "GET", "headers": [], "path": "/api/realtime/stream"}


async def _never_disconnects() -> Message:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


async def test_a_send_that_waits_too_long_ends_the_stream_and_runs_its_cleanup() -> None:
    watchdog = SendWatchdog(timeout=0.2, period=0.05)
    sent: list[Message] = []
    ended = asyncio.Event()

    async def send(message: Message) -> None:
        sent.append(message)
        if len(sent) == 3:  # the second frame finds the client's socket buffer full, for good
            await asyncio.Event().wait()

    async def body() -> AsyncIterator[bytes]:
        try:
            while True:
                yield b"data: x\n\n"
        finally:
            ended.set()

    response = WatchedEventSourceResponse(body(), watchdog=watchdog, ping=0)
    async with asyncio.timeout(10):
        await response(SCOPE, _never_disconnects, send)
        await ended.wait()
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body", "http.response.body"]
    assert not any(m.get("more_body") is False for m in sent), "no closing frame on a stalled connection"
    await watchdog.close()


async def test_sends_that_complete_are_never_cut_however_long_the_stream() -> None:
    watchdog = SendWatchdog(timeout=0.2, period=0.05)
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)
        await asyncio.sleep(0)

    async def body() -> AsyncIterator[bytes]:
        for _ in range(5):
            await asyncio.sleep(0.1)  # the stream lives several watchdog periods and timeouts
            yield b"data: x\n\n"

    response = WatchedEventSourceResponse(body(), watchdog=watchdog, ping=0)
    async with asyncio.timeout(10):
        await response(SCOPE, _never_disconnects, send)
    bodies = [m for m in sent if m["type"] == "http.response.body"]
    assert [m["body"] for m in bodies] == [b"data: x\n\n"] * 5 + [b""]
    assert bodies[-1]["more_body"] is False
    await watchdog.close()
