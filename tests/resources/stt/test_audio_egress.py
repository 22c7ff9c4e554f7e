"""Recordings' audio URLs come from the CRM: they are downloaded through the SSRF guard."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as aioredis

from domain.upstream import TranscriptionFailed
from resources.stt.base import AudioSource
from resources.stt.resource import SttResource
from tests.fixtures.standins.receiver import receiving
from tests.fixtures.standins.stt_upstream import serve_upstream

REFUSED = [
    "http://169.254.169.254/latest/meta-data/",
    "http://[::ffff:127.0.0.1]/audio/x",
    "http://10.0.0.1/audio/x",
    "http://2130706433/audio/x",  # 127.0.0.1 in decimal
    "http://user:pw@example.com/audio/x",
    "file:///etc/passwd",
]


def _stt(base: str, **overrides: Any) -> SttResource:
    return SttResource(provider="openai", openai_api_key="k", openai_base_url=f"{base}/v1", max_attempts=3, **overrides)


async def test_audio_is_fetched_only_from_vetted_addresses(aredis: aioredis.Redis) -> None:
    with serve_upstream(0.0) as (base, stats):
        async with _stt(base).client(aredis) as client:
            with pytest.raises(TranscriptionFailed, match="refused") as caught:
                await client.transcribe(AudioSource("loopback", f"{base}/audio/loopback", 5.0))
            assert caught.value.attempts == 1, "a refused URL is not retried"
            for url in REFUSED:
                with pytest.raises(TranscriptionFailed, match="refused"):
                    await client.transcribe(AudioSource("bad", url, 5.0))
        assert not stats.downloads, "nothing was fetched from a loopback origin that is not allowed"

        async with _stt(base, audio_allowed_origins=[base]).client(aredis) as client:
            done = await client.transcribe(AudioSource("allowed", f"{base}/audio/allowed", 5.0))
        assert done.attempts == 1
        assert dict(stats.downloads) == {"allowed": 1}
        assert sum(stats.calls.values()) == 1


async def test_a_redirect_to_a_private_address_is_refused(aredis: aioredis.Redis) -> None:
    with serve_upstream(0.0) as (base, stats), receiving() as storage:
        storage.answers = [(302, {"Location": "http://10.1.2.3/audio/x"}, b"")]
        async with _stt(base, audio_allowed_origins=[storage.url]).client(aredis) as client:
            with pytest.raises(TranscriptionFailed, match="refused"):
                await client.transcribe(AudioSource("moved", f"{storage.url}/audio/moved", 5.0))
        assert {r.path for r in storage.requests} == {"/audio/moved"}  # the hop to 10.1.2.3 never left
        assert not stats.calls
