"""Transcribing one recording with bounds: concurrency caps, per-attempt retries, an overall deadline.

Each recording first takes an in-process slot (so at most `concurrency` recordings are being
transcribed here), downloads its audio once when the provider needs it (size-capped, timed out; a
failed download counts as an attempt), then makes up to `max_attempts` provider calls. Up to
`concurrency` more recordings download their audio ahead, while waiting for a slot, so a freed slot
goes straight to a provider call (at most 2 x `concurrency` audio files are held in memory). Each call holds a
slot of the provider-wide Redis `LeaseSemaphore` (`stt`, shared by every run and process) only
while it is in flight; back-off sleeps happen outside it. A call is bounded by `request_timeout`, and
the lease of its slot outlives that bound even if this process dies mid-call (`lease_covering`):
from the provider's side, a dead worker's request may still be running, so its slot stays taken
until that request must have ended. When the provider has a request rate
(`RateLimiter`, also shared through Redis), each call is admitted by it after taking its slot, so
the rate counts real starts (admitted first, a call could wait for a slot and start in a later
burst). The wait before a retry is a decorrelated-jitter back-off, at least the provider's
`Retry-After`. The whole recording is bounded by `recording_timeout`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Self

import httpx

from domain.upstream import TranscriptionFailed
from resources.egress import EgressRefused, blocked
from resources.http.retry import DecorrelatedJitter
from resources.redis import LeaseSemaphore, RateLimiter, RateLimitTimeout, SemaphoreTimeout, SharedCooldown
from resources.stt.base import AudioSource, SttProvider, SttResult
from resources.stt.errors import SttAudioError, SttError, SttUnavailable

SEMAPHORE_NAME = "stt"


@dataclass(frozen=True)
class SttLimits:
    concurrency: int = 2
    max_attempts: int = 6
    backoff_base: float = 2.0
    backoff_max: float = 60.0
    recording_timeout: float = 900.0
    download_timeout: float = 120.0
    request_timeout: float = 600.0
    audio_max_bytes: int = 200_000_000


@dataclass(frozen=True)
class Transcribed:
    result: SttResult
    attempts: int
    seconds: float


class SttClient:
    """Transcribes recordings through one provider; an async context manager owning its HTTP client."""

    def __init__(
        self,
        provider: SttProvider,
        http: httpx.AsyncClient,
        semaphore: LeaseSemaphore,
        limits: SttLimits,
        rate: RateLimiter | None = None,
        *,
        downloads: httpx.AsyncClient,
        cooldown: SharedCooldown,
    ) -> None:
        self.provider = provider
        self.limits = limits
        self._http = http
        self._downloads = downloads  # recordings' URLs come from the CRM: through the SSRF guard
        self._semaphore = semaphore
        self._rate = rate
        self._cooldown = cooldown
        self._gate = asyncio.Semaphore(limits.concurrency)
        self._ahead = asyncio.Semaphore(2 * limits.concurrency)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._http.aclose()
        await self._downloads.aclose()

    async def transcribe(self, source: AudioSource) -> Transcribed:
        """Transcribe one recording or raise `TranscriptionFailed`.

        `SemaphoreUnavailable` / `RateLimiterUnavailable` (Redis down: the provider-wide caps cannot
        hold) propagate: no recording can proceed safely, so the caller stops the batch.
        """
        async with self._ahead:
            audio = await self._prefetch(source)
            async with self._gate:
                return await self._transcribe(source, audio)

    async def _transcribe(self, source: AudioSource, audio: bytes | None) -> Transcribed:
        started = time.monotonic()
        attempts = 0
        try:
            async with asyncio.timeout(self.limits.recording_timeout):
                delays = DecorrelatedJitter(self.limits.backoff_base, self.limits.backoff_max)
                while True:
                    attempts += 1
                    try:
                        if audio is None and self.provider.needs_audio:
                            audio = await self._download(source)
                        result = await self._attempt(source, audio)
                        return Transcribed(result, attempts, time.monotonic() - started)
                    except SttError as exc:
                        if not exc.retryable or attempts >= self.limits.max_attempts:
                            raise
                        delay = max(delays.next_delay(), exc.retry_after or 0.0)
                        if exc.status == 429 or exc.retry_after is not None:
                            # Throttled: every caller of the provider backs off, not only this one.
                            await self._cooldown.extend(delay, reason=f"HTTP {exc.status}")
                        await asyncio.sleep(delay)
        except SttError as exc:
            raise TranscriptionFailed(exc, attempts) from None
        except TimeoutError:
            error = SttUnavailable(f"gave up after {self.limits.recording_timeout:g} s ({attempts} attempt(s))")
            raise TranscriptionFailed(error, attempts) from None

    async def _attempt(self, source: AudioSource, audio: bytes | None) -> SttResult:
        try:
            async with self._semaphore.slot(wait_timeout=self.limits.recording_timeout):
                # A 429 elsewhere may have started a cooldown while this caller queued for the slot.
                await self._cooldown.wait()
                if self._rate is not None:
                    await self._rate.admit(wait_timeout=self.limits.recording_timeout)
                async with asyncio.timeout(self.limits.request_timeout):
                    return await self.provider.transcribe(source, audio)
        except TimeoutError:
            raise SttUnavailable(f"the provider did not answer within {self.limits.request_timeout:g} s") from None
        except SemaphoreTimeout:
            raise SttUnavailable("every provider-wide transcription slot stayed taken") from None
        except RateLimitTimeout:
            raise SttUnavailable("the provider-wide request rate stayed exhausted") from None

    async def _prefetch(self, source: AudioSource) -> bytes | None:
        """The audio downloaded ahead of a slot; None when not needed or when it failed (the attempts,
        inside the slot, download again and record the error)."""
        if not self.provider.needs_audio or not source.url:
            return None
        try:
            return await self._download(source)
        except SttError:
            return None

    async def _download(self, source: AudioSource) -> bytes:
        """The recording's audio, refusing more than `audio_max_bytes`; errors never echo the URL."""
        if not source.url:
            raise SttAudioError("no recording URL")
        limit = self.limits.audio_max_bytes
        try:
            async with self._downloads.stream("GET", source.url, timeout=self.limits.download_timeout) as response:
                if response.status_code != 200:
                    transient = response.status_code >= 500 or response.status_code == 429
                    raise (SttUnavailable if transient else SttAudioError)(
                        f"audio download answered HTTP {response.status_code}", status=response.status_code
                    )
                declared = response.headers.get("Content-Length")
                if declared and declared.isdigit() and int(declared) > limit:
                    raise SttAudioError(f"audio larger than {limit} bytes")
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > limit:
                        raise SttAudioError(f"audio larger than {limit} bytes")
                    chunks.append(chunk)
        except EgressRefused as exc:
            raise SttAudioError(f"recording URL refused: {exc}") from None
        except httpx.TimeoutException:
            raise SttUnavailable("audio download timed out") from None
        except httpx.TransportError as exc:
            if blocked(exc):
                raise SttAudioError("recording URL refused: it resolves to a blocked address") from None
            raise SttUnavailable(f"audio download failed ({type(exc).__name__})") from None
        if not size:
            raise SttAudioError("the audio file is empty")
        return b"".join(chunks)
