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
    matched_text: str
    chunk_id: str
    call_id: str
    recording_index: int
    chunk_index: int
    last_chunk_index: int
    speaker: str
    role: str
    start_seconds: float
    end_seconds: float
    minutage: str
    minutage_secondes: float
    recording_date: str
    recording_time: str
    recording_url: str
    match: str
    similarity: float


class ChatMessageOut(BaseModel):
    id: IdStr
    conversationId: IdStr
    role: Literal["user", "assistant"]
    content: str
    timestamp: dt.datetime
    status: str = Field(description="user: pending, answered or unanswered; assistant: complete")
    error: str | None = Field(None, description="Why a user message stayed unanswered")
    mode: str | None = Field(None, description="assistant: `llm`, or `extractive` (no model configured)")
    transcriptMode: str | None = Field(None, description="assistant: `prompt` or `tools`")
    citations: list[ChatCitationOut] = Field(default_factory=list)
    citationsRejected: int = 0
    model: str | None = None
    contextTokens: int | None = None
    inputTokens: int = 0
    cachedInputTokens: int = 0
    outputTokens: int = 0
    costUsd: float = 0.0


class ChatHistoryOut(BaseModel):
    conversationId: IdStr
    ficheId: str
    auditId: IdStr | None
    messages: list[ChatMessageOut]
    messageCount: int


def citation_list(raw: list[dict[str, Any]]) -> list[ChatCitationOut]:
    return [ChatCitationOut.model_validate(item) for item in raw]
