"""Benchmark: 500 SSE clients of one API replica, events published at a steady rate.

Sets up embedded Postgres and Redis in a temporary directory, starts one API replica (uvicorn, in
its own process) and opens `--clients` streams of one fiche topic (`GET /api/realtime/stream`).
Then it publishes `--rate` events a second for `--seconds` through the stages' publisher, each
carrying its publish time, and measures publish-to-delivery latency at every client. The baseline,
taken in the same run and process, is a bare `XREAD BLOCK` consumer of the same Redis stream: what
a client could get without the API in between.

Clients speak HTTP/1.0 over plain asyncio protocols (no chunked framing; each arrival parsed in
the protocol's callback, one clock read per arrival) so this process, not the API, is the lighter side. `lost` counts
(client, event) pairs never delivered after a drain period. The report ends with one `key=value`
line; `ratio` = p99 / baseline p99 (target <= 2, and p99 <= 50 ms, 0 lost); `api_rss_mib` is the
replica's peak RSS, `api_cpu_us_per_delivery` the replica's CPU over the publishing and drain divided
by the deliveries. The API is served by `callaudit api` as in production (uvicorn with our h11
protocol, whose direct body writer the streams use); `--http h11` or `--http httptools` serve it
with plain uvicorn instead, where streams take the ASGI path, to compare in the same conditions.

    .venv/bin/python benchmarks/sse.py                        # 500 clients, 10 events/s for 15 s
    .venv/bin/python benchmarks/sse.py --clients 50 --seconds 5  # a quick look
    .venv/bin/python benchmarks/sse.py --http h11             # plain uvicorn: every delivery through ASGI
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

import psutil
import redis
from _embedded import CALLAUDIT_API, migrated_servers, running_api
from sqlalchemy import insert

from domain.models.fiches import Fiche
from resources.database import create_sync_engine
from resources.redis import EventPublisher, stream_key
from resources.redis.client import create_async_redis

FICHE_ID = "BENCH-SSE-1"
TOPIC = f"fiche:{FICHE_ID}"
DRAIN_SECONDS = 3.0
CONNECT_TIMEOUT = 120.0


def _server(http: str) -> Sequence[str]:
    if http == "production":
        return CALLAUDIT_API
    uvicorn = [sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app", "--log-level", "warning"]
    return [*uvicorn, "--http", http]


class Client(asyncio.Protocol):
    """One SSE stream over HTTP/1.0, parsed in the protocol's callback: the arrival time is read as
    the bytes come in, without waking a task per client (500 of them would make this process, not
    the API, the slower side)."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.token = token
        self.latencies: list[float] = []
        self.seqs: set[int] = set()
        self.connected = asyncio.Event()
        self._head = b""
        self._pending = b""

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self._gone = loop.create_future()
        transport, _ = await loop.create_connection(lambda: self, "127.0.0.1", self.port)
        request = (
            f"GET /api/realtime/stream?topic={TOPIC}&replay=false HTTP/1.0\r\n"
            f"Host: bench\r\nAuthorization: Bearer {self.token}\r\nAccept: text/event-stream\r\n\r\n"
        )
        transport.write(request.encode())
        try:
            await self._gone
        finally:
            transport.close()

    def data_received(self, data: bytes) -> None:
        now = time.time()  # one clock read per arrival: what came together arrived together
        if not self.connected.is_set():
            head, found, data = (self._head + data).partition(b"\r\n\r\n")
            if not found:
                self._head = head
                return
            if b" 200 " not in head.split(b"\r\n", 1)[0]:
                raise SystemExit(f"stream refused: {head[:80]!r}")
            self.connected.set()
        *lines, self._pending = (self._pending + data).split(b"\n")
        for line in lines:
            if line.startswith(b"data:"):
                event = json.loads(line[5:])
                self.latencies.append(now - event["t"])
                self.seqs.add(event["seq"])

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._gone.done():
            self._gone.set_result(None)


