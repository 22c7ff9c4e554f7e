"""Transcripts of call recordings, their speaker-turn chunks, and each fiche's transcription status."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from domain.models.base import Base, IdMixin, TimestampMixin


class TranscriptStatus(enum.StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"  # `error` says why; the next run tries again


class FicheTranscriptionStatus(enum.StrEnum):
    QUEUED = "queued"  # a run was launched for it (`run_id`) and has not reached it yet
    RUNNING = "running"
    COMPLETE = "complete"  # every recording transcribed (or the fiche has none)
    PARTIAL = "partial"  # some recordings failed: `reason` names them
    FAILED = "failed"  # every recording tried failed
    SKIPPED = "skipped"  # not attempted, e.g. more recordings than AUTOMATION_MAX_RECORDINGS_PER_FICHE


def _check_in(column: str, values: type[enum.StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class Transcript(IdMixin, TimestampMixin, Base):
    """The latest transcription attempt of one recording (one row per recording).

    `provider` is `reference` for the demo simulator's reference transcripts, which are not speech
    recognition and exist only for the demo and tests. `audio_key` identifies the audio that was
    transcribed (its URL without the query string, hashed), so a changed recording is redone while
    a re-signed URL is not. `cost_units` are in `cost_unit` (audio seconds for every provider).
    """

    __tablename__ = "transcripts"
    __table_args__ = (CheckConstraint(_check_in("status", TranscriptStatus), name="status"),)

    recording_id: Mapped[int] = mapped_column(
        ForeignKey("recordings.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    fiche_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    call_id: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    provider: Mapped[str] = mapped_column(String(32), nullable=False)
    model: Mapped[str | None] = mapped_column(String(128))
    provider_transcript_id: Mapped[str | None] = mapped_column(String(128))
    audio_key: Mapped[str] = mapped_column(String(64), nullable=False)
    language: Mapped[str | None] = mapped_column(String(16))
    language_probability: Mapped[float | None] = mapped_column(Float)
    text: Mapped[str | None] = mapped_column(Text)
    words: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    cost_units: Mapped[float | None] = mapped_column(Float)
    cost_unit: Mapped[str | None] = mapped_column(String(32))
    transcribed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # Who each diarised speaker is: `{"roles": {label: role}, "confidence": float, "cues": [...]}`
    # (`domain.transcripts.roles.RoleAssignment`); NULL for transcripts stored before roles existed.
    speaker_roles: Mapped[dict[str, Any] | None] = mapped_column(JSONB)

    chunks: Mapped[list[TranscriptChunk]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="TranscriptChunk.turn_index"
    )


class TranscriptChunk(IdMixin, Base):
    """One speaker turn of a transcript; `chunk_id` (`{call_id}:{turn_index}`) is what citations store."""

    __tablename__ = "transcript_chunks"
    __table_args__ = (UniqueConstraint("transcript_id", "turn_index"),)

    transcript_id: Mapped[int] = mapped_column(
        ForeignKey("transcripts.id", ondelete="CASCADE"), nullable=False, index=True
    )
    fiche_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    chunk_id: Mapped[str] = mapped_column(String(96), nullable=False)
    turn_index: Mapped[int] = mapped_column(Integer, nullable=False)
    speaker: Mapped[str] = mapped_column(String(32), nullable=False)
    start_seconds: Mapped[float] = mapped_column(Float, nullable=False)
    end_seconds: Mapped[float] = mapped_column(Float, nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    word_count: Mapped[int] = mapped_column(Integer, nullable=False)
    role: Mapped[str | None] = mapped_column(String(16))  # agent / client / unknown; NULL before roles existed
    # The chunk's language analysis (`domain.language.analysis`, with the version that made it),
    # stored by its first audit so later audits do not parse it again; NULL until then.
    analysis: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class FicheTranscription(TimestampMixin, Base):
    """Where a fiche's transcription stands after its last run, with the reason when not complete."""

    __tablename__ = "fiche_transcriptions"
    __table_args__ = (CheckConstraint(_check_in("status", FicheTranscriptionStatus), name="status"),)

    fiche_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("fiches.fiche_id", ondelete="CASCADE", onupdate="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)
    recordings_total: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    recordings_transcribed: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    recordings_failed: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    priority: Mapped[str | None] = mapped_column(String(8))
    run_id: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
