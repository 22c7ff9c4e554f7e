"""Drill 6: an unauthenticated 100 MB body was read into memory and a stalled body held a worker."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import httpx

from api.errors import ErrorCode


async def test_an_oversized_body_is_refused_before_it_is_read(app_factory: Callable[..., Any]) -> None:
    app = await app_factory(api_max_body_bytes=4096)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        declared = await client.post(
            "/api/auth/login", content=b"x" * 10_000, headers={"Content-Type": "application/json"}
        )
        assert declared.status_code == 413
        assert declared.json()["code"] == ErrorCode.PAYLOAD_TOO_LARGE

        async def chunks() -> Any:  # no Content-Length: counted while streaming
            for _ in range(10):
                yield b"x" * 1024

        streamed = await client.post("/api/auth/login", content=chunks(), headers={"Content-Type": "application/json"})
        assert streamed.status_code == 413
        small = await client.post("/api/auth/login", json={"email": "a@b.test", "password": "12345678 wrong"})
        assert small.status_code == 401


async def test_a_body_that_stops_arriving_answers_408(app_factory: Callable[..., Any]) -> None:
    app = await app_factory(api_body_timeout_seconds=0.2)
    sent: list[dict[str, Any]] = []
    first = True

    async def receive() -> dict[str, Any]:
        nonlocal first
        if first:
            first = False
            return {"type": "http.request", "body": b'{"email": ', "more_body": True}
        await anyio.sleep_forever()  # the client never sends the rest
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/auth/login",
        "raw_path": b"/api/auth/login",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"test"), (b"content-type", b"application/json"), (b"content-length", b"100")],
        "client": ("127.0.0.1", 5000),
        "server": ("test", 80),
    }
    with anyio.fail_after(30):  # a safety net for a regression, not a timing assertion
        await app(scope, receive, send)
    assert sent[0]["type"] == "http.response.start"
    assert sent[0]["status"] == 408
    assert b"REQUEST_TIMEOUT" in b"".join(m.get("body", b"") for m in sent)


async def test_countless_or_huge_headers_answer_431(client: httpx.AsyncClient) -> None:
    many = await client.get("/health", headers=[(f"X-H{i}", "v") for i in range(500)])
    assert many.status_code == 431
    assert many.json()["code"] == ErrorCode.PAYLOAD_TOO_LARGE
    huge = await client.get("/health", headers={"X-Big": "a" * 100_000})
    assert huge.status_code == 431
    assert (await client.get("/health", headers={"Cookie": "x=" + "b" * 3000})).status_code == 200
