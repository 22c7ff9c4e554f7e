"""A real uvicorn server in a thread, configured with the CLI's own options, for drills."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from callaudit.cli import uvicorn_options
from callaudit.settings import load_settings
from tests.process_helpers import free_port


async def echo_client(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers with the client address the server believes."""
    if scope["type"] != "http":
        return
    host = (scope.get("client") or ("?", 0))[0]
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": host.encode()})


@contextmanager
def serving(app: Any = echo_client, **settings: Any) -> Iterator[str]:
    options = uvicorn_options(load_settings(**settings))
    config = uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning", **options)
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
