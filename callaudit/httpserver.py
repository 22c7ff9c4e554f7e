"""The API's HTTP protocol: uvicorn's h11 server with a deadline on the request head, and a direct
body writer for event streams.

uvicorn times out idle keep-alive connections but not a connection that never sends a request, nor
one that trickles its headers a byte at a time (each byte cancels the keep-alive timer): a few
hundred such clients hold every socket of a replica open (slowloris). nginx bounds this with
`client_header_timeout` when it is in front; this bounds it when the API is reached directly.

An event that goes to 500 SSE streams through ASGI costs 500 task wake-ups, each running the
response's loop, every middleware's `send` wrapper and h11's framing before the socket write (about
35 µs of CPU each, `benchmarks/sse.py`). Every request's scope therefore carries a `DirectBody`
under `scope["extensions"][DIRECT_BODY]`: once a streaming response has started, its owner may
write whole, already framed body chunks to the connection synchronously, from the task that has
them (the replica's SSE hub). Only `api.realtime` uses it; a server without it (tests' in-process
transport, another ASGI server) serves the same streams through plain ASGI sends.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol, RequestResponseCycle

#: The scope extension holding the request's `DirectBody`.
DIRECT_BODY = "callaudit.direct_body"


class DirectBody:
    """Writes body chunks of a started response without length straight to its connection.

    The caller frames the chunk both ways (`plain` for an HTTP/1.0 peer, whose body ends with the
    connection; `chunked` for HTTP/1.1, where h11 sent `Transfer-Encoding: chunked` because the
    response has no length) and must write only complete SSE frames while the response's own sends
    (heartbeats, the last frame) are not using the connection, which holds on one event loop since
    neither write awaits. `write` refuses (False) once the response is complete or the client is
    gone, and when the connection's write buffer is over its high-water mark (the client stopped
    reading): then the stream should end and let the client resume.
    """

    __slots__ = ("_cycle", "chunked")

    def __init__(self, cycle: RequestResponseCycle, chunked: bool) -> None:
        self._cycle = cycle
        self.chunked = chunked

    def write(self, plain: bytes, chunked: bytes) -> bool:
        cycle = self._cycle
        if (
            not cycle.response_started
            or cycle.response_complete
            or cycle.disconnected
            or cycle.flow.write_paused
            or cycle.transport.is_closing()
        ):
            return False
        cycle.transport.write(chunked if self.chunked else plain)
        return True


class HeadDeadlineH11Protocol(H11Protocol):
    """Closes a connection whose request line and headers are not complete `head_timeout` seconds
    after the connection opened, or after the first byte of a later request on a kept-alive one."""

    def __init__(self, *args: Any, head_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head_timeout = head_timeout
        self.head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def handle_events(self) -> None:
        cycle = self.cycle
        super().handle_events()
        if self.cycle is not None and self.cycle is not cycle and self.scope["method"] != "HEAD":
            # A new request's task is created, not yet run: its scope can still be completed. h11
            # frames a body without length as chunks for an HTTP/1.1 peer, raw for HTTP/1.0.
            chunked = (self.conn.their_http_version or b"1.0") >= b"1.1"
            extensions: dict[str, Any] = cast(dict[str, Any], self.scope).setdefault("extensions", {})
            extensions[DIRECT_BODY] = DirectBody(self.cycle, chunked)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # IDLE on the client's side means its request head is still incomplete.
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self._arm()
        else:
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self.head_deadline is None:
            self.head_deadline = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _disarm(self) -> None:
        if self.head_deadline is not None:
            self.head_deadline.cancel()
            self.head_deadline = None

    def _head_timed_out(self) -> None:
        self.head_deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()
