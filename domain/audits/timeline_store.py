"""Building a fiche's `Timeline` from the stored transcripts (the one implementation; the original had five)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from domain.audits.timeline import Timeline, TimelineRecording, recording_chunks
from domain.models.fiches import Recording
from domain.models.transcripts import Transcript, TranscriptStatus
from domain.transcripts.chunking import Chunk, Word


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


def load_timeline(session: Session, fiche_id: str) -> Timeline:
    """The fiche's transcribed recordings in call order, with chunks and word timings.

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
    for recording, transcript in rows:
        if not transcript.chunks:
            continue
        index = len(recordings)
        chunks = recording_chunks(index, _chunks(transcript), _words(transcript))
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
            )
        )
    return Timeline(fiche_id=fiche_id, recordings=tuple(recordings))
