"""Pure ASGI middleware (safe for streaming responses): request id, instance and security headers."""

from __future__ import annotations

import re
import uuid

import anyio
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import ErrorCode, error_response

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


class RequestContextMiddleware:
    """Echoes (or creates) `X-Request-Id` and names the replica in `X-Backend-Instance`."""

    def __init__(self, app: ASGIApp, instance_id: str) -> None:
        self.app = app
        self.instance_id = instance_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Request-Id"] = request_id
                headers["X-Backend-Instance"] = self.instance_id
            await send(message)

        await self.app(scope, receive, send_with_headers)


#: Sent on every response, whoever reaches the API (directly or through the compose nginx, which
#: sends the same set).
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}
HSTS = "max-age=31536000; includeSubDomains"


class SecurityHeadersMiddleware:
    """Security headers on every response; `Cache-Control: no-store` unless a route chose its caching
    (API data is per user); HSTS only when the request came over TLS (directly or per a trusted proxy)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                headers.setdefault("Cache-Control", "no-store")
                if https:
                    headers.setdefault("Strict-Transport-Security", HSTS)
            await send(message)

        await self.app(scope, receive, send_with_headers)


MAX_HEADER_COUNT = 100


class RequestLimitsMiddleware:
    """Bounds what a client can make the API hold: more than `MAX_HEADER_COUNT` headers or
    `max_header_bytes` of them answer 431 (the HTTP server only bounds headers that arrive in pieces),
    a body larger than `max_bytes` answers 413 before more of it is read (at once when
    `Content-Length` says so), and a body that stops arriving for `timeout` seconds answers 408
    instead of holding the connection.

    The errors are `HTTPException`s raised from `receive`, which FastAPI re-raises from its body
    reading, so the error handlers render them as every other error. (FastAPI's own `max_body_size`
    answers in plain text.) Once the body is complete, `receive` is not bounded: a streaming
    response waits on it for the client to leave."""

    def __init__(self, app: ASGIApp, max_bytes: int, max_header_bytes: int, timeout: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_header_bytes = max_header_bytes
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        if len(headers) > MAX_HEADER_COUNT or sum(len(k) + len(v) for k, v in headers) > self.max_header_bytes:
            response = error_response(431, ErrorCode.PAYLOAD_TOO_LARGE, "Too many or too large request headers")
            await response(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        received, complete = 0, False

        async def bounded_receive() -> Message:
            nonlocal received, complete
            if complete:
                return await receive()
            if declared.isdigit() and int(declared) > self.max_bytes:
                raise HTTPException(413, f"The request body is larger than {self.max_bytes} bytes")
            with anyio.move_on_after(self.timeout) as waited:
                message = await receive()
            if waited.cancelled_caught:
                raise HTTPException(408, "The request body did not arrive in time")
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, f"The request body is larger than {self.max_bytes} bytes")
            complete = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        await self.app(scope, bounded_receive, send)
