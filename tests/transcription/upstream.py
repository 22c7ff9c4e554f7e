"""A slow OpenAI-compatible speech-to-text server (real HTTP, in a thread) that counts what it sees.

Like a real provider, it keeps working on a request whose client has gone: a request stays in
flight for its whole `latency`, so `peak_in_flight` is the concurrency seen from the provider's
side, dead clients included. It also serves the recordings' audio and counts each download.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from tests.transcription.standins import openai_body, parse_multipart


@dataclass
class UpstreamStats:
    latency: float
    in_flight: int = 0
    peak_in_flight: int = 0
    calls: Counter[str] = field(default_factory=Counter)  # by the uploaded audio's SHA-256
    downloads: Counter[str] = field(default_factory=Counter)


def upstream_app(stats: UpstreamStats) -> FastAPI:
    app = FastAPI()

    @app.get("/audio/{name}")
    async def audio(name: str) -> Response:
        stats.downloads[name] += 1
        return Response(name.encode(), media_type="audio/wav")

    @app.post("/v1/audio/transcriptions")
    async def transcribe(request: Request) -> JSONResponse:
        # Work starts once the upload is complete; from then on the client's fate does not matter.
        fields = parse_multipart(request.headers["content-type"], await request.body())
        [audio] = fields["file"]
        stats.calls[hashlib.sha256(audio if isinstance(audio, bytes) else audio.encode()).hexdigest()] += 1
        stats.in_flight += 1
        stats.peak_in_flight = max(stats.peak_in_flight, stats.in_flight)
        try:
            await asyncio.sleep(stats.latency)
            return JSONResponse(openai_body())
        finally:
            stats.in_flight -= 1

    return app


@contextmanager
def serve_upstream(latency: float) -> Iterator[tuple[str, UpstreamStats]]:
    """The server's base URL (`…/v1` is the OpenAI base URL) and its live counters."""
    stats = UpstreamStats(latency)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(upstream_app(stats), log_config=None, access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive(), "the stand-in did not start"
            assert time.monotonic() < deadline, "the stand-in did not start"
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}", stats
    finally:
        server.should_exit = True
        thread.join(timeout=10)
