"""Chat for the API: who may chat about what, the history, and one streamed answer.

Access: `chat.read` (history) or `chat.use` (asking) *and* read access to the audit or fiche talked
about, the data scope being the narrower of the two grants; an audit or fiche outside it is a 404
like a missing one. Everything the model reads comes from the database (any replica can answer).

One answer: the question is stored `pending` before the stream starts (so it is never lost), the
answer streams (`domain.chat.answer`, or the extractive answer offline), then the assistant
message with its validated citations, tokens and cost is stored and the question marked
`answered`, in one transaction, *before* the citations frame is sent: the client is shown exactly
what history will return. A failure, or the client leaving (which stops the model call), leaves
the question `unanswered` with the reason.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

import anyio
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from api.auth.dependencies import OptionalPrincipal, require
from api.auth.principal import Grant
from api.chat import repository
from api.chat.schemas import ChatHistoryOut, ChatMessageOut, citation_list
from api.errors import BadRequest, Forbidden, NotFound, stream_error_frame
from api.fiches.reads import visible_or_404
from api.reviews.service import visible_audit
from callaudit.settings import Settings
from domain.audits.auditor import Usage
from domain.audits.timeline import Timeline
from domain.audits.timeline_store import load_timeline
from domain.chat import framing
from domain.chat.answer import Answer, ChatModel, answer
from domain.chat.context import ContextPlan, ContextTooLarge, plan_context, summary_prompt
from domain.chat.extractive import extractive_answer
from domain.models import AnswerMode, ChatMessage, Fiche
from domain.rbac import Action, narrowest
from resources.llm.errors import LlmError

log = logging.getLogger(__name__)

Sessions = Callable[[], AbstractAsyncContextManager[AsyncSession]]
CLIENT_LEFT = "the client disconnected before the answer was complete"
FAILED = "the answer could not be produced"


class require_chat(require):
    """`chat.<action>` plus read access to the subject (`audits` or `fiches`): the narrower scope of both."""

    def __init__(self, action: str, subject: str) -> None:
        super().__init__("chat", action)
        self.subject = subject

    async def __call__(self, principal: OptionalPrincipal) -> Grant:
        grant = await super().__call__(principal)
        assert principal is not None
        data = principal.grant(self.subject, Action.READ)
        if data is None:
            log.info("denied %s.read (chat) to %s", self.subject, principal.describe())
            raise Forbidden(f"Missing permission {self.subject}.read")
        scope = narrowest(grant.scope, data.scope)
        assert scope is not None
        return dataclasses.replace(grant, scope=scope)


@dataclass(frozen=True)
class Subject:
    fiche: Fiche
    audit_id: int | None


async def audit_subject(session: AsyncSession, grant: Grant, audit_id: int) -> Subject:
    audit = await visible_audit(session, grant, audit_id)
    # Chatting writes (a conversation, messages): refused on a deleted audit, like its reviews, but as a
    # 404 since a chat is no way to learn it exists; its detail and trail stay readable, to restore it.
    if audit.deleted_at is not None:
        raise NotFound("Audit not found")
    fiche = (await session.scalars(select(Fiche).where(Fiche.fiche_id == audit.fiche_id))).one()
    return Subject(fiche, audit.id)


async def fiche_subject(session: AsyncSession, grant: Grant, fiche_id: str) -> Subject:
    return Subject(await visible_or_404(session, grant, fiche_id), None)


def message_out(message: ChatMessage) -> ChatMessageOut:
    return ChatMessageOut(
        id=message.id,
        conversationId=message.conversation_id,
        role=message.role,
        content=message.content,
        timestamp=message.created_at,
        status=message.status,
        error=message.error,
        mode=message.mode,
        transcriptMode=message.transcript_mode,
        citations=citation_list(message.citations or []),
        citationsRejected=message.citations_rejected,
        model=message.model,
        contextTokens=message.context_tokens,
        inputTokens=message.input_tokens,
        cachedInputTokens=message.cached_input_tokens,
        outputTokens=message.output_tokens,
        costUsd=message.cost_usd,
    )


async def history(session: AsyncSession, subject: Subject) -> ChatHistoryOut:
    conversation = await repository.conversation(session, subject.fiche.fiche_id, subject.audit_id)
    messages = await repository.recent_messages(session, conversation.id)
    return ChatHistoryOut(
        conversationId=conversation.id,
        ficheId=conversation.fiche_id,
        auditId=conversation.audit_id,
        messages=[message_out(m) for m in messages],
        messageCount=await repository.count_messages(session, conversation.id),
    )


@dataclass(frozen=True)
class Prepared:
    question_id: int
    timeline: Timeline
    plan: ContextPlan | None  # None: no model, the extractive answer
    text: str


async def prepare(
    session: AsyncSession, grant: Grant, subject: Subject, text: str, *, settings: Settings, offline: bool
) -> Prepared:
    """Everything before the first byte: the context (from the database) and the question stored `pending`."""
    fiche_id = subject.fiche.fiche_id
    conversation = await repository.conversation(session, fiche_id, subject.audit_id)
    earlier = await repository.recent_messages(session, conversation.id, repository.PROMPT_HISTORY_LIMIT)

    def read(sync: Session) -> tuple[Timeline, str]:
        fiche = repository.fiche_brief(sync, subject.fiche)
        if subject.audit_id is not None:
            summary = summary_prompt(fiche, repository.audit_of(sync, subject.audit_id), [])
        else:
            summary = summary_prompt(fiche, None, repository.fiche_audits(sync, fiche_id))
        return load_timeline(sync, fiche_id), summary

    timeline, summary = await session.run_sync(read)
    plan = None
    if not offline:
        try:
            plan = plan_context(
                summary,
                timeline,
                repository.prompt_history(earlier),
                text,
                budget=settings.chat_context_token_budget,
            )
        except ContextTooLarge as exc:
            raise BadRequest(str(exc), field="body.message") from None
    question = await repository.add_question(session, conversation.id, text, grant.principal.user_id)
    return Prepared(question.id, timeline, plan, text)


async def frames(
    prepared: Prepared, model: ChatModel | None, sessions: Sessions, settings: Settings
) -> AsyncIterator[str]:
    """The SSE `data` payloads of one answer (see `domain.chat.framing`)."""
    result = Answer()
    min_chars = settings.audit_evidence_min_quote_chars
    finished = False
    try:
        if model is None or prepared.plan is None:
            extractive = extractive_answer(prepared.text, prepared.timeline, min_quote_chars=min_chars)
            result = Answer(text=extractive.text, citations=extractive.citations, rejected=extractive.rejected)
            yield framing.text_frame(extractive.text)
            mode, model_name = AnswerMode.EXTRACTIVE, None
        else:
            async for text in answer(
                model,
                prepared.plan,
                prepared.timeline,
                budget=settings.chat_context_token_budget,
                max_steps=settings.audit_tools_max_steps,
                min_quote_chars=min_chars,
                result=result,
            ):
                yield framing.text_frame(text)
            mode, model_name = AnswerMode.LLM, model.model
        with anyio.CancelScope(shield=True):
            await _store(sessions, prepared, result, mode, model_name)
        finished = True
        if result.citations:
            yield framing.citations_frame(result.citations)
        yield framing.DONE
    except LlmError as exc:
        log.warning("chat answer to message %s failed: %s", prepared.question_id, exc)
        await _unanswered(sessions, prepared.question_id, str(exc))
        finished = True
        yield stream_error_frame(str(exc))
        yield framing.DONE
    except Exception:
        log.exception("chat answer to message %s failed", prepared.question_id)
        await _unanswered(sessions, prepared.question_id, FAILED)
        finished = True
        yield stream_error_frame(FAILED)
        yield framing.DONE
    finally:
        if not finished:  # cancelled: the client left (closing the model stream stopped the call)
            await _unanswered(sessions, prepared.question_id, CLIENT_LEFT)


async def _store(sessions: Sessions, prepared: Prepared, result: Answer, mode: AnswerMode, model: str | None) -> None:
    usage: Usage = result.usage
    async with sessions() as session:
        question = await session.get_one(ChatMessage, prepared.question_id)
        await repository.add_answer(
            session,
            question,
            {
                "content": result.text,
                "mode": mode,
                "transcript_mode": result.mode if mode is AnswerMode.LLM else None,
                "citations": result.citations,
                "citations_rejected": result.rejected,
                "model": model,
                "context_tokens": result.context_tokens or None,
                "input_tokens": usage.input_tokens,
                "cached_input_tokens": usage.cached_input_tokens,
                "output_tokens": usage.output_tokens,
                "cost_usd": usage.cost_usd,
            },
        )
        await session.commit()


async def _unanswered(sessions: Sessions, question_id: int, reason: str) -> None:
    with anyio.CancelScope(shield=True):
        async with sessions() as session:
            await repository.mark_unanswered(session, question_id, reason)
            await session.commit()
