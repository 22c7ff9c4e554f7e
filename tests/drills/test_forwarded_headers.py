"""Drill 9: any local process could set X-Forwarded-For and escape the per-address login limit.

The real uvicorn server, configured by the CLI's own options, answers with the client address it
believes; a forged header must not move it unless the peer is a configured proxy.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn

from callaudit.cli import uvicorn_proxy_options
from callaudit.settings import load_settings
from tests.process_helpers import free_port


async def _echo_client(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    host = (scope.get("client") or ("?", 0))[0]
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": host.encode()})


@contextmanager
def _serving(**settings: Any) -> Iterator[str]:
    options = uvicorn_proxy_options(load_settings(**settings))
    config = uvicorn.Config(_echo_client, host="127.0.0.1", port=free_port(), log_level="warning", **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            thread.join(0.02)
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(10)


def test_by_default_nobody_may_claim_another_address() -> None:
    with _serving() as url:
        seen = httpx.get(url, headers={"X-Forwarded-For": "6.6.6.6"}).text
    assert seen == "127.0.0.1"


def test_a_configured_proxy_is_believed() -> None:
    with _serving(forwarded_allow_ips="127.0.0.1") as url:
        seen = httpx.get(url, headers={"X-Forwarded-For": "6.6.6.6"}).text
    assert seen == "6.6.6.6"


def test_a_proxy_other_than_the_peer_is_not_believed() -> None:
    with _serving(forwarded_allow_ips="10.9.8.7") as url:
        seen = httpx.get(url, headers={"X-Forwarded-For": "6.6.6.6"}).text
    assert seen == "127.0.0.1"
