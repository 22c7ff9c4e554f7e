"""Chat rows and what the chat reads of a fiche and its audits: SQL only, no HTTP, no model."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from domain.audits.reviews import StepState, step_states_of
from domain.chat.context import AuditBrief, FicheBrief, PointLine, StepLine
from domain.models import (
    Audit,
    ChatConversation,
    ChatMessage,
    Fiche,
    MessageRole,
    MessageStatus,
    Recording,
    Scorecard,
    Transcript,
    TranscriptStatus,
)

HISTORY_LIMIT = 50  # messages a history response returns (the original's)
PROMPT_HISTORY_LIMIT = 200  # messages considered for the prompt, then kept newest first while they fit


async def conversation(session: AsyncSession, fiche_id: str, audit_id: int | None) -> ChatConversation:
    """The (fiche, audit) conversation, created on first use. `ON CONFLICT DO NOTHING` on either unique
    index (the pair, or the fiche-level partial one) makes concurrent first messages share one row."""
    await session.execute(
        insert(ChatConversation).values(fiche_id=fiche_id, audit_id=audit_id).on_conflict_do_nothing()
    )
    audit_clause = ChatConversation.audit_id.is_(None) if audit_id is None else ChatConversation.audit_id == audit_id
    statement = select(ChatConversation).where(ChatConversation.fiche_id == fiche_id, audit_clause)
    return (await session.scalars(statement)).one()


async def recent_messages(session: AsyncSession, conversation_id: int, limit: int = HISTORY_LIMIT) -> list[ChatMessage]:
    """The last `limit` messages, in chronological order."""
    rows = (
        await session.scalars(
            select(ChatMessage)
            .where(ChatMessage.conversation_id == conversation_id)
            .order_by(ChatMessage.id.desc())
            .limit(limit)
        )
    ).all()
    return list(reversed(rows))


async def count_messages(session: AsyncSession, conversation_id: int) -> int:
    statement = select(func.count()).select_from(ChatMessage).where(ChatMessage.conversation_id == conversation_id)
    return int(await session.scalar(statement) or 0)


def prompt_history(messages: Sequence[ChatMessage]) -> list[tuple[str, str]]:
    """The exchanges the model sees: answered questions and their answers (not unanswered or pending ones)."""
    return [
        (m.role, m.content) for m in messages if m.role == MessageRole.ASSISTANT or m.status == MessageStatus.ANSWERED
    ]


async def add_question(
    session: AsyncSession, conversation_id: int, text: str, author_user_id: int | None
) -> ChatMessage:
    message = ChatMessage(
        conversation_id=conversation_id,
        role=MessageRole.USER,
        content=text,
        status=MessageStatus.PENDING,
        author_user_id=author_user_id,
    )
    session.add(message)
    await session.flush()
    return message


async def add_answer(session: AsyncSession, question: ChatMessage, values: dict[str, Any]) -> ChatMessage:
    """The assistant message, and its question marked answered, in one transaction."""
    answer = ChatMessage(
        conversation_id=question.conversation_id,
        role=MessageRole.ASSISTANT,
        status=MessageStatus.COMPLETE,
        reply_to_id=question.id,
        **values,
    )
    session.add(answer)
    await session.execute(
        update(ChatMessage).where(ChatMessage.id == question.id).values(status=MessageStatus.ANSWERED, error=None)
    )
    await session.flush()
    return answer


async def mark_unanswered(session: AsyncSession, question_id: int, reason: str) -> None:
    await session.execute(
        update(ChatMessage)
        .where(ChatMessage.id == question_id, ChatMessage.status == MessageStatus.PENDING)
        .values(status=MessageStatus.UNANSWERED, error=reason)
    )


# --- what the model reads ---------------------------------------------------------------------------


def _day(value: dt.datetime | None) -> str:
    return value.strftime("%d/%m/%Y") if value else "N/A"


def _steps(states: dict[int, StepState], *, points: bool) -> tuple[StepLine, ...]:
    lines = []
    for position, state in sorted(states.items()):
        view = state.view
        lines.append(
            StepLine(
                position=position,
                name=state.row.name,
                conforme=view.conforme,
                score=view.score,
                weight=view.weight,
                niveau=view.niveau_conformite,
                is_critical=view.is_critical,
                overridden=any(in_force for _, in_force in state.reviews),
                points=tuple(PointLine(p.index, p.point, p.statut, p.commentaire or "") for p in view.points)
                if points
                else (),
            )
        )
    return tuple(lines)


def audit_briefs(session: Session, audits: Sequence[tuple[Audit, str]], *, points: bool) -> list[AuditBrief]:
    """Each audit as it stands (its latest view: overrides in force and reruns applied)."""
    states = step_states_of(session, [a.id for a, _ in audits])
    return [
        AuditBrief(
            audit_id=audit.id,
            scorecard=name,
            status=audit.status,
            created_at=_day(audit.created_at),
            score_percentage=float(audit.score_percentage) if audit.score_percentage is not None else None,
            niveau=audit.niveau,
            is_compliant=audit.is_compliant,
            critical_passed=audit.critical_passed,
            critical_total=audit.critical_total,
            successful_steps=audit.successful_steps,
            failed_steps=audit.failed_steps,
            steps=_steps(states.get(audit.id, {}), points=points),
        )
        for audit, name in audits
    ]


def audit_of(session: Session, audit_id: int) -> AuditBrief:
    row = session.execute(
        select(Audit, Scorecard.name).join(Scorecard, Scorecard.id == Audit.scorecard_id).where(Audit.id == audit_id)
    ).one()
    return audit_briefs(session, [(row[0], row[1])], points=True)[0]


def fiche_audits(session: Session, fiche_id: str) -> list[AuditBrief]:
    """The fiche's latest audit per scorecard, not deleted, newest first (bug §13.7 #63: not every row)."""
    rows = session.execute(
        select(Audit, Scorecard.name)
        .join(Scorecard, Scorecard.id == Audit.scorecard_id)
        .where(Audit.fiche_id == fiche_id, Audit.is_latest, Audit.deleted_at.is_(None))
        .order_by(Audit.created_at.desc(), Audit.id.desc())
    ).all()
    return audit_briefs(session, [(a, n) for a, n in rows], points=False)


def fiche_brief(session: Session, fiche: Fiche) -> FicheBrief:
    recordings = session.execute(
        select(Recording.duration_seconds, Transcript.status)
        .outerjoin(Transcript, Transcript.recording_id == Recording.id)
        .where(Recording.fiche_id == fiche.fiche_id)
    ).all()
    seconds = sum(float(d) for d, _ in recordings if d is not None)
    prospect = " ".join(p for p in (fiche.prospect_prenom, fiche.prospect_nom) if p)
    return FicheBrief(
        fiche_id=fiche.fiche_id,
        prospect=prospect,
        email=fiche.prospect_email,
        phone=fiche.prospect_tel,
        groupe=fiche.groupe,
        recordings_total=len(recordings),
        recordings_transcribed=sum(s == TranscriptStatus.COMPLETED for _, s in recordings),
        duration_minutes=seconds / 60,
    )
