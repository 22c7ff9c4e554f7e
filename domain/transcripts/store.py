"""Reading what a fiche needs transcribed and writing transcripts, chunks and fiche status."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from domain.models.crm import FicheInformation
from domain.models.fiches import Fiche, Recording
from domain.models.transcripts import (
    FicheTranscription,
    FicheTranscriptionStatus,
    Transcript,
    TranscriptChunk,
    TranscriptStatus,
)
from domain.transcripts.chunking import Chunk, Word
from domain.transcripts.roles import RoleAssignment, direction_of, infer_roles

COST_UNIT = "audio_seconds"


def audio_key(url: str) -> str:
    """Which audio a URL designates: its scheme, host and path, hashed. A re-signed URL (new query)
    keeps its key; another file gets another one."""
    parts = urlsplit(url.strip())
    return hashlib.sha256(f"{parts.scheme}://{parts.netloc}{parts.path}".encode()).hexdigest()


@dataclass(frozen=True)
class RecordingRef:
    id: int
    call_id: str
    url: str
    duration_seconds: int | None
    status: str | None  # of its transcript, None when never attempted
    audio_key: str | None  # of its transcript
    transcribed_at: dt.datetime | None = None  # of its transcript

    def needs_transcription(self, *, force: bool) -> bool:
        return (
            force
            or self.status != TranscriptStatus.COMPLETED
            or (bool(self.url) and self.audio_key != audio_key(self.url))
        )


@dataclass(frozen=True)
class TranscriptWrite:
    provider: str
    model: str
    text: str
    words: list[Word]
    chunks: list[Chunk]
    language: str | None
    language_probability: float | None
    duration_seconds: float | None
    provider_transcript_id: str | None
    attempts: int


def load_recordings(session: Session, fiche_id: str) -> list[RecordingRef] | None:
    """The fiche's recordings (oldest first) with their transcript state; None for an unknown fiche."""
    if session.scalar(select(Fiche.id).where(Fiche.fiche_id == fiche_id)) is None:
        return None
    rows = session.execute(
        select(Recording, Transcript.status, Transcript.audio_key, Transcript.transcribed_at)
        .outerjoin(Transcript, Transcript.recording_id == Recording.id)
        .where(Recording.fiche_id == fiche_id)
        .order_by(Recording.start_time.nulls_last(), Recording.call_id)
    )
    return [
        RecordingRef(r.id, r.call_id, r.recording_url, r.duration_seconds, status, key, at)
        for r, status, key, at in rows
    ]


