"""Chat over an audit or a fiche (reference §2.6, §8.2): conversations and their messages.

A conversation is about one fiche, and optionally one audit of it (`audit_id` NULL: the fiche-level
conversation). There is at most one per (fiche, audit) pair *and* one fiche-level conversation per
fiche: the plain unique constraint does not cover NULL audit ids (Postgres treats NULLs as
distinct), so a partial unique index does, and get-or-create is an `INSERT ... ON CONFLICT DO
NOTHING` race-safe on both (bug §13.7 #62).

A user message is `pending` while its answer streams, then `answered`, or `unanswered` with the
reason when the stream failed or the client left (bug §13.7 #64). An assistant message keeps the
citations validated against the transcript (bug §13.7 #61), how many were dropped, how it was
produced (`llm` or `extractive`), and its tokens and cost.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from domain.models.base import Base, IdMixin, TimestampMixin


class MessageRole(enum.StrEnum):
    USER = "user"
    ASSISTANT = "assistant"


class MessageStatus(enum.StrEnum):
    PENDING = "pending"  # a user message whose answer is streaming
    ANSWERED = "answered"
    UNANSWERED = "unanswered"  # the stream failed or the client left: no answer was stored
    COMPLETE = "complete"  # an assistant message


class AnswerMode(enum.StrEnum):
    LLM = "llm"
    EXTRACTIVE = "extractive"  # no model configured: the passages most relevant to the question


class ChatConversation(IdMixin, TimestampMixin, Base):
    __tablename__ = "chat_conversations"
    __table_args__ = (
        UniqueConstraint("fiche_id", "audit_id"),
        Index(
            "uq_chat_conversations_fiche_level",
            "fiche_id",
            unique=True,
            postgresql_where=text("audit_id IS NULL"),
        ),
    )

    fiche_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("fiches.fiche_id", ondelete="CASCADE"), nullable=False, index=True
    )
    audit_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("audits.id", ondelete="CASCADE"))


class ChatMessage(IdMixin, Base):
    __tablename__ = "chat_messages"
    __table_args__ = (Index("ix_chat_messages_conversation_id_id", "conversation_id", "id"),)

    conversation_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("chat_conversations.id", ondelete="CASCADE"), nullable=False
    )
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    error: Mapped[str | None] = mapped_column(Text)  # why a user message stayed unanswered
    reply_to_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("chat_messages.id", ondelete="SET NULL"))
    author_user_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="SET NULL"))
    mode: Mapped[str | None] = mapped_column(String(16))  # assistant: llm | extractive
    transcript_mode: Mapped[str | None] = mapped_column(String(8))  # assistant: prompt | tools
    citations: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, default=list, server_default="[]")
    citations_rejected: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    model: Mapped[str | None] = mapped_column(String(128))
    context_tokens: Mapped[int | None] = mapped_column(Integer)  # largest request sent, counted locally
    input_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    cached_input_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    output_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    cost_usd: Mapped[float] = mapped_column(Float, nullable=False, default=0.0, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
