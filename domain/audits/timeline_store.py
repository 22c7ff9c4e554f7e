"""Building a fiche's `Timeline` from the stored transcripts (the one implementation; the original had five)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from domain.audits.timeline import TimedWord, Timeline, TimelineChunk, TimelineRecording
from domain.models.fiches import Recording
from domain.models.transcripts import Transcript, TranscriptStatus
from domain.transcripts.chunking import Word, speech_words


def _chunk_words(transcript: Transcript) -> list[tuple[TimedWord, ...]]:
    """Each chunk's words: chunks cut `speech_words` in order, `word_count` words each (see chunking)."""
    words = speech_words(
        Word(str(w.get("text", "")), float(w.get("start", 0.0)), float(w.get("end", 0.0)))
        for w in transcript.words or []
    )
    out: list[tuple[TimedWord, ...]] = []
    cursor = 0
    for chunk in transcript.chunks:
        span = words[cursor : cursor + chunk.word_count]
        cursor += chunk.word_count
        out.append(tuple(TimedWord(w.text.strip(), w.start, w.end) for w in span))
    return out


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
        words = _chunk_words(transcript)
        chunks = tuple(
            TimelineChunk(
                chunk_id=chunk.chunk_id,
                call_id=recording.call_id,
                recording_index=index,
                chunk_index=chunk.turn_index,
                speaker=chunk.speaker,
                start=chunk.start_seconds,
                end=chunk.end_seconds,
                text=chunk.text,
                words=chunk_words,
            )
            for chunk, chunk_words in zip(transcript.chunks, words, strict=True)
        )
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
