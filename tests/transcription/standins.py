"""Protocol-faithful stand-ins for the speech-to-text providers (httpx `MockTransport` handlers)."""

from __future__ import annotations

from collections.abc import Callable
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import httpx

KEY = "sk_test_0123456789abcdef"


def multipart_fields(request: httpx.Request) -> dict[str, list[str | bytes]]:
    """The multipart form of a request, field name -> values (bytes for files)."""
    return parse_multipart(request.headers["content-type"], request.content)


def parse_multipart(content_type: str, body: bytes) -> dict[str, list[str | bytes]]:
    assert content_type.startswith("multipart/form-data; boundary="), content_type
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    fields: dict[str, list[str | bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        value: str | bytes = payload if part.get_filename() else payload.decode()
        fields.setdefault(str(name), []).append(value)
    return fields


def elevenlabs_body(call_id: str) -> dict[str, Any]:
    """ElevenLabs' speech-to-text answer shape (words with spacing tokens and speaker ids)."""
    return {
        "language_code": "fra",
        "language_probability": 0.98,
        "text": "Bonjour madame. Oui bonjour.",
        "transcription_id": f"tr-{call_id}",
        "words": [
            {"text": "Bonjour", "start": 0.0, "end": 0.5, "type": "word", "speaker_id": "speaker_0", "logprob": -0.1},
            {"text": " ", "start": 0.5, "end": 0.6, "type": "spacing", "speaker_id": "speaker_0"},
            {"text": "madame.", "start": 0.6, "end": 1.0, "type": "word", "speaker_id": "speaker_0", "logprob": 0.0},
            {"text": " ", "start": 1.0, "end": 1.2, "type": "spacing", "speaker_id": "speaker_1"},
            {"text": "Oui", "start": 1.2, "end": 1.4, "type": "word", "speaker_id": "speaker_1"},
            {"text": "bonjour.", "start": 1.5, "end": 2.0, "type": "word", "speaker_id": "speaker_1"},
        ],
    }


def openai_body() -> dict[str, Any]:
    """OpenAI's `verbose_json` answer with word timestamps."""
    return {
        "task": "transcribe",
        "language": "french",
        "duration": 2.5,
        "text": " Bonjour madame.",
        "words": [{"word": "Bonjour", "start": 0.0, "end": 0.5}, {"word": "madame.", "start": 0.6, "end": 1.0}],
        "segments": [{"id": 0, "start": 0.0, "end": 1.0, "text": " Bonjour madame.", "avg_logprob": -0.2}],
    }


Handler = Callable[[httpx.Request], httpx.Response]


def elevenlabs_handler(seen: list[httpx.Request], *, audio: bytes = b"RIFFaudio") -> Handler:
    """Checks each request like the real endpoint would, then answers with a transcript."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":  # the recording download
            return httpx.Response(200, content=audio)
        seen.append(request)
        assert request.url.path == "/v1/speech-to-text"
        if request.headers.get("xi-api-key") != KEY:
            return httpx.Response(401, json={"detail": {"status": "invalid_api_key", "message": "Invalid API key"}})
        fields = multipart_fields(request)
        assert fields["model_id"] == ["scribe_v1"]
        assert fields["language_code"] == ["fr"]
        assert fields["diarize"] == ["true"]
        assert fields["timestamps_granularity"] == ["word"]
        assert ("file" in fields) != ("cloud_storage_url" in fields)
        return httpx.Response(200, json=elevenlabs_body("x"))

    return handle
