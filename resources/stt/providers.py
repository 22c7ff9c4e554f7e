"""The three speech-to-text providers, each one HTTP request per attempt.

* `elevenlabs`: `POST {base}/v1/speech-to-text` (multipart), documented at
  https://elevenlabs.io/docs/api-reference/speech-to-text/convert, with diarisation and word
  timestamps. The audio is uploaded, or given as `cloud_storage_url` when the recording URLs are
  reachable from the provider (`TRANSCRIPTION_AUDIO_URLS_PUBLIC`).
* `openai`: any OpenAI-compatible `POST {base}/audio/transcriptions` (OpenAI, or a self-hosted
  Whisper server) with `response_format=verbose_json` and, unless disabled, word timestamps. No
  diarisation: every word's speaker is `unknown`; without word timestamps the segments are used.
* `reference`: the demo CRM simulator's reference transcript (`GET {base}/__sim/transcripts/{call}`).
  Not speech recognition; for the demo and tests only, and recorded as provider `reference`.
"""

from __future__ import annotations

import math
from typing import Any

import httpx

from domain.transcripts.chunking import UNKNOWN_SPEAKER, Word
from resources.stt.base import AudioSource, SttResult, json_object, last_end, number, send
from resources.stt.errors import SttAudioError, SttBadResponse

Fields = list[tuple[str, tuple[str | None, bytes | str, str | None]]]


def _field(name: str, value: str) -> tuple[str, tuple[str | None, bytes | str, str | None]]:
    return name, (None, value, None)


def _timed(provider: str, item: Any, key: str = "text") -> tuple[str, float, float]:
    """A word's (or segment's) text, start and end, or `SttBadResponse`."""
    if isinstance(item, dict):
        text, start, end = item.get(key), number(item.get("start")), number(item.get("end"))
        if isinstance(text, str) and start is not None and end is not None:
            return text, start, end
    raise SttBadResponse(f"{provider}: a word lacks its text or timings")


def _audio(audio: bytes | None) -> tuple[str, tuple[str | None, bytes | str, str | None]]:
    if audio is None:
        raise SttAudioError("no audio to upload")
    return "file", ("audio", audio, "application/octet-stream")


class ElevenLabsProvider:
    name = "elevenlabs"

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        api_key: str,
        base_url: str,
        model: str,
        language: str,
        send_url: bool,
    ) -> None:
        self._http = http
        self._api_key = api_key
        self._url = f"{base_url.rstrip('/')}/v1/speech-to-text"
        self.model = model
        self._language = language
        self._send_url = send_url
        self.needs_audio = not send_url

    async def transcribe(self, source: AudioSource, audio: bytes | None) -> SttResult:
        fields: Fields = [
            _field("model_id", self.model),
            _field("language_code", self._language),
            _field("diarize", "true"),
            _field("timestamps_granularity", "word"),
            _field("tag_audio_events", "false"),
        ]
        if self._send_url:
            if not source.url:
                raise SttAudioError("no recording URL")
            fields.append(_field("cloud_storage_url", source.url))
        else:
            fields.append(_audio(audio))
        request = self._http.build_request("POST", self._url, files=fields, headers={"xi-api-key": self._api_key})
        body = json_object(self.name, await send(self.name, request, self._http, secret=self._api_key))
        return self._parse(body, source)

    def _parse(self, body: dict[str, Any], source: AudioSource) -> SttResult:
        raw_words = body.get("words")
        if not isinstance(body.get("text"), str) or not isinstance(raw_words, list):
            raise SttBadResponse(f"{self.name}: the answer has no text or words")
        words = []
        for item in raw_words:
            if not isinstance(item, dict) or item.get("type", "word") != "word":
                continue  # spacing and audio events
            text, start, end = _timed(self.name, item)
            logprob = number(item.get("logprob"))
            speaker = item.get("speaker_id")
            words.append(
                Word(
                    text,
                    start,
                    end,
                    speaker if isinstance(speaker, str) and speaker else UNKNOWN_SPEAKER,
                    round(math.exp(logprob), 4) if logprob is not None and logprob <= 0 else None,
                )
            )
        transcript_id = body.get("transcription_id")
        return SttResult(
            provider=self.name,
            model=self.model,
            text=body["text"],
            words=words,
            language=body.get("language_code") if isinstance(body.get("language_code"), str) else None,
            language_probability=number(body.get("language_probability")),
            duration_seconds=last_end(words) or source.duration_seconds,
            provider_transcript_id=transcript_id if isinstance(transcript_id, str) else None,
        )


class OpenAiProvider:
    name = "openai"
    needs_audio = True

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        api_key: str | None,
        base_url: str,
        model: str,
        language: str,
        word_timestamps: bool,
    ) -> None:
        self._http = http
        self._api_key = api_key
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._url = f"{base_url.rstrip('/')}/audio/transcriptions"
        self.model = model
        self._language = language
        self._word_timestamps = word_timestamps

    async def transcribe(self, source: AudioSource, audio: bytes | None) -> SttResult:
        fields: Fields = [
            _audio(audio),
            _field("model", self.model),
            _field("language", self._language),
            _field("response_format", "verbose_json"),
        ]
        if self._word_timestamps:
            fields += [_field("timestamp_granularities[]", "word"), _field("timestamp_granularities[]", "segment")]
        request = self._http.build_request("POST", self._url, files=fields, headers=self._headers)
        body = json_object(self.name, await send(self.name, request, self._http, secret=self._api_key))
        return self._parse(body, source)

    def _parse(self, body: dict[str, Any], source: AudioSource) -> SttResult:
        if not isinstance(body.get("text"), str):
            raise SttBadResponse(f"{self.name}: the answer has no text (is response_format verbose_json supported?)")
        items = body.get("words")
        key = "word"
        if not isinstance(items, list) or not items:  # no word timestamps: segment timings, still real
            items, key = body.get("segments"), "text"
        words = []
        for item in items if isinstance(items, list) else []:
            text, start, end = _timed(self.name, item, key)
            words.append(Word(text.strip(), start, end))
        language = body.get("language")
        return SttResult(
            provider=self.name,
            model=self.model,
            text=body["text"].strip(),
            words=words,
            language=language if isinstance(language, str) else None,
            duration_seconds=number(body.get("duration")) or last_end(words) or source.duration_seconds,
        )


class ReferenceProvider:
    """The simulator's reference transcript: exact words, timings and speakers of a synthetic call."""

    name = "reference"
    model = "demo-simulator-reference"
    needs_audio = False

    def __init__(self, http: httpx.AsyncClient, *, base_url: str) -> None:
        self._http = http
        self._base = base_url.rstrip("/")

    async def transcribe(self, source: AudioSource, audio: bytes | None) -> SttResult:
        request = self._http.build_request("GET", f"{self._base}/__sim/transcripts/{source.call_id}")
        body = json_object(self.name, await send(self.name, request, self._http))
        raw_words = body.get("words")
        if not isinstance(body.get("text"), str) or not isinstance(raw_words, list):
            raise SttBadResponse(f"{self.name}: the answer has no text or words")
        words = []
        for item in raw_words:
            text, start, end = _timed(self.name, item)
            words.append(Word(text, start, end, str(item.get("speaker") or UNKNOWN_SPEAKER)))
        return SttResult(
            provider=self.name,
            model=self.model,
            text=body["text"],
            words=words,
            language=body.get("language") if isinstance(body.get("language"), str) else None,
            duration_seconds=number(body.get("duration_seconds")) or last_end(words),
            extra={"speakers": body.get("speakers") or {}},
        )
