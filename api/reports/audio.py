"""Relaying a recording's audio from the CRM to the browser, with byte ranges.

The browser never sees the CRM's URL: it asks the API, which fetches the stored URL through the
SSRF-guarded `EgressClient` (the CRM's origin and `WEBHOOK_ALLOWED_ORIGINS` allowed, any other host
only at public addresses checked when connecting; no redirects followed, no proxy from the
environment) and relays the bytes, forwarding one `Range` so seeking to a cited second downloads
only what is played. A CRM that ignores ranges (answers 200) gets them served here from the file
it sent, within a size cap.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Annotated, Protocol
from urllib.parse import quote, urlsplit

import httpx
from fastapi import Depends, Response
from fastapi.responses import StreamingResponse

from api.deps import StateDep
from api.errors import ExternalServiceError, NotFound
from callaudit.settings import Settings
from domain.reports.ranges import UnsatisfiableRange, is_single_range, parse_range
from resources.egress import EgressClient, EgressPolicy, EgressRefused

GONE = "Recording no longer served by the CRM"
MAX_UNRANGED_BYTES = 200 * 1024 * 1024
_RELAYED = ("Content-Length", "Content-Range", "Last-Modified", "ETag")


def audio_path(fiche_id: str, call_id: str) -> str:
    """Where the browser fetches a recording: this API's relay, never the CRM."""
    return f"/api/recordings/{quote(fiche_id, safe='')}/{quote(call_id, safe='')}/audio"


def _media_type(upstream: httpx.Response) -> str:
    kind = upstream.headers.get("Content-Type", "").split(";")[0].strip().lower()
    # Only audio leaves this route: a CRM error page served as 200 is never rendered by the browser.
    return kind if kind.startswith("audio/") else "application/octet-stream"


class RecordingSource(Protocol):
    """Where recordings are fetched from: `EgressClient` (tests may relay an in-process CRM)."""

    async def send_streamed(
        self, method: str, url: str, *, headers: Mapping[str, str] | None = None
    ) -> httpx.Response: ...


def recordings_policy(settings: Settings) -> EgressPolicy:
    """The CRM's own origin is configured by the operator, so trusted even on a private network;
    any other host must resolve to public addresses (or be in `WEBHOOK_ALLOWED_ORIGINS`)."""
    return EgressPolicy.build(
        [settings.crm_base_url, *settings.webhook_allowed_origins], allow_loopback=settings.egress_allow_loopback
    )


def get_recording_source(state: StateDep) -> RecordingSource:
    """One guarded client per process, built on first use, closed at shutdown."""
    source = state.recordings_egress
    if source is None:
        source = state.recordings_egress = EgressClient(
            recordings_policy(state.settings), timeout=30.0, user_agent="callaudit-recordings/1.0"
        )
        state.cleanups.append(source.aclose)
    return source


RecordingSourceDep = Annotated[RecordingSource, Depends(get_recording_source)]


async def relay_recording(source: RecordingSource, url: str, range_header: str | None, head: bool = False) -> Response:
    if not url or urlsplit(url).scheme not in ("http", "https"):
        raise NotFound(GONE)
    headers = {"Range": range_header.strip()} if range_header and is_single_range(range_header) else {}
    try:
        upstream = await source.send_streamed("GET", url, headers=headers)
    except EgressRefused:
        raise NotFound(GONE) from None
    except httpx.HTTPError:
        raise ExternalServiceError("The CRM did not serve the recording") from None
    if upstream.status_code in (200, 206):
        if upstream.status_code == 200 and headers:
            return await _ranged_here(upstream, headers["Range"], head)
        return _stream(upstream, head)
    await upstream.aclose()
    if upstream.status_code == 416:
        return Response(status_code=416, headers={"Content-Range": upstream.headers.get("Content-Range", "")})
    if upstream.status_code >= 500 or upstream.status_code == 429:
        raise ExternalServiceError("The CRM did not serve the recording")
    raise NotFound(GONE)


def _stream(upstream: httpx.Response, head: bool) -> Response:
    headers = {k: upstream.headers[k] for k in _RELAYED if k in upstream.headers}
    headers["Accept-Ranges"] = "bytes"
    headers["Cache-Control"] = "private, max-age=300"

    async def body() -> AsyncIterator[bytes]:
        try:
            if not head:
                async for chunk in upstream.aiter_bytes():
                    yield chunk
        finally:
            await upstream.aclose()

    return StreamingResponse(
        body(), status_code=upstream.status_code, headers=headers, media_type=_media_type(upstream)
    )


async def _ranged_here(upstream: httpx.Response, range_header: str, head: bool) -> Response:
    try:
        chunks, size = [], 0
        async for chunk in upstream.aiter_bytes():
            size += len(chunk)
            if size > MAX_UNRANGED_BYTES:
                raise ExternalServiceError("The recording is too large to serve")
            chunks.append(chunk)
    finally:
        await upstream.aclose()
    data = b"".join(chunks)
    media = _media_type(upstream)
    try:
        wanted = parse_range(range_header, len(data))
    except UnsatisfiableRange:
        return Response(status_code=416, headers={"Content-Range": f"bytes */{len(data)}"})
    if wanted is None:
        return Response(b"" if head else data, media_type=media, headers={"Accept-Ranges": "bytes"})
    first, last = wanted
    return Response(
        b"" if head else data[first : last + 1],
        status_code=206,
        media_type=media,
        headers={"Accept-Ranges": "bytes", "Content-Range": f"bytes {first}-{last}/{len(data)}"},
    )
