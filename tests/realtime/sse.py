"""Test clients for server-sent events: an ASGI transport that streams, and an SSE frame reader.

httpx's own `ASGITransport` collects the whole body before answering, which never happens for an
event stream; this one hands the body over chunk by chunk and tells the app the client left when
the response is closed, as a server would.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx


class _Body(httpx.AsyncByteStream):
    def __init__(self, chunks: asyncio.Queue[bytes | None], task: asyncio.Task[None], gone: asyncio.Event) -> None:
        self._chunks = chunks
        self._task = task
        self._gone = gone

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while (chunk := await self._chunks.get()) is not None:
            yield chunk

    async def aclose(self) -> None:
        self._gone.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), 10)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class StreamingASGITransport(httpx.AsyncBaseTransport):
    def __init__(self, app: Any) -> None:
        self.app = app

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": request.url.scheme,
            "path": request.url.path,
            "raw_path": request.url.raw_path.split(b"?")[0],
            "query_string": request.url.query,
            "headers": [(k.lower(), v) for k, v in request.headers.raw],
            "client": ("127.0.0.1", 50000),
            "server": (request.url.host, request.url.port or 80),
            "root_path": "",
        }
        sent_body = False
        gone = asyncio.Event()
        started = asyncio.Event()
        chunks: asyncio.Queue[bytes | None] = asyncio.Queue()
        status: list[int] = []
        headers: list[tuple[bytes, bytes]] = []

        async def receive() -> dict[str, Any]:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": body, "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
                headers.extend(message.get("headers", []))
                started.set()
            elif message["type"] == "http.response.body":
                if message.get("body"):
                    await chunks.put(message["body"])
                if not message.get("more_body", False):
                    await chunks.put(None)

        async def run() -> None:
            try:
                await self.app(scope, receive, send)
            finally:
                await chunks.put(None)
                started.set()

        task = asyncio.create_task(run())
        await started.wait()
        if not status:
            await task  # raises what the app raised
            raise RuntimeError("the app ended without a response")
        return httpx.Response(status[0], headers=headers, stream=_Body(chunks, task, gone), request=request)


@dataclass
class Frame:
    """One SSE frame: an event (with `event`, `id`, `data`), or comments / a `retry` hint alone."""

    event: str | None = None
    id: str | None = None
    data: str | None = None
    retry: int | None = None
    comments: list[str] = field(default_factory=list)


class SseReader:
    """Reads frames from one streaming response, across several calls."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    async def frame(self) -> Frame | None:
        """The next frame, or None when the server ended the stream."""
        frame = Frame()
        async for line in self._lines:
            if line == "":
                if frame != Frame():
                    return frame
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "":
                frame.comments.append(value)
            elif name == "event":
                frame.event = value
            elif name == "id":
                frame.id = value
            elif name == "data":
                frame.data = value if frame.data is None else f"{frame.data}\n{value}"
            elif name == "retry":
                frame.retry = int(value)
        return frame if frame != Frame() else None

    async def events(self, count: int) -> list[Frame]:
        """The next `count` events (comment-only frames skipped); fewer if the stream ends first."""
        found: list[Frame] = []
        while len(found) < count and (frame := await self.frame()) is not None:
            if frame.event is not None:
                found.append(frame)
        return found

    async def rest(self) -> list[Frame]:
        """Every frame until the server ends the stream."""
        found = []
        while (frame := await self.frame()) is not None:
            found.append(frame)
        return found
