"""What every speech-to-text provider takes and returns, and the HTTP helpers they share."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from domain.transcripts.chunking import Word
from resources.http.errors import sanitise
from resources.http.retry import parse_retry_after
from resources.stt.errors import (
    SttAuthError,
    SttBadResponse,
    SttError,
    SttRequestError,
    SttUnavailable,
)

RETRYABLE_STATUSES = frozenset({408, 409, 425, 429})


@dataclass(frozen=True)
class AudioSource:
    """One recording to transcribe: its call id, audio URL ('' when unknown) and known duration."""

    call_id: str
    url: str
    duration_seconds: float | None = None


@dataclass(frozen=True)
class SttResult:
    """A provider's transcript of one recording, in the product's terms."""

    provider: str
    model: str
    text: str
    words: list[Word]
    language: str | None = None
    language_probability: float | None = None
    duration_seconds: float | None = None
    provider_transcript_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class SttProvider(Protocol):
    """One attempt at transcribing a recording; raises `SttError` (retryable or not)."""

    name: str
    model: str
    #: False when the provider fetches the audio itself (by URL or, for `reference`, by call id).
    needs_audio: bool

    async def transcribe(self, source: AudioSource, audio: bytes | None) -> SttResult: ...


async def send(
    provider: str, request: httpx.Request, http: httpx.AsyncClient, *, secret: str | None = None
) -> httpx.Response:
    """Send one request; transport failures become `SttUnavailable`, bad statuses a typed `SttError`.

    `secret` (the API key) is blanked out of the provider's message should it echo it back.
    """
    try:
        response = await http.send(request)
    except httpx.TimeoutException:
        raise SttUnavailable(f"{provider}: request timed out") from None
    except httpx.TransportError as exc:
        raise SttUnavailable(f"{provider}: connection failed ({type(exc).__name__})") from None
    if response.is_success:
        return response
    raise status_error(provider, response, secret=secret)


def status_error(provider: str, response: httpx.Response, *, secret: str | None = None) -> SttError:
    status = response.status_code
    detail = _provider_message(response)
    if secret:
        detail = detail.replace(secret, "[REDACTED]")
    message = f"{provider} answered HTTP {status}" + (f": {detail}" if detail else "")
    if status in (401, 403):
        return SttAuthError(message + " (check the API key)", status=status)
    if status in RETRYABLE_STATUSES or status >= 500:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return SttUnavailable(message, status=status, retry_after=retry_after)
    return SttRequestError(message, status=status)


def _provider_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return sanitise(response.text, 200) if response.headers.get("content-type", "").startswith("text/") else ""
    detail: Any = body.get("detail", body.get("error", body)) if isinstance(body, dict) else body
    if isinstance(detail, dict):
        detail = detail.get("message") or detail.get("status") or detail
    return sanitise(str(detail), 200)


def json_object(provider: str, response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise SttBadResponse(f"{provider}: the answer is not JSON") from None
    if not isinstance(body, dict):
        raise SttBadResponse(f"{provider}: the answer is not a JSON object")
    return body


def number(value: Any) -> float | None:
    """A JSON number as float; None for anything else (booleans included)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def last_end(words: list[Word]) -> float | None:
    return max((w.end for w in words), default=None)
