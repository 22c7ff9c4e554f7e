"""Drill 6 at the HTTP server: 1 MB of headers was accepted by the API's server.

The server bounds headers that arrive in pieces (h11); a header block that fits in one read, such as
5,000 short headers, is bounded by the app (`tests/api/test_request_limits.py`).
"""

from __future__ import annotations

import socket
import time
from typing import Any

import httpx

from tests.fixtures.uvicorn_server import serving


def _refused(url: str, headers: Any) -> bool:
    """An error status, or the connection closed on the client while it was still sending."""
    try:
        return httpx.get(url, headers=headers).status_code >= 400
    except httpx.TransportError:
        return True


def test_oversized_or_countless_headers_are_refused_by_the_server() -> None:
    with serving() as url:
        assert httpx.get(url).status_code == 200
        assert _refused(url, {"X-Big": "a" * 1_000_000})
        ordinary = httpx.get(url, headers={"Authorization": "Bearer " + "a" * 2000, "Cookie": "x=" + "b" * 3000})
        assert ordinary.status_code == 200


def _closed_within(url: str, opening: bytes, wait: float) -> bool:
    """Sends `opening`, then nothing: True when the server closed the connection within `wait` s."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as conn:
        conn.sendall(opening)
        conn.settimeout(wait)
        try:
            return conn.recv(1024) == b""
        except TimeoutError:
            return False


def test_a_request_head_that_never_completes_is_cut_off() -> None:
    """Slowloris: uvicorn alone keeps a silent connection, or one trickling its headers, open forever."""
    with serving(api_header_timeout_seconds=0.5) as url:
        assert _closed_within(url, b"", wait=5)
        assert _closed_within(url, b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: a", wait=5)
        # A kept-alive connection gets the same deadline for its next request's head.
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as conn:
            conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            conn.settimeout(5)
            assert conn.recv(1024).startswith(b"HTTP/1.1 200")
            conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
            assert conn.recv(1024) == b""


def test_a_complete_request_is_not_cut_off_by_the_head_deadline() -> None:
    with serving(api_header_timeout_seconds=0.5, api_body_timeout_seconds=5) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as conn:
            conn.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n")
            time.sleep(1)  # past the head deadline: the head was complete, so the body may follow
            conn.sendall(b"ok")
            conn.settimeout(5)
            assert conn.recv(1024).startswith(b"HTTP/1.1 200")