async def _baseline(redis_url: str, latencies: list[float], stop: asyncio.Event) -> None:
    client = create_async_redis(redis_url, socket_timeout=10)
    cursor = "$"
    try:
        while not stop.is_set():
            answer: Any = await client.xread({stream_key(TOPIC): cursor}, block=1000, count=100)
            now = time.time()
            for _key, entries in answer or []:
                for entry_id, fields in entries:
                    cursor = entry_id
                    latencies.append(now - json.loads(fields["data"])["t"])
    finally:
        await client.aclose()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def _measure(args: argparse.Namespace, port: int, token: str, redis_url: str, api: psutil.Process) -> str:
    clients = [Client(port, token) for _ in range(args.clients)]
    tasks = [asyncio.create_task(c.run()) for c in clients]
    async with asyncio.timeout(CONNECT_TIMEOUT):
        await asyncio.gather(*(c.connected.wait() for c in clients))
    baseline: list[float] = []
    stop = asyncio.Event()
    baseline_task = asyncio.create_task(_baseline(redis_url, baseline, stop))
    await asyncio.sleep(0.5)  # the baseline's first XREAD is waiting
    publisher_client = create_async_redis(redis_url)
    publisher = EventPublisher(publisher_client)
    total = int(args.rate * args.seconds)
    peak_rss = api.memory_info().rss
    cpu_before = sum(api.cpu_times()[:2])
    started = time.monotonic()
    for seq in range(total):
        await asyncio.sleep(max(0.0, started + seq / args.rate - time.monotonic()))
        await publisher.publish(TOPIC, "transcription.progress", {"run_id": None, "seq": seq, "t": time.time()})
        if seq % int(args.rate) == 0:
            peak_rss = max(peak_rss, api.memory_info().rss)
    await asyncio.sleep(DRAIN_SECONDS)
    peak_rss = max(peak_rss, api.memory_info().rss)
    api_cpu = sum(api.cpu_times()[:2]) - cpu_before
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, baseline_task, return_exceptions=True)
    await publisher_client.aclose()

    latencies = [x for c in clients for x in c.latencies]
    lost = sum(total - len(c.seqs) for c in clients)
    p50, p99 = _percentile(latencies, 0.5), _percentile(latencies, 0.99)
    base_p50, base_p99 = _percentile(baseline, 0.5), _percentile(baseline, 0.99)
    rss_mib = peak_rss / 2**20
    print(f"  {args.clients} clients, {total} events at {args.rate:g}/s: {len(latencies)} deliveries")
    print(f"  latency p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(latencies) * 1000:.1f} ms, mean "
          f"{statistics.fmean(latencies) * 1000:.1f} ms")  # fmt: skip
    print(f"  baseline (bare XREAD): p50 {base_p50:.1f} ms, p99 {base_p99:.1f} ms over {len(baseline)} events")
    cpu_us = 1e6 * api_cpu / max(1, len(latencies))
    print(f"  lost {lost}; API peak RSS {rss_mib:.0f} MiB; API CPU {api_cpu:.2f} s over the publishing and drain "
          f"({cpu_us:.1f} µs per delivery)")  # fmt: skip
    print(f"  (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs: other processes share them)")
    return (
        f"clients={args.clients} p50_ms={p50:.1f} p99_ms={p99:.1f} baseline_p99_ms={base_p99:.1f} "
        f"ratio={p99 / base_p99:.2f} lost={lost} api_rss_mib={rss_mib:.0f} api_cpu_us_per_delivery={cpu_us:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--rate", type=float, default=10.0, help="events published per second")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument(
        "--http",
        default="production",
        choices=["production", "h11", "httptools"],
        help="`callaudit api` (production), or plain uvicorn with this HTTP implementation",
    )
    args = parser.parse_args()
    token = secrets.token_urlsafe(24)
    with migrated_servers("callaudit-sse-bench-") as servers:
        engine = create_sync_engine(servers.database_url)
        with engine.begin() as connection:
            connection.execute(insert(Fiche).values(fiche_id=FICHE_ID, fetch_status="summary"))
        engine.dispose()
        redis.Redis.from_url(servers.redis_url).delete(stream_key(TOPIC))
        env = {
            "JWT_ACCESS_SECRET": secrets.token_urlsafe(48),
            "API_AUTH_TOKEN": token,
            "API_AUTH_TOKEN_SCOPE": "ALL",
            "LOG_LEVEL": "WARNING",
        }
        with running_api(servers, env, _server(args.http)) as (api, port):
            print(f"SSE fan-out: one API replica ({args.http}, pid {api.pid}), {os.cpu_count()} CPUs")
            summary = asyncio.run(_measure(args, port, token, servers.redis_url, psutil.Process(api.pid)))
            print(summary)


if __name__ == "__main__":
    main()
