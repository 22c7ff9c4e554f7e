"""A sales day transcribed through the real asset, with the simulator's reference transcripts."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

import dagster as dg
import httpx
import redis
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from assets.fiches import fiche_details, sales_fiches
from assets.transcripts import transcripts
from callaudit.settings import load_settings
from domain.models import FicheTranscription, Recording, Transcript, TranscriptChunk
from orchestration.jobs import transcribe_fiches_job
from resources.database import sync_session_factory
from resources.redis import EventPublisher, RedisLock
from resources.redis.resource import RedisResource
from resources.stt.resource import SttResource
from runs.contract import TranscribeFiches
from services.transcription import FicheTranscriber
from tests.fixtures.crm_simulator import Simulator
from tests.fixtures.realtime_catalogue import catalogued

DAY = "2026-03-02"


def _stt(simulator: Simulator, **overrides: Any) -> SttResource:
    return SttResource(
        provider="reference",
        reference_base_url=simulator.base_url,
        concurrency=4,
        backoff_base_seconds=0.01,
        backoff_max_seconds=0.05,
        max_attempts=2,
        **overrides,
    )


def _ingest(resources: dict[str, Any]) -> None:
    result = dg.materialize([sales_fiches, fiche_details], partition_key=DAY, resources=resources)
    assert result.success


def _transcribe(resources: dict[str, Any]) -> dict[str, Any]:
    result = dg.materialize([transcripts], partition_key=DAY, resources=resources)
    assert result.success
    [event] = result.asset_materializations_for_node("transcripts")
    return {k: v.value for k, v in event.metadata.items()}


def _chunk_ids(engine: Engine) -> dict[str, tuple[int, str, float]]:
    with Session(engine) as session:
        rows = session.execute(
            select(TranscriptChunk.chunk_id, TranscriptChunk.id, TranscriptChunk.text, TranscriptChunk.start_seconds)
        )
        return {chunk: (row_id, text, start) for chunk, row_id, text, start in rows}


def test_a_day_is_transcribed_once(
    crm_resources: dict[str, Any], simulator: Simulator, sync_engine: Engine, redis_client: redis.Redis
) -> None:
    _ingest(crm_resources)
    resources = {**crm_resources, "stt": _stt(simulator)}
    first = _transcribe(resources)
    with Session(sync_engine) as session:
        recordings = len(session.scalars(select(Recording.id)).all())
        statuses = set(session.scalars(select(FicheTranscription.status)))
        transcript = session.scalars(select(Transcript)).first()
        assert transcript is not None
        assert transcript.provider == "reference"
        assert transcript.cost_unit == "audio_seconds"
        assert transcript.words
        assert {"text", "start", "end", "speaker"} <= set(transcript.words[0])
    assert recordings
    assert first["recordings_transcribed"] == recordings
    assert (first["recordings_failed"], first["provider"]) == (0, "reference")
    assert first["audio_minutes"] > 0
    assert statuses == {"complete"}
    before = _chunk_ids(sync_engine)
    assert before
    assert all(":" in chunk for chunk in before)

    second = _transcribe(resources)
    assert (second["recordings_transcribed"], second["recordings_skipped"]) == (0, recordings)
    # The run did nothing, the day is complete: the figures say both.
    assert second["day_fiches_complete"] == second["day_fiches"] == first["day_fiches_complete"] > 0
    assert second["day_fiches_not_transcribed_yet"] == 0
    assert _chunk_ids(sync_engine) == before  # nothing rewritten

    fiche_id = transcript.fiche_id
    published = catalogued(redis_client, f"fiche:{fiche_id}")
    events = [event for event, _ in published]
    assert events[:2] == ["transcription.started", "transcription.status_check"]
    assert {"transcription.recording_started", "transcription.recording_completed"} <= set(events)
    assert events[-1] == "transcription.completed"  # also when already complete (bug 26)
    assert events.count("transcription.completed") == 2
    [last_progress, *_] = [p for e, p in reversed(published) if e == "transcription.progress"]
    assert (last_progress["pending"], last_progress["progress_percentage"]) == (0, 100)


def test_a_failing_recording_leaves_its_fiche_partial_and_ids_stay_stable(
    crm_resources: dict[str, Any], simulator: Simulator, sync_engine: Engine, database_url: str, redis_url: str
) -> None:
    _ingest(crm_resources)
    with Session(sync_engine) as session:
        fiche_id, calls = next(
            (fid, [r.call_id for r in recs])
            for fid in session.scalars(select(Recording.fiche_id).distinct().order_by(Recording.fiche_id))
            if len(recs := session.scalars(select(Recording).where(Recording.fiche_id == fid)).all()) >= 2
        )
    broken = calls[-1]
    real = httpx.AsyncHTTPTransport()

    async def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith(f"/{broken}"):
            return httpx.Response(500, json={"detail": "boom"})
        return await real.handle_async_request(request)

    async def run(stand_in: httpx.AsyncBaseTransport) -> Any:
        redis_async = RedisResource(url=redis_url).async_client()
        try:
            async with _stt(simulator).client(redis_async, transport=stand_in) as client:
                sessions = sync_session_factory(sync_engine)
                transcriber = FicheTranscriber(
                    client,
                    sessions,
                    EventPublisher(redis_async),
                    claims=partial(RedisLock, redis_async),
                    max_recordings=50,
                )
                return await transcriber.transcribe_fiche(fiche_id)
        finally:
            await redis_async.aclose()

    report = asyncio.run(run(httpx.MockTransport(handle)))
    assert report.status == "partial"
    assert broken in (report.reason or "")
    assert "HTTP 500" in (report.reason or "")
    with Session(sync_engine) as session:
        status = session.get(FicheTranscription, fiche_id)
        assert status is not None
        assert (status.status, status.recordings_failed) == ("partial", 1)
        failed = session.scalar(select(Transcript).where(Transcript.call_id == broken))
        assert failed is not None
        assert failed.status == "failed"
        assert "HTTP 500" in (failed.error or "")
    before = _chunk_ids(sync_engine)
    assert before
    assert not any(chunk.startswith(f"{broken}:") for chunk in before)

    # The broken recording is transcribed later: earlier chunks (ids, rows, text) do not move.
    report = asyncio.run(run(httpx.AsyncHTTPTransport()))
    assert report.status == "complete"
    assert [o.call_id for o in report.recordings] == [broken]
    after = _chunk_ids(sync_engine)
    assert {k: after[k] for k in before} == before
    assert any(chunk.startswith(f"{broken}:") for chunk in after)


def test_fiches_with_too_many_recordings_are_skipped(
    crm_resources: dict[str, Any], simulator: Simulator, sync_engine: Engine
) -> None:
    _ingest(crm_resources)
    metadata = _transcribe({**crm_resources, "stt": _stt(simulator, max_recordings_per_fiche=1)})
    with Session(sync_engine) as session:
        skipped = session.scalars(select(FicheTranscription).where(FicheTranscription.status == "skipped")).all()
        assert skipped
        assert all((s.reason or "").startswith("too_many_recordings") for s in skipped)
    assert metadata["fiches_skipped"] == len(skipped)


def test_the_automation_maximum_has_no_hard_cap_and_an_api_launch_transcribes_long_fiches(
    crm_resources: dict[str, Any], simulator: Simulator, sync_engine: Engine, redis_client: redis.Redis
) -> None:
    assert load_settings(automation_max_recordings_per_fiche=500).automation_max_recordings_per_fiche == 500
    _ingest(crm_resources)
    stt = _stt(simulator, automation_max_recordings_per_fiche=1)
    _transcribe({**crm_resources, "stt": stt})  # automated: fiches over 1 recording are skipped
    with Session(sync_engine) as session:
        query = select(FicheTranscription.fiche_id).where(FicheTranscription.status == "skipped")
        skipped = list(session.scalars(query))
    assert skipped
    # What `POST /api/transcriptions/batch` launches: no automation maximum applies.
    config = {"fiche_ids": skipped, "priority": "normal"}
    result = transcribe_fiches_job.execute_in_process(
        run_config=TranscribeFiches.model_validate(config).run_config(),
        resources={**crm_resources, "stt": stt},
        tags={"app/user": "7"},  # as the API's launch tags it
    )
    assert result.success
    with Session(sync_engine) as session:
        statuses = set(
            session.scalars(select(FicheTranscription.status).where(FicheTranscription.fiche_id.in_(skipped)))
        )
    assert statuses == {"complete"}
    # Whoever asked hears of it on their own topic, once.
    [(event, notice)] = catalogued(redis_client, "user:7")
    assert (event, notice["type"], notice["message"], notice["batch_id"]) == (
        "notification",
        "success",
        "Transcription terminée",
        result.run_id,
    )
    assert notice["description"] == f"{len(skipped)} fiche(s) transcrite(s) sur {len(skipped)}, 0 en échec."
