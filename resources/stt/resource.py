"""Speech-to-text as a Dagster resource: configuration only; clients are made inside the asset's loop.

`STT_PROVIDER` picks the provider (`elevenlabs`, `openai`, `reference`); unset means `elevenlabs`
when `ELEVENLABS_API_KEY` is set, else `reference` (the demo simulator). Keys are given as
`dg.EnvVar` so they are never stored in Dagster's run config; they are normalised (trimmed,
surrounding quotes removed) and never logged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import dagster as dg
import httpx
from pydantic import Field
from redis.asyncio import Redis as AsyncRedis

from resources.egress import EgressPolicy, guarded_client
from resources.http.keys import normalise_key
from resources.redis import LeaseSemaphore, RateLimiter, SharedCooldown, lease_covering
from resources.stt.base import SttProvider
from resources.stt.client import SEMAPHORE_NAME, SttClient, SttLimits
from resources.stt.errors import SttAuthError
from resources.stt.providers import ElevenLabsProvider, OpenAiProvider, ReferenceProvider

if TYPE_CHECKING:
    from callaudit.settings import Settings

ProviderName = Literal["elevenlabs", "openai", "reference"]
ELEVENLABS_BASE_URL = "https://api.elevenlabs.io"
OPENAI_BASE_URL = "https://api.openai.com/v1"
_DEFAULTS = SttLimits()


def provider_name(settings: Settings) -> ProviderName:
    if settings.stt_provider is not None:
        return settings.stt_provider
    key = settings.elevenlabs_api_key.get_secret_value() if settings.elevenlabs_api_key else None
    return "elevenlabs" if normalise_key(key) else "reference"


def reference_base_url(settings: Settings) -> str:
    """The simulator's root (its `/__sim` routes sit beside `/api`)."""
    base = settings.crm_base_url.rstrip("/")
    return base.removesuffix("/api")


class SttResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The configured speech-to-text provider and the bounds every recording is transcribed within."""

    provider: ProviderName = "reference"
    language: str = "fr"
    elevenlabs_api_key: str | None = None
    elevenlabs_base_url: str = ELEVENLABS_BASE_URL
    elevenlabs_model: str = "scribe_v1"
    openai_api_key: str | None = None
    openai_base_url: str = OPENAI_BASE_URL
    openai_model: str = "whisper-1"
    openai_word_timestamps: bool = True
    reference_base_url: str = "http://127.0.0.1:8090"
    audio_urls_public: bool = False
    #: Recordings' audio is downloaded through the SSRF guard (`resources.egress`): public addresses,
    #: plus these exact origins (the CRM's own, and `WEBHOOK_ALLOWED_ORIGINS`), loopback only if allowed.
    audio_allowed_origins: list[str] = Field(default_factory=list)
    audio_allow_loopback: bool = False
    audio_max_redirects: int = Field(default=3, ge=0, description="A storage redirect is vetted like the URL")
    concurrency: int = Field(default=_DEFAULTS.concurrency, ge=1)
    #: ElevenLabs requests admitted per window across every process (the demo's `reference` and
    #: self-hosted OpenAI-compatible servers are bounded by `concurrency` and their own 429s).
    rate_limit_per_minute: int = Field(default=10, ge=1)
    rate_limit_window_seconds: float = Field(default=60.0, gt=0, description="Shorter only in tests")
    max_attempts: int = Field(default=_DEFAULTS.max_attempts, ge=1)
    backoff_base_seconds: float = Field(default=_DEFAULTS.backoff_base, gt=0)
    backoff_max_seconds: float = Field(default=_DEFAULTS.backoff_max, gt=0)
    request_timeout_seconds: float = Field(default=600.0, gt=0)
    recording_timeout_seconds: float = Field(default=_DEFAULTS.recording_timeout, gt=0)
    audio_max_bytes: int = Field(default=_DEFAULTS.audio_max_bytes, ge=1)
    #: Every transcription skips fiches with more recordings (None: no limit); automated runs use
    #: the lower of this and `automation_max_recordings_per_fiche`.
    max_recordings_per_fiche: int | None = Field(default=None, ge=1)
    automation_max_recordings_per_fiche: int = Field(default=50, ge=1)
    firm_names: list[str] = Field(default_factory=list, description="Speaker-role cue: the brokerage's names")

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> SttResource:
        """Everything from settings; keys as `dg.EnvVar` unless given in `overrides`."""
        values: dict[str, object] = {
            "provider": provider_name(settings),
            "elevenlabs_api_key": dg.EnvVar("ELEVENLABS_API_KEY") if settings.elevenlabs_api_key else None,
            "elevenlabs_base_url": settings.elevenlabs_base_url or ELEVENLABS_BASE_URL,
            "elevenlabs_model": settings.elevenlabs_stt_model,
            "openai_api_key": dg.EnvVar("OPENAI_API_KEY") if settings.openai_api_key else None,
            "openai_base_url": settings.openai_base_url or OPENAI_BASE_URL,
            "openai_model": settings.openai_stt_model,
            "openai_word_timestamps": settings.openai_stt_word_timestamps,
            "reference_base_url": reference_base_url(settings),
            "audio_urls_public": settings.transcription_audio_urls_public,
            "audio_allowed_origins": [settings.crm_base_url, *settings.webhook_allowed_origins],
            "audio_allow_loopback": settings.egress_allow_loopback,
            "concurrency": settings.transcription_recording_concurrency,
            "rate_limit_per_minute": settings.transcription_elevenlabs_rate_limit_per_minute,
            "max_attempts": settings.transcription_elevenlabs_max_attempts,
            "backoff_base_seconds": settings.transcription_elevenlabs_backoff_base_seconds,
            "backoff_max_seconds": settings.transcription_elevenlabs_backoff_max_seconds,
            "recording_timeout_seconds": settings.transcription_recording_timeout_seconds,
            "request_timeout_seconds": settings.transcription_request_timeout_seconds,
            "audio_max_bytes": settings.transcription_audio_max_bytes,
            "max_recordings_per_fiche": settings.transcription_max_recordings_per_fiche,
            "automation_max_recordings_per_fiche": settings.automation_max_recordings_per_fiche,
            "firm_names": settings.transcription_firm_names,
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    def max_recordings(self, *, automated: bool) -> int | None:
        """The most recordings a fiche may have to be transcribed by this kind of run."""
        if not automated:
            return self.max_recordings_per_fiche
        return min(self.automation_max_recordings_per_fiche, self.max_recordings_per_fiche or 2**31)

    def limits(self) -> SttLimits:
        return SttLimits(
            concurrency=self.concurrency,
            max_attempts=self.max_attempts,
            backoff_base=self.backoff_base_seconds,
            backoff_max=self.backoff_max_seconds,
            recording_timeout=self.recording_timeout_seconds,
            download_timeout=min(self.request_timeout_seconds, self.recording_timeout_seconds),
            request_timeout=self.request_timeout_seconds,
            audio_max_bytes=self.audio_max_bytes,
        )

    def _provider(self, http: httpx.AsyncClient) -> SttProvider:
        if self.provider == "elevenlabs":
            return ElevenLabsProvider(
                http,
                api_key=normalise_key(self.elevenlabs_api_key) or "",
                base_url=self.elevenlabs_base_url,
                model=self.elevenlabs_model,
                language=self.language,
                send_url=self.audio_urls_public,
            )
        if self.provider == "openai":
            return OpenAiProvider(
                http,
                api_key=normalise_key(self.openai_api_key),
                base_url=self.openai_base_url,
                model=self.openai_model,
                language=self.language,
                word_timestamps=self.openai_word_timestamps,
            )
        return ReferenceProvider(http, base_url=self.reference_base_url)

    def client(self, redis: AsyncRedis, *, transport: httpx.AsyncBaseTransport | None = None) -> SttClient:
        """A new client (an async context manager); create it inside the event loop that uses it.

        Raises `SttAuthError` when the chosen provider needs a key that is not configured.
        """
        if self.provider == "elevenlabs" and normalise_key(self.elevenlabs_api_key) is None:
            raise SttAuthError("ELEVENLABS_API_KEY is not set")
        limits = self.limits()
        http = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(self.request_timeout_seconds, connect=10.0),
            follow_redirects=True,
            limits=httpx.Limits(max_connections=max(10, 2 * limits.concurrency)),
        )
        provider = self._provider(http)
        lease = lease_covering(limits.request_timeout)
        semaphore = LeaseSemaphore(redis, SEMAPHORE_NAME, limits.concurrency, lease_seconds=lease)
        rate = None
        if self.provider == "elevenlabs":
            window = self.rate_limit_window_seconds
            rate = RateLimiter(redis, SEMAPHORE_NAME, self.rate_limit_per_minute, window_seconds=window)
        return SttClient(
            provider,
            http,
            semaphore,
            limits,
            rate,
            downloads=self._downloads(transport, limits),
            cooldown=SharedCooldown(redis, SEMAPHORE_NAME),
        )

    def _downloads(self, transport: httpx.AsyncBaseTransport | None, limits: SttLimits) -> httpx.AsyncClient:
        """The client for recordings' audio: the SSRF guard, unless a test gives its own transport."""
        timeout = httpx.Timeout(limits.download_timeout, connect=10.0)
        if transport is not None:
            return httpx.AsyncClient(transport=transport, timeout=timeout, follow_redirects=True)
        policy = EgressPolicy.build(self.audio_allowed_origins, allow_loopback=self.audio_allow_loopback)
        return guarded_client(
            policy,
            timeout=timeout,
            max_redirects=self.audio_max_redirects,
            limits=httpx.Limits(max_connections=max(10, 2 * limits.concurrency)),
        )
