"""The SSE response: sse-starlette's, with its send timeout kept but no timer per send.

sse-starlette bounds every send with its own `anyio.move_on_after` scope, so a client that stopped
reading (its socket buffer full, the server's send waiting) cannot hold a stream forever. Opening and
closing a timed cancel scope for each frame was about a quarter of the CPU a delivery costs, paid
500 times per event on a busy replica. Here each stream has one cancel scope for its whole life, a
send only notes when it started, and one watchdog per replica looks at the sends in progress once a
`period`: a send older than `timeout` cancels its stream (the connection is then closed, and the
client resumes from its `Last-Event-ID`). A send that does not wait costs two dictionary writes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable
from typing import Any

import anyio
from sse_starlette import EventSourceResponse
from starlette.types import Message, Receive, Scope, Send

log = logging.getLogger(__name__)


class SendWatchdog:
    """Cancels the streams whose send has waited longer than `timeout` (checked every `period`)."""

    def __init__(self, timeout: float, period: float = 1.0) -> None:
        self.timeout = timeout
        self.period = period
        self._streams: set[anyio.CancelScope] = set()
        self._sending: dict[anyio.CancelScope, float] = {}
        self._task: asyncio.Task[None] | None = None

    def watch(self, stream: anyio.CancelScope) -> None:
        self._streams.add(stream)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="sse-send-watchdog")

    def forget(self, stream: anyio.CancelScope) -> None:
        self._streams.discard(stream)
        self._sending.pop(stream, None)

    def sending(self, stream: anyio.CancelScope) -> None:
        self._sending[stream] = asyncio.get_running_loop().time()

    def sent(self, stream: anyio.CancelScope) -> None:
        self._sending.pop(stream, None)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self._streams:
            await asyncio.sleep(self.period)
            late = loop.time() - self.timeout
            for stream, started in list(self._sending.items()):
                if started < late:
                    log.info("an SSE client read nothing for %g s: its stream is closed", self.timeout)
                    self._sending.pop(stream, None)
                    stream.cancel()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


class WatchedEventSourceResponse(EventSourceResponse):
    """An `EventSourceResponse` whose sends are bounded by a `SendWatchdog` instead of a scope each."""

    def __init__(self, content: AsyncIterable[Any], *, watchdog: SendWatchdog, **kwargs: Any) -> None:
        super().__init__(content, send_timeout=None, **kwargs)
        self._watchdog = watchdog
        self._stream_scope = anyio.CancelScope()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._watchdog.watch(self._stream_scope)
        try:
            with self._stream_scope:
                await super().__call__(scope, receive, send)
        finally:
            self._watchdog.forget(self._stream_scope)

    async def _send_with_timeout(self, send: Send, message: Message) -> None:
        self._watchdog.sending(self._stream_scope)
        try:
            await send(message)
        except BaseException:
            self._send_interrupted = True  # sse-starlette then sends no closing frame
            raise
        finally:
            self._watchdog.sent(self._stream_scope)
