"""Benchmark: one sales day of recordings through the real `transcripts` asset, against a slow provider.

Sets up embedded Postgres and Redis in a temporary directory, stores one day of fiches with
details and `--recordings` recordings (3 per fiche), and runs a local ElevenLabs stand-in in its own
process (like a remote provider, it takes no CPU from the run) that answers
`POST /v1/speech-to-text` after `--latency` seconds with the provider's answer shape, checking the
multipart fields, and serves the recordings' audio. Then materializes `transcripts` for the day
with the production code path: ElevenLabs provider, audio downloaded and uploaded, the Redis
semaphore `stt`, `--limit` calls at once. The provider-wide request rate is raised out of the way
(it bounds by design: 10 a minute would make the bound 30 minutes).

The bound is what a perfect client would take under the cap: recordings x latency / limit. The
report ends with one `key=value` line; `ratio` = wall / bound (target <= 1.15).

    .venv/bin/python benchmarks/transcribe.py                                # 300 recordings, 2 s, limit 10 (~1 min)
    .venv/bin/python benchmarks/transcribe.py --recordings 30 --latency 0.5  # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import uvicorn
from _embedded import migrated_servers
from sqlalchemy import insert
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from assets.transcripts import transcripts
from callaudit.settings import get_settings
from domain.models import Fiche, Recording
from domain.models.fiches import FicheFetchStatus
from resources.database import DatabaseResource, create_sync_engine
from resources.redis.resource import RedisResource
from resources.stt.resource import SttResource

DAY = "2026-02-02"
PER_FICHE = 3
KEY = "bench-key-0123456789"
AUDIO = b"RIFF" + bytes(4096)
EXPECTED_FIELDS = {"model_id": "scribe_v1", "language_code": "fr", "diarize": "true", "timestamps_granularity": "word"}


@dataclass
class StandIn:
    """What the stand-in saw: provider calls, their peak concurrency, and requests it refused."""

    latency: float
    audio: bytes | None = AUDIO  # what every upload must carry; None: any audio (a simulator's recordings)
    calls: int = 0
    in_flight: int = 0
    peak: int = 0
    refused: list[str] = field(default_factory=list)
    storm: Any = None  # a `tests.deploy.drills.storm.Storm`: 429s and hangs drawn per request

    def check(self, request_body: bytes, content_type: str, api_key: str | None) -> str | None:
        if api_key != KEY:
            return "missing or wrong xi-api-key"
        if not content_type.startswith("multipart/form-data; boundary="):
            return f"not multipart: {content_type}"
        fields = _form_fields(request_body, content_type.partition("boundary=")[2].strip('"'))
        for name, value in EXPECTED_FIELDS.items():
            if fields.get(name) != value.encode():
                return f"field {name} is not {value!r}"
        uploaded = fields.get("file")
        return None if uploaded and (self.audio is None or uploaded == self.audio) else "the audio was not uploaded"

    def app(self) -> Starlette:
        async def speech_to_text(request: Request) -> Response:
            problem = self.check(
                await request.body(), request.headers["content-type"], request.headers.get("xi-api-key")
            )
            if problem:
                self.refused.append(problem)
                return JSONResponse({"detail": {"status": "invalid_request", "message": problem}}, status_code=400)
            fate = self.storm.draw() if self.storm else "ok"
            if fate == "rate_limited":
                busy = {"detail": {"status": "too_many_concurrent_requests", "message": "Too many requests"}}
                return JSONResponse(busy, status_code=429, headers={"Retry-After": str(self.storm.retry_after)})
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            try:
                if fate == "timeout":  # working on it until the client gives up
                    while not await request.is_disconnected():  # noqa: ASYNC110 - no disconnect event to await
                        await asyncio.sleep(0.05)
                    return Response(status_code=504)
                self.calls += 1
                await asyncio.sleep(self.latency)
            finally:
                self.in_flight -= 1
            return JSONResponse(_answer(self.calls))

        async def audio(request: Request) -> Response:
            return Response(AUDIO, media_type="audio/wav")

        async def stats(request: Request) -> Response:
            storm = self.storm.stats() if self.storm else {}
            return JSONResponse({"calls": self.calls, "peak": self.peak, "refused": self.refused, **storm})

        return Starlette(
            routes=[
                Route("/v1/speech-to-text", speech_to_text, methods=["POST"]),
                Route("/audio/{call_id}.wav", audio, methods=["GET"]),
                Route("/__stats", stats, methods=["GET"]),
            ]
        )


def _form_fields(body: bytes, boundary: str) -> dict[str, bytes]:
    """A multipart form's fields by name. Hand-rolled: the `email` parser costs ~9 ms a request, which
    a stand-in answering ten requests at once would add to every wave of the measurement."""
    fields = {}
    for part in body.split(b"--" + boundary.encode())[1:-1]:
        head, _, value = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        name = re.search(rb'name="([^"]*)"', head)
        if name:
            fields[name.group(1).decode()] = value.removesuffix(b"\r\n")
    return fields


def _answer(n: int) -> dict[str, object]:
    """ElevenLabs' answer shape: words with spacing tokens, two speakers."""
    words: list[dict[str, object]] = []
    for i, text in enumerate(
        ["Bonjour", "madame", "je", "vous", "appelle", "pour", "votre", "contrat", "oui", "bonjour"]
    ):
        start = i * 0.5
        speaker = "speaker_0" if i < 8 else "speaker_1"
        words.append({"text": text, "start": start, "end": start + 0.4, "type": "word", "speaker_id": speaker})
        words.append({"text": " ", "start": start + 0.4, "end": start + 0.5, "type": "spacing", "speaker_id": speaker})
    text = " ".join(str(w["text"]) for w in words if w["type"] == "word")
    return {"language_code": "fra", "language_probability": 0.99, "text": text, "words": words,
            "transcription_id": f"bench-{n}"}  # fmt: skip


