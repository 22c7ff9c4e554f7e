"""Drill 6 at the HTTP server: 1 MB of headers was accepted by the API's server.

The server bounds headers that arrive in pieces (h11); a header block that fits in one read, such as
5,000 short headers, is bounded by the app (`tests/api/test_request_limits.py`).
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.drills.uvicorn_server import serving


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
