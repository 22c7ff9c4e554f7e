"""Wire shapes of the chat routes (reference §4.13), with the original's field names."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.security import IdStr, Str2000


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: Str2000 = Field(min_length=1, description="The question, in any language (answers in French by default)")


class ChatCitationOut(BaseModel):
    """A quote validated against the transcript and located to the word (times, speaker, call, chunk)."""

    texte: str
    matched_text: str = Field(description="The transcript's words the quote was matched to (ASR-tolerant)")
    chunk_id: str
    call_id: str
    recording_index: int
    chunk_index: int
    last_chunk_index: int = Field(description="Chunk where the quote ends, 0-based (> chunk_index when it runs on)")
    speaker: str
    role: str
    start_seconds: float
    end_seconds: float
    minutage: str
    minutage_secondes: float = Field(description="Start of the quote in its recording, in seconds")
    recording_date: str
    recording_time: str
    recording_url: str
    match: str = Field(description="How the quote was found: `exact` or `tolerant` (recognition noise)")
    similarity: float


class ChatMessageOut(BaseModel):
    id: IdStr
    conversationId: IdStr = Field(description="The conversation the message belongs to")
    role: Literal["user", "assistant"]
    content: str = Field(description="The question, or the answer as shown (no citation marker)")
    timestamp: dt.datetime
    status: str = Field(description="user: pending, answered or unanswered; assistant: complete")
    error: str | None = Field(None, description="Why a user message stayed unanswered")
    mode: str | None = Field(None, description="assistant: `llm`, or `extractive` (no model configured)")
    transcriptMode: str | None = Field(None, description="assistant: `prompt` or `tools`")
    citations: list[ChatCitationOut] = Field(default_factory=list)
    citationsRejected: int = Field(0, description="Citations the model gave that the transcript did not support")
    model: str | None = None
    contextTokens: int | None = Field(None, description="Largest request sent for the answer (o200k_base tokens)")
    inputTokens: int = Field(0, description="Input tokens the provider counted, cached ones included")
    cachedInputTokens: int = Field(0, description="Input tokens served from the provider's prompt cache")
    outputTokens: int = Field(0, description="Output tokens of the answer")
    costUsd: float = Field(0.0, description="Cost of the answer in USD (the audits' price table, `LLM_PRICES`)")


class ChatHistoryOut(BaseModel):
    conversationId: IdStr = Field(description="The conversation (created on first use)")
    ficheId: str
    auditId: IdStr | None = Field(description="The audit talked about; null for the fiche-level conversation")
    messages: list[ChatMessageOut] = Field(description="The last 50 messages, oldest first")
    messageCount: int = Field(description="Messages in the whole conversation")


def citation_list(raw: list[dict[str, Any]]) -> list[ChatCitationOut]:
    return [ChatCitationOut.model_validate(item) for item in raw]