def start_stand_in(
    latency: float, *, any_audio: bool = False, storm: tuple[float, float, int] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """The stand-in in its own process; `any_audio`: accept whatever audio is uploaded; `storm`: the
    shares of requests answered 429 and left hanging, and the `Retry-After` seconds of the 429s."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    command = [sys.executable, __file__, "--serve-stand-in", str(port), "--latency", str(latency)]
    command += ["--any-audio"] if any_audio else []
    command += ["--storm", *map(str, storm)] if storm else []
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90  # a loaded machine starts Python slowly
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/__stats", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the provider stand-in did not start")


def seed(database_url: str, base_url: str, recordings: int) -> None:
    """One sales day of fiches with details and their recordings, as the ingestion leaves them."""
    day = dt.date.fromisoformat(DAY)
    fiches = (recordings + PER_FICHE - 1) // PER_FICHE
    start = dt.datetime(2026, 2, 2, 9, tzinfo=dt.UTC)
    engine = create_sync_engine(database_url)
    with engine.begin() as connection:
        connection.execute(
            insert(Fiche),
            [{"fiche_id": f"B{i:05d}", "sales_date": day, "fetch_status": FicheFetchStatus.DETAILS,
              "recordings_count": min(PER_FICHE, recordings - i * PER_FICHE)} for i in range(fiches)],
        )  # fmt: skip
        connection.execute(
            insert(Recording),
            [{"fiche_id": f"B{n // PER_FICHE:05d}", "call_id": f"call-{n:05d}",
              "recording_url": f"{base_url}/audio/call-{n:05d}.wav", "duration_seconds": 6,
              "start_time": start + dt.timedelta(minutes=n)} for n in range(recordings)],
        )  # fmt: skip
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recordings", type=int, default=300)
    parser.add_argument("--latency", type=float, default=2.0, help="seconds per provider call")
    parser.add_argument("--limit", type=int, default=10, help="provider calls in flight at once")
    parser.add_argument("--serve-stand-in", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--any-audio", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--storm", nargs=3, type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_stand_in:
        server = StandIn(args.latency, None if args.any_audio else AUDIO)
        if args.storm:
            sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `tests` is not installed
            from tests.deploy.drills.storm import Storm

            rate_limited, timed_out, retry_after = args.storm
            server.storm = Storm(rate_limited, timed_out, int(retry_after))
        uvicorn.run(server.app(), port=args.serve_stand_in, log_config=None, access_log=False)
        return

    with migrated_servers("bench-transcribe-") as servers:
        stand_in, base_url = start_stand_in(args.latency)
        try:
            seed(servers.database_url, base_url, args.recordings)
            resources = {
                "stt": SttResource(
                    provider="elevenlabs",
                    elevenlabs_api_key=KEY,
                    elevenlabs_base_url=base_url,
                    concurrency=args.limit,
                    rate_limit_per_minute=1_000_000,
                    audio_allowed_origins=[base_url],  # the stand-in serves the audio, on loopback
                    audio_allow_loopback=True,
                ),
                "redis": RedisResource(url=servers.redis_url),
                "database": DatabaseResource(url=servers.database_url),
                "settings": get_settings(),
            }
            with dg.instance_for_test() as instance:
                started = time.perf_counter()
                result = dg.materialize([transcripts], partition_key=DAY, resources=resources, instance=instance)
                wall = time.perf_counter() - started
            stats = httpx.get(f"{base_url}/__stats", timeout=10).json()
        finally:
            stand_in.terminate()
            stand_in.wait(10)
        assert result.success

    [event] = result.asset_materializations_for_node("transcripts")
    report = {k: v.value for k, v in event.metadata.items()}
    bound = args.recordings * args.latency / args.limit
    ratio = wall / bound
    print(f"Transcription of one day: {args.recordings} recordings, {args.latency:g} s per call, limit {args.limit}")
    print(f"  transcribed {report['recordings_transcribed']}, failed {report['recordings_failed']}, "
          f"fiches complete {report['fiches_complete']} of {report['fiches']}")  # fmt: skip
    print(
        f"  provider calls {stats['calls']}, peak in flight {stats['peak']}, refused requests {len(stats['refused'])}"
    )
    if stats["refused"]:
        print(f"  first refusal: {json.dumps(stats['refused'][0])}")
    print(f"  wall {wall:.1f} s against a bound of {bound:.1f} s -> ratio {ratio:.3f} (target <= 1.15)")
    print(f"recordings={args.recordings} wall_s={wall:.1f} bound_s={bound:.1f} ratio={ratio:.3f}")


if __name__ == "__main__":
    main()