def _transcript_for(session: Session, fiche_id: str, recording: RecordingRef) -> Transcript:
    """The recording's transcript row, locked; created first when missing. Two writers racing to
    create it (runs whose claims lapsed) both end up updating the one row, never a unique violation."""
    session.execute(
        insert(Transcript)
        .values(
            recording_id=recording.id,
            fiche_id=fiche_id,
            call_id=recording.call_id,
            status=TranscriptStatus.FAILED,
            provider="",
            audio_key="",
        )
        .on_conflict_do_nothing(index_elements=[Transcript.recording_id])
    )
    return session.scalars(
        select(Transcript)
        .where(Transcript.recording_id == recording.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def advisor_name(session: Session, fiche_id: str) -> str | None:
    """The CRM's advisor on the fiche (its attributed user), a cue for which speaker is the agent."""
    return session.scalar(select(FicheInformation.attribution_user_nom).where(FicheInformation.fiche_id == fiche_id))


def speaker_roles(
    session: Session, fiche_id: str, recording_id: int, chunks: Sequence[Chunk], firm_names: Sequence[str] = ()
) -> RoleAssignment:
    """Who is the agent and who the client among a recording's speakers, from the chunks' words and
    what the CRM knows: the fiche's advisor and the call's direction."""
    direction = session.scalar(select(Recording.direction).where(Recording.id == recording_id))
    return infer_roles(
        [(c.speaker, c.text) for c in chunks],
        advisor_name=advisor_name(session, fiche_id),
        firm_names=firm_names,
        direction=direction_of(direction),
    )


def store_transcript(
    session: Session,
    fiche_id: str,
    recording: RecordingRef,
    write: TranscriptWrite,
    now: dt.datetime,
    *,
    firm_names: Sequence[str] = (),
) -> Transcript:
    """Record a completed transcript, its speakers' roles, and replace its chunks, in the caller's
    transaction. `firm_names`: the brokerage's names, a cue for the agent (TRANSCRIPTION_FIRM_NAMES)."""
    roles = speaker_roles(session, fiche_id, recording.id, write.chunks, firm_names)
    transcript = _transcript_for(session, fiche_id, recording)
    transcript.status = TranscriptStatus.COMPLETED
    transcript.error = None
    transcript.attempts = write.attempts
    transcript.provider = write.provider
    transcript.model = write.model
    transcript.provider_transcript_id = write.provider_transcript_id
    transcript.audio_key = audio_key(recording.url)
    transcript.language = write.language
    transcript.language_probability = write.language_probability
    transcript.text = write.text
    transcript.words = [w.as_json() for w in write.words]
    transcript.duration_seconds = write.duration_seconds
    transcript.cost_units = write.duration_seconds
    transcript.cost_unit = COST_UNIT
    transcript.transcribed_at = now
    transcript.speaker_roles = roles.as_json()
    session.flush()
    session.execute(delete(TranscriptChunk).where(TranscriptChunk.transcript_id == transcript.id))
    session.add_all(
        TranscriptChunk(
            transcript_id=transcript.id,
            fiche_id=fiche_id,
            chunk_id=c.chunk_id,
            turn_index=c.turn_index,
            speaker=c.speaker,
            start_seconds=c.start,
            end_seconds=c.end,
            text=c.text,
            word_count=c.word_count,
            role=roles.role_of(c.speaker),
        )
        for c in write.chunks
    )
    return transcript


def store_analyses(session: Session, fiche_id: str, analyses: Mapping[str, dict[str, Any]]) -> int:
    """Store chunks' language analyses (`chunk_id`: JSON, `domain.language.analysis`) made by an audit,
    so later audits of the fiche read them instead of parsing; returns how many chunks were updated."""
    if not analyses:
        return 0
    chunks = session.scalars(
        select(TranscriptChunk).where(TranscriptChunk.fiche_id == fiche_id, TranscriptChunk.chunk_id.in_(analyses))
    ).all()
    for chunk in chunks:
        chunk.analysis = analyses[chunk.chunk_id]
    return len(chunks)


def store_failure(
    session: Session, fiche_id: str, recording: RecordingRef, *, provider: str, error: str, attempts: int
) -> None:
    """Record a failed attempt on the recording; a previous transcript's text and chunks are kept."""
    transcript = _transcript_for(session, fiche_id, recording)
    transcript.status = TranscriptStatus.FAILED
    transcript.error = error
    transcript.attempts = attempts
    transcript.provider = provider
    transcript.audio_key = audio_key(recording.url)


@dataclass(frozen=True)
class Coverage:
    total: int
    transcribed: int
    failed: int


def coverage(session: Session, fiche_id: str) -> Coverage:
    total = session.scalar(select(func.count()).select_from(Recording).where(Recording.fiche_id == fiche_id)) or 0
    counts = dict(
        session.execute(
            select(Transcript.status, func.count())
            .join(Recording, Recording.id == Transcript.recording_id)
            .where(Recording.fiche_id == fiche_id)
            .group_by(Transcript.status)
        ).all()
    )
    return Coverage(
        int(total), int(counts.get(TranscriptStatus.COMPLETED, 0)), int(counts.get(TranscriptStatus.FAILED, 0))
    )


def record_queued(session: Session, fiche_ids: list[str], *, run_id: str, priority: str, now: dt.datetime) -> None:
    """Mark the fiches `queued` for the run just launched, so their status names it at once; the
    run's own writes (running, then its outcome) replace this. Counts stay those last computed."""
    values = {
        "status": FicheTranscriptionStatus.QUEUED,
        "reason": None,
        "priority": priority,
        "run_id": run_id,
        "started_at": None,
        "finished_at": None,
        "updated_at": now,
    }
    statement = insert(FicheTranscription).values([{"fiche_id": fiche_id, **values} for fiche_id in fiche_ids])
    session.execute(statement.on_conflict_do_update(index_elements=[FicheTranscription.fiche_id], set_=values))


def set_fiche_status(
    session: Session,
    fiche_id: str,
    status: str,
    *,
    reason: str | None,
    counts: Coverage,
    priority: str,
    run_id: str | None,
    now: dt.datetime,
    finished: bool,
) -> None:
    values = {
        "status": status,
        "reason": reason,
        "recordings_total": counts.total,
        "recordings_transcribed": counts.transcribed,
        "recordings_failed": counts.failed,
        "priority": priority,
        "run_id": run_id,
        "finished_at": now if finished else None,
        "updated_at": now,
    }
    if not finished:
        values["started_at"] = now
    statement = insert(FicheTranscription).values(fiche_id=fiche_id, **values)
    session.execute(statement.on_conflict_do_update(index_elements=[FicheTranscription.fiche_id], set_=values))
