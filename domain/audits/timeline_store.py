"""Building a fiche's `Timeline` from the stored transcripts (the one implementation; the original had five)."""

from __future__ import annotations

import dataclasses

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from domain.audits.timeline import Timeline, TimelineChunk, TimelineRecording, recording_chunks
from domain.models.fiches import Recording
from domain.models.transcripts import Transcript, TranscriptStatus
from domain.transcripts.chunking import Chunk, Word
from domain.transcripts.roles import RoleAssignment, as_role, direction_of, infer_roles
from domain.transcripts.store import advisor_name


def _words(transcript: Transcript) -> list[Word]:
    return [
        Word(str(w.get("text", "")), float(w.get("start", 0.0)), float(w.get("end", 0.0)))
        for w in transcript.words or []
    ]


def _chunks(transcript: Transcript) -> list[Chunk]:
    return [
        Chunk(transcript.call_id, c.turn_index, c.speaker, c.start_seconds, c.end_seconds, c.text, c.word_count)
        for c in transcript.chunks
    ]


def _roles(
    transcript: Transcript, recording: Recording, chunks: tuple[TimelineChunk, ...], advisor: str | None
) -> tuple[tuple[TimelineChunk, ...], float]:
    """The chunks with their speakers' roles as stored, or inferred now for a transcript stored
    before roles existed (without the firm's names, which only the transcription run has)."""
    if transcript.speaker_roles is not None:
        assignment = RoleAssignment.from_json(transcript.speaker_roles)
        stored = {c.turn_index: as_role(c.role) for c in transcript.chunks if c.role is not None}
    else:
        assignment = infer_roles(
            [(c.speaker, c.text) for c in chunks], advisor_name=advisor, direction=direction_of(recording.direction)
        )
        stored = {}
    with_roles = tuple(
        dataclasses.replace(c, role=stored.get(c.chunk_index) or assignment.role_of(c.speaker)) for c in chunks
    )
    return with_roles, assignment.confidence


def load_timeline(session: Session, fiche_id: str) -> Timeline:
    """The fiche's transcribed recordings in call order, with chunks, word timings and speaker roles.

    Recordings without a completed transcript are left out; `recording_index` is dense over the
    kept ones (what prompts number), while citations keep the stable `chunk_id`.
    """
    rows = session.execute(
        select(Recording, Transcript)
        .join(Transcript, Transcript.recording_id == Recording.id)
        .where(Recording.fiche_id == fiche_id, Transcript.status == TranscriptStatus.COMPLETED)
        .options(selectinload(Transcript.chunks))
        .order_by(Recording.start_time.nulls_last(), Recording.call_id)
    ).all()
    recordings: list[TimelineRecording] = []
    advisor = advisor_name(session, fiche_id) if any(t.speaker_roles is None for _, t in rows) else None
    for recording, transcript in rows:
        if not transcript.chunks:
            continue
        index = len(recordings)
        chunks, confidence = _roles(
            transcript, recording, recording_chunks(index, _chunks(transcript), _words(transcript)), advisor
        )
        analyses = {c.turn_index: c.analysis for c in transcript.chunks}
        chunks = tuple(dataclasses.replace(c, analysis=analyses.get(c.chunk_index)) for c in chunks)
        recordings.append(
            TimelineRecording(
                recording_index=index,
                call_id=recording.call_id,
                recording_url=recording.recording_url,
                recording_date=recording.recording_date.strftime("%d/%m/%Y") if recording.recording_date else None,
                recording_time=recording.recording_time,
                start_time=recording.start_time.isoformat() if recording.start_time else None,
                from_number=recording.from_number,
                to_number=recording.to_number,
                duration_seconds=float(recording.duration_seconds)
                if recording.duration_seconds is not None
                else transcript.duration_seconds,
                chunks=chunks,
                role_confidence=confidence,
            )
        )
    return Timeline(fiche_id=fiche_id, recordings=tuple(recordings))
