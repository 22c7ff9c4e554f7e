"""What the transcription routes do: one Dagster run per request, coverage and transcripts from the DB.

Transcription itself always runs in Dagster (`transcribe_fiches_job`, pool `stt`), never in the API
process: a request queues one run for its fiches (`runs.launch`), tagged with `dagster/priority` so
the QueuedRunCoordinator really serves `high` before `normal` and `low`. No deduplication: asking
again launches again, and the job skips recordings already transcribed (the original dropped a
second batch of the same day, §13.4 #28).

A launch is recorded at once (the fiches are `queued` with the run's id before the 202), and a
queued or running status is checked against Dagster's word on the run, so a run that failed or was
canceled before reaching a fiche does not leave it "queued" forever.
"""

from __future__ import annotations

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import NotFound
from api.runs import origin
from api.security import Grant
from api.transcriptions.schemas import (
    ChunkOut,
    RecordingCoverage,
    RecordingTranscriptOut,
    SpeakerRolesOut,
    TranscriptionStatusOut,
    WordOut,
)
from domain.models import FicheTranscription, Recording, Transcript, TranscriptChunk
from domain.models.transcripts import FicheTranscriptionStatus, TranscriptStatus
from domain.transcripts.chunking import Chunk
from domain.transcripts.roles import RoleAssignment, as_role
from domain.transcripts.store import speaker_roles
from runs.contract import Priority, TranscribeFiches
from runs.launch import launch_transcription
from runs.launcher import RunLauncher

#: Dagster run statuses after which a run will never reach the fiches it was launched for.
RUN_ENDED = {"FAILURE", "CANCELED", "CANCELING"}


async def launch(  # noqa: PLR0917 - what a launch records
    session: AsyncSession,
    launcher: RunLauncher,
    fiche_ids: list[str],
    priority: Priority,
    grant: Grant,
    http_request: Request,
) -> str:
    """Queue one `transcribe_fiches_job` run for `fiche_ids` and mark them queued; its run id
    (`LaunchFailed`, a 503, when Dagster refused). A retried request (same `Idempotency-Key`, or the
    same launch still in flight) gets the same run."""
    request = TranscribeFiches(fiche_ids=fiche_ids, priority=priority)
    return await launch_transcription(session, launcher, request, origin(grant, http_request, source="api"))


async def _derived(
    state: FicheTranscription | None, launcher: RunLauncher
) -> tuple[str | None, str | None, str | None]:
    """(status, reason, Dagster's run status): a queued or running fiche whose run has ended
    without finishing it is reported failed, with the run's status as the reason."""
    if state is None:
        return None, None, None
    if state.status not in (FicheTranscriptionStatus.QUEUED, FicheTranscriptionStatus.RUNNING) or not state.run_id:
        return state.status, state.reason, None
    run_status = await launcher.run_status(state.run_id)
    if run_status in RUN_ENDED:
        return FicheTranscriptionStatus.FAILED, f"run {state.run_id} ended ({run_status}) before finishing", run_status
    return state.status, state.reason, run_status


async def coverage(session: AsyncSession, fiche_id: str, launcher: RunLauncher) -> TranscriptionStatusOut:
    rows = (
        await session.execute(
            select(Recording, Transcript)
            .outerjoin(Transcript, Transcript.recording_id == Recording.id)
            .where(Recording.fiche_id == fiche_id)
            .order_by(Recording.start_time.asc().nulls_last(), Recording.call_id)
        )
    ).all()
    recordings = [
        RecordingCoverage(
            call_id=recording.call_id,
            has_transcription=transcript is not None and transcript.status == TranscriptStatus.COMPLETED,
            status=TranscriptStatus(transcript.status) if transcript else None,
            error=transcript.error if transcript else None,
            transcribed_at=transcript.transcribed_at if transcript else None,
            recording_date=recording.recording_date,
            recording_time=recording.recording_time,
            duration_seconds=recording.duration_seconds,
            provider=transcript.provider if transcript else None,
            model=transcript.model if transcript else None,
        )
        for recording, transcript in rows
    ]
    total = len(recordings)
    transcribed = sum(r.has_transcription for r in recordings)
    failed = sum(r.status == TranscriptStatus.FAILED for r in recordings)
    state = await session.get(FicheTranscription, fiche_id, populate_existing=True)
    status, reason, run_status = await _derived(state, launcher)
    return TranscriptionStatusOut(
        fiche_id=fiche_id,
        total=total,
        transcribed=transcribed,
        pending=total - transcribed - failed,
        failed=failed,
        percentage=round(100.0 * transcribed / total, 1) if total else 0.0,
        status=FicheTranscriptionStatus(status) if status else None,
        reason=reason,
        run_status=run_status,
        priority=state.priority if state else None,
        run_id=state.run_id if state else None,
        recordings=recordings,
    )


async def recording_transcript(session: AsyncSession, fiche_id: str, call_id: str) -> RecordingTranscriptOut:
    transcript = (
        await session.scalars(
            select(Transcript)
            .join(Recording, Recording.id == Transcript.recording_id)
            .where(Recording.fiche_id == fiche_id, Recording.call_id == call_id)
        )
    ).first()
    if transcript is None:
        raise NotFound("No transcript for this recording")
    chunks = (
        await session.scalars(
            select(TranscriptChunk)
            .where(TranscriptChunk.transcript_id == transcript.id)
            .order_by(TranscriptChunk.turn_index)
        )
    ).all()
    if transcript.speaker_roles is not None:
        roles = RoleAssignment.from_json(transcript.speaker_roles)
    else:
        turns = [
            Chunk(call_id, c.turn_index, c.speaker, c.start_seconds, c.end_seconds, c.text, c.word_count)
            for c in chunks
        ]
        recording_id = transcript.recording_id
        roles = await session.run_sync(lambda s: speaker_roles(s, fiche_id, recording_id, turns))
    return RecordingTranscriptOut(
        fiche_id=fiche_id,
        call_id=call_id,
        status=TranscriptStatus(transcript.status),
        error=transcript.error,
        provider=transcript.provider,
        model=transcript.model,
        language=transcript.language,
        language_probability=transcript.language_probability,
        duration_seconds=transcript.duration_seconds,
        transcribed_at=transcript.transcribed_at,
        text=transcript.text,
        words=[WordOut.model_validate(w) for w in transcript.words or []],
        chunks=[
            ChunkOut(
                chunk_id=c.chunk_id,
                turn_index=c.turn_index,
                speaker=c.speaker,
                start=c.start_seconds,
                end=c.end_seconds,
                text=c.text,
                word_count=c.word_count,
                role=as_role(c.role) if c.role is not None else roles.role_of(c.speaker),
            )
            for c in chunks
        ],
        speaker_roles=SpeakerRolesOut(roles=dict(roles.roles), confidence=roles.confidence, cues=list(roles.cues)),
    )
