"""The provider-wide transcription cap holds from the provider's side, even when a worker dies mid-call.

The stand-in (`tests.fixtures.standins.stt_upstream`) is a real HTTP server that keeps working on a request
whose client is gone, like a real provider; its peak concurrency is what the provider would see.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import redis

from resources.redis import LeaseSemaphore, create_async_redis
from resources.stt.base import AudioSource
from resources.stt.client import SEMAPHORE_NAME
from resources.stt.resource import SttResource
from tests.fixtures.standins.stt_upstream import UpstreamStats, serve_upstream

ROOT = Path(__file__).resolve().parents[3]
CAP = 2

# A worker process transcribing one recording under the shared cap; the test kills it mid-call.
HOLDER = """
import asyncio, sys
from resources.redis import create_async_redis
from resources.stt.base import AudioSource
from resources.stt.resource import SttResource

async def main(redis_url, base, timeout):
    client_redis = create_async_redis(redis_url)
    stt = SttResource(provider="openai", openai_api_key="k", openai_base_url=base + "/v1", concurrency=2,
                      audio_allowed_origins=[base],
                      request_timeout_seconds=float(timeout), max_attempts=1)
    async with stt.client(client_redis) as client:
        await client.transcribe(AudioSource("dead", base + "/audio/dead", 5.0))

asyncio.run(main(*sys.argv[1:]))
"""


def _stt(base: str, request_timeout: float) -> SttResource:
    return SttResource(
        provider="openai",
        openai_api_key="k",
        openai_base_url=f"{base}/v1",
        audio_allowed_origins=[base],  # the stand-in serves the audio on loopback
        concurrency=CAP,
        request_timeout_seconds=request_timeout,
        recording_timeout_seconds=120,
        max_attempts=1,
    )


def _wait_in_flight(stats: UpstreamStats, holder: subprocess.Popen[bytes] | None = None) -> None:
    """Until the provider is working on a request (no timed assertion: a generous bound only)."""
    deadline = time.monotonic() + 60
    while stats.in_flight < 1:
        assert holder is None or holder.poll() is None, "the holder exited before its call"
        assert time.monotonic() < deadline, "no request reached the provider"
        time.sleep(0.01)


def test_a_killed_holders_slot_stays_taken_until_its_request_has_ended(
    redis_url: str, redis_client: redis.Redis
) -> None:
    request_timeout, latency = 2.0, 1.5
    with serve_upstream(latency) as (base, stats):
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLDER, redis_url, base, str(request_timeout)], cwd=ROOT, env=env
        )
        try:
            _wait_in_flight(stats, holder)
        finally:
            holder.kill()  # SIGKILL mid-call: no release, no cleanup; the provider keeps working
            holder.wait()

        async def two_live_calls() -> None:
            client_redis = create_async_redis(redis_url)
            try:
                async with _stt(base, request_timeout).client(client_redis) as client:
                    await asyncio.gather(
                        client.transcribe(AudioSource("live-1", f"{base}/audio/live-1", 5.0)),
                        client.transcribe(AudioSource("live-2", f"{base}/audio/live-2", 5.0)),
                    )
            finally:
                await client_redis.aclose()

        asyncio.run(two_live_calls())
    assert sorted(stats.calls.values()) == [1, 1, 1]  # the dead call and the two live ones
    assert stats.peak_in_flight <= CAP


def test_a_call_slots_lease_outlives_the_calls_timeout(redis_url: str, redis_client: redis.Redis) -> None:
    """A crashed holder's slot must stay taken as long as its call may run: lease >= request timeout."""
    request_timeout = 600.0
    with serve_upstream(0.5) as (base, stats):

        async def observe() -> float:
            client_redis = create_async_redis(redis_url)
            try:
                async with _stt(base, request_timeout).client(client_redis) as client:
                    call = asyncio.create_task(client.transcribe(AudioSource("one", f"{base}/audio/one", 5.0)))
                    while stats.in_flight < 1 and not call.done():  # noqa: ASYNC110 - another thread's counter
                        await asyncio.sleep(0.01)
                    holders = await LeaseSemaphore(client_redis, SEMAPHORE_NAME, CAP).holders()
                    await call
                    return min(h.expires_in for h in holders)
            finally:
                await client_redis.aclose()

        expires_in = asyncio.run(observe())
    assert expires_in >= request_timeout
