"""Each provider against a protocol-faithful stand-in: request shape, answer parsing, typed errors."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from domain.upstream import TranscriptionFailed
from resources.http.keys import normalise_key
from resources.stt.base import AudioSource
from resources.stt.client import SttClient
from resources.stt.errors import SttAuthError, SttBadResponse, SttError, SttRequestError, SttUnavailable
from resources.stt.providers import ElevenLabsProvider, OpenAiProvider, ReferenceProvider
from resources.stt.resource import SttResource, provider_name
from tests.fixtures.standins.stt import (
    KEY,
    elevenlabs_body,
    elevenlabs_handler,
    multipart_fields,
    openai_body,
)

SIGNED = "https://records.example/acct/call-1.wav?token=s3cr3t-signature"
SOURCE = AudioSource("call-1", SIGNED, 42)


def _http(handler: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def _elevenlabs(http: httpx.AsyncClient, *, key: str = KEY, send_url: bool = False) -> ElevenLabsProvider:
    return ElevenLabsProvider(
        http, api_key=key, base_url="https://stt.test/", model="scribe_v1", language="fr", send_url=send_url
    )


async def test_elevenlabs_uploads_audio_and_parses_words() -> None:
    seen: list[httpx.Request] = []
    async with _http(elevenlabs_handler(seen)) as http:
        result = await _elevenlabs(http).transcribe(SOURCE, b"RIFFaudio")
    assert multipart_fields(seen[0])["file"] == [b"RIFFaudio"]
    assert [(w.text, w.speaker) for w in result.words] == [
        ("Bonjour", "speaker_0"),
        ("madame.", "speaker_0"),
        ("Oui", "speaker_1"),
        ("bonjour.", "speaker_1"),
    ]
    assert result.words[0].confidence == pytest.approx(0.9048, abs=1e-4)
    assert result.words[2].confidence is None
    assert (result.language, result.provider_transcript_id, result.duration_seconds) == ("fra", "tr-x", 2.0)


async def test_elevenlabs_sends_the_url_when_the_provider_can_fetch_it() -> None:
    seen: list[httpx.Request] = []
    async with _http(elevenlabs_handler(seen)) as http:
        await _elevenlabs(http, send_url=True).transcribe(SOURCE, None)
    assert multipart_fields(seen[0])["cloud_storage_url"] == [SIGNED]


async def test_openai_compatible_request_and_verbose_json() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        assert request.url.path == "/v1/audio/transcriptions"
        assert request.headers["authorization"] == f"Bearer {KEY}"
        fields = multipart_fields(request)
        assert fields["model"] == ["whisper-1"]
        assert fields["response_format"] == ["verbose_json"]
        assert fields["timestamp_granularities[]"] == ["word", "segment"]
        assert fields["language"] == ["fr"]
        assert fields["file"] == [b"audio"]
        return httpx.Response(200, json=openai_body())

    async with _http(handle) as http:
        provider = OpenAiProvider(
            http,
            api_key=KEY,
            base_url="https://whisper.local/v1",
            model="whisper-1",
            language="fr",
            word_timestamps=True,
        )
        result = await provider.transcribe(SOURCE, b"audio")
    assert [(w.text, w.start, w.speaker) for w in result.words] == [
        ("Bonjour", 0.0, "unknown"),
        ("madame.", 0.6, "unknown"),
    ]
    assert (result.text, result.duration_seconds) == ("Bonjour madame.", 2.5)


async def test_openai_without_word_timestamps_uses_segments() -> None:
    body = {**openai_body(), "words": None}
    async with _http(lambda request: httpx.Response(200, json=body)) as http:
        provider = OpenAiProvider(
            http, api_key=None, base_url="http://w/v1", model="m", language="fr", word_timestamps=False
        )
        result = await provider.transcribe(SOURCE, b"audio")
    assert [(w.text, w.end) for w in result.words] == [("Bonjour madame.", 1.0)]


async def test_reference_reads_the_simulator_transcript() -> None:
    body = {
        "call_id": "call-1",
        "language": "fr",
        "duration_seconds": 12,
        "speakers": {"speaker_0": "agent", "speaker_1": "client"},
        "text": "Allô bonjour",
        "words": [
            {"text": "Allô", "start": 0.1, "end": 0.4, "speaker": "speaker_1"},
            {"text": "bonjour", "start": 0.9, "end": 1.3, "speaker": "speaker_0"},
        ],
    }

    def handle(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/__sim/transcripts/call-1"
        return httpx.Response(200, json=body)

    async with _http(handle) as http:
        result = await ReferenceProvider(http, base_url="http://sim").transcribe(SOURCE, None)
    assert (result.provider, result.duration_seconds, len(result.words)) == ("reference", 12.0, 2)


@pytest.mark.parametrize(
    ("response", "error", "retryable"),
    [
        (httpx.Response(401, json={"detail": {"message": "Invalid API key"}}), SttAuthError, False),
        (httpx.Response(429, headers={"Retry-After": "7"}, json={"detail": "busy"}), SttUnavailable, True),
        (httpx.Response(503, text="upstream down"), SttUnavailable, True),
        (httpx.Response(200, text="<html>oops</html>"), SttBadResponse, False),
        (httpx.Response(200, json={"text": "x", "words": [{"text": "a", "type": "word"}]}), SttBadResponse, False),
        (httpx.Response(200, json=["not", "an", "object"]), SttBadResponse, False),
    ],
)
async def test_errors_are_typed_and_carry_retry_after(
    response: httpx.Response, error: type[SttError], retryable: bool
) -> None:
    async with _http(lambda request: response) as http:
        with pytest.raises(error) as caught:
            await _elevenlabs(http).transcribe(SOURCE, b"a")
    assert caught.value.retryable is retryable
    if response.status_code == 429:
        assert caught.value.retry_after == 7.0
    assert KEY not in str(caught.value)


async def test_timeouts_are_retryable() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    async with _http(handle) as http:
        with pytest.raises(SttUnavailable, match="timed out"):
            await _elevenlabs(http).transcribe(SOURCE, b"a")


def _resource(**overrides: Any) -> SttResource:
    values: dict[str, Any] = {
        "provider": "elevenlabs",
        "elevenlabs_api_key": f'  "{KEY}"\n',
        "elevenlabs_base_url": "https://stt.test",
        "concurrency": 2,
        "max_attempts": 4,
        "backoff_base_seconds": 0.01,
        "backoff_max_seconds": 0.05,
        "recording_timeout_seconds": 5,
    }
    return SttResource(**{**values, **overrides})


def _client(aredis: aioredis.Redis, handler: Any, **overrides: Any) -> SttClient:
    return _resource(**overrides).client(aredis, transport=httpx.MockTransport(handler))


async def test_client_retries_429_and_5xx_honouring_retry_after(aredis: aioredis.Redis) -> None:
    answers = [
        httpx.Response(429, headers={"Retry-After": "0.3"}),
        httpx.Response(500),
        httpx.Response(200, json=elevenlabs_body("call-1")),
    ]
    times: list[float] = []

    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, content=b"audio")
        assert request.headers["xi-api-key"] == KEY  # normalised: no blanks, no quotes
        times.append(time.monotonic())
        return answers[len(times) - 1]

    async with _client(aredis, handle) as client:
        done = await client.transcribe(SOURCE)
    assert done.attempts == 3
    assert times[1] - times[0] >= 0.3


async def test_client_gives_up_with_a_sanitised_error(aredis: aioredis.Redis) -> None:
    async def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, content=b"audio")
        return httpx.Response(502, text=f"bad gateway for {SIGNED} key={KEY}")

    async with _client(aredis, handle, max_attempts=2) as client:
        with pytest.raises(TranscriptionFailed) as caught:
            await client.transcribe(SOURCE)
    assert caught.value.attempts == 2
    message = str(caught.value)
    assert "502" in message
    assert KEY not in message
    assert "s3cr3t" not in message


async def test_client_bounds_each_recording_in_time(aredis: aioredis.Redis) -> None:
    async def handle(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(2)
        return httpx.Response(200, content=b"audio")

    async with _client(aredis, handle, recording_timeout_seconds=0.2) as client:
        with pytest.raises(TranscriptionFailed, match=r"gave up after 0\.2 s"):
            await client.transcribe(SOURCE)


async def test_client_refuses_oversized_audio_and_missing_urls(aredis: aioredis.Redis) -> None:
    async with _client(aredis, lambda r: httpx.Response(200, content=b"x" * 100), audio_max_bytes=10) as client:
        with pytest.raises(TranscriptionFailed, match="larger than 10 bytes"):
            await client.transcribe(SOURCE)
        with pytest.raises(TranscriptionFailed, match="no recording URL"):
            await client.transcribe(AudioSource("call-2", ""))


async def test_concurrency_is_capped_provider_wide(aredis: aioredis.Redis) -> None:
    in_flight, peak = 0, 0

    async def handle(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        if request.method == "GET":
            return httpx.Response(200, content=b"audio")
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.05)
        in_flight -= 1
        return httpx.Response(200, json=elevenlabs_body("c"))

    # Two clients (two runs) sharing the Redis semaphore "stt" with limit 2.
    async with _client(aredis, handle, concurrency=2) as one, _client(aredis, handle, concurrency=2) as two:
        sources = [AudioSource(f"c{i}", f"https://r/{i}.wav") for i in range(8)]
        await asyncio.gather(*(c.transcribe(s) for c, s in zip([one, two] * 4, sources, strict=True)))
    assert peak == 2


def test_missing_key_is_refused_and_provider_defaults(aredis: aioredis.Redis) -> None:
    from callaudit.settings import load_settings

    with pytest.raises(SttAuthError, match="ELEVENLABS_API_KEY"):
        _resource(elevenlabs_api_key=" '' ").client(aredis)
    assert normalise_key(' "abc" ') == "abc"
    assert provider_name(load_settings(_env_file=None, elevenlabs_api_key=None)) == "reference"
    assert provider_name(load_settings(_env_file=None, elevenlabs_api_key="k")) == "elevenlabs"
    assert provider_name(load_settings(_env_file=None, elevenlabs_api_key="k", stt_provider="openai")) == "openai"


async def test_one_request_per_attempt_and_422_is_not_retryable() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) == 1:
            return httpx.Response(503, headers={"Retry-After": "2"}, json={"detail": "overloaded"})
        return httpx.Response(422, json={"detail": [{"loc": ["body", "model_id"], "msg": "unknown model"}]})

    async with _http(handle) as http:
        with pytest.raises(SttUnavailable) as unavailable:
            await _elevenlabs(http).transcribe(SOURCE, b"a")
        assert (len(seen), unavailable.value.retry_after) == (1, 2.0)  # retries are `SttClient`'s
        with pytest.raises(SttRequestError, match="HTTP 422") as refused:
            await _elevenlabs(http).transcribe(SOURCE, b"a")
    assert refused.value.retryable is False


async def test_elevenlabs_requests_are_rate_limited_provider_wide(aredis: aioredis.Redis) -> None:
    window = 0.5
    starts: list[float] = []

    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, content=b"audio")
        starts.append(time.monotonic())
        return httpx.Response(200, json=elevenlabs_body("c"))

    # Two clients (two runs or processes), 2 requests per window between them, 4 slots: the 3rd waits.
    limited = {"concurrency": 4, "rate_limit_per_minute": 2, "rate_limit_window_seconds": window}
    async with _client(aredis, handle, **limited) as one, _client(aredis, handle, **limited) as two:
        sources = [AudioSource(f"c{i}", f"https://r/{i}.wav") for i in range(3)]
        await asyncio.gather(one.transcribe(sources[0]), two.transcribe(sources[1]), one.transcribe(sources[2]))
    starts.sort()
    assert starts[1] - starts[0] < window / 2
    assert starts[2] - starts[0] >= window - 0.02


async def test_only_elevenlabs_has_a_request_rate(aredis: aioredis.Redis) -> None:
    reference = SttResource(provider="reference", rate_limit_per_minute=1, rate_limit_window_seconds=60)
    calls = 0

    def handle(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(200, json={"text": "a", "words": [{"text": "a", "start": 0, "end": 1}]})

    async with reference.client(aredis, transport=httpx.MockTransport(handle)) as client:
        for i in range(3):
            await client.transcribe(AudioSource(f"c{i}", ""))
    assert calls == 3


async def test_a_429_makes_every_client_of_the_provider_wait(aredis: aioredis.Redis) -> None:
    """Shared back-off: another client (another process) does not call before the Retry-After is over."""
    posts: list[float] = []

    async def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            for _ in range(50 if request.url.path.endswith("call-2.wav") else 0):
                if await aredis.exists("stt:cooldown"):  # the second client starts once the first stored it
                    break
                await asyncio.sleep(0.01)
            return httpx.Response(200, content=b"audio")
        posts.append(time.monotonic())
        if len(posts) == 1:
            return httpx.Response(429, headers={"Retry-After": "1"}, json={"detail": "busy"})
        return httpx.Response(200, json=elevenlabs_body(f"call-{len(posts)}"))

    async with _client(aredis, handle) as first, _client(aredis, handle) as second:
        other = AudioSource("call-2", "https://records.example/acct/call-2.wav", 42)
        await asyncio.gather(first.transcribe(SOURCE), second.transcribe(other))
    told_at, *after = posts
    assert len(after) == 2
    assert all(at - told_at >= 1 for at in after), posts
