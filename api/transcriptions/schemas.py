"""Bodies and answers of `/api/transcriptions` (snake_case like every other route family)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from api.fiches.schemas import FicheIdIn
from domain.audits.timeline import Role
from domain.models.transcripts import FicheTranscriptionStatus, TranscriptStatus
from runs.contract import Priority


class TranscriptionLaunched(BaseModel):
    message: str
    fiche_id: str
    run_id: str = Field(description="The Dagster run to follow (UI, and `run_id` on the fiche's events)")
    priority: Priority


class TranscriptionBatchIn(BaseModel):
    fiche_ids: list[FicheIdIn] = Field(min_length=1, max_length=500, description="CRM fiche ids, all in scope")
    priority: Priority = "normal"


class TranscriptionBatchLaunched(BaseModel):
    message: str
    fiche_ids: list[str]
    run_id: str = Field(description="The one Dagster run transcribing every listed fiche")
    priority: Priority


class RecordingCoverage(BaseModel):
    call_id: str
    has_transcription: bool
    status: TranscriptStatus | None = Field(description="Latest attempt; null when never attempted")
    error: str | None
    transcribed_at: dt.datetime | None
    recording_date: dt.date | None
    recording_time: str | None
    duration_seconds: int | None
    provider: str | None
    model: str | None


class TranscriptionStatusOut(BaseModel):
    fiche_id: str
    total: int
    transcribed: int
    pending: int = Field(description="Never attempted, or attempted and not yet finished")
    failed: int = Field(description="Whose latest attempt failed (`error` says why); the next run retries them")
    percentage: float = Field(description="transcribed / total, in percent (0 when the fiche has no recording)")
    status: FicheTranscriptionStatus | None = Field(
        description="Where the fiche's last transcription run stands; null when no run has reached it yet"
    )
    reason: str | None = Field(description="Why the last run did not complete (failed recordings, skip reason)")
    run_status: str | None = Field(
        None, description="Dagster's status of the run, while the fiche is queued or running (null if unknown)"
    )
    priority: str | None = Field(description="Priority of the last run")
    run_id: str | None = Field(description="The last run that reached this fiche")
    recordings: list[RecordingCoverage]


class WordOut(BaseModel):
    text: str
    start: float
    end: float
    speaker: str
    confidence: float | None = None


class ChunkOut(BaseModel):
    chunk_id: str = Field(description="`{call_id}:{turn_index}`: what audit citations point at")
    turn_index: int
    speaker: str
    start: float
    end: float
    text: str
    word_count: int
    role: Role = Field(description="Who the speaker is in this call: agent, client, or unknown when unsure")


class SpeakerRolesOut(BaseModel):
    roles: dict[str, Role] = Field(description="Each diarised speaker label's role")
    confidence: float = Field(description="Of the mapping, 0-1; 0 when no speaker could be named")
    cues: list[str] = Field(description="What the mapping was inferred from")


class RecordingTranscriptOut(BaseModel):
    fiche_id: str
    call_id: str
    status: TranscriptStatus
    error: str | None
    provider: str
    model: str | None
    language: str | None
    language_probability: float | None
    duration_seconds: float | None
    transcribed_at: dt.datetime | None
    text: str | None
    words: list[WordOut]
    chunks: list[ChunkOut]
    speaker_roles: SpeakerRolesOut = Field(
        description="Who is the agent and who the client (inferred now for transcripts stored before roles)"
    )
