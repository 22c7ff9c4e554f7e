"""Chat about an audit or a fiche (reference §4.13, §8): history (get-or-create) and a streamed answer.

`GET .../chat/history` needs `chat.read`, `POST .../chat` `chat.use`, both with read access to the
audit (`audits.read`) or the fiche (`fiches.read`); the scope is the narrower of the two grants.
The answer is a server-sent event stream over the POST response in the original's frame format
(`data: {"text": ...}` deltas, one `data: {"citations": [...]}`, `data: [DONE]`; after a failure
`data: {"type": "error", ..., "code": "STREAM_ERROR"}` then `[DONE]`). Refusals before the stream
(empty message, scope, permission) are the usual JSON errors.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from sse_starlette import EventSourceResponse, ServerSentEvent

from api.chat import service
from api.chat.deps import ChatModelDep, ChatSessionsDep
from api.chat.schemas import ChatHistoryOut, ChatMessageIn
from api.deps import SessionDep, SettingsDep
from api.fiches.schemas import FICHE_ID_PATTERN
from api.schemas import Envelope, ok
from api.security import EntityId, Grant

router = APIRouter(tags=["chat"])

ReadAuditChat = Annotated[Grant, Depends(service.require_chat("read", "audits"))]
UseAuditChat = Annotated[Grant, Depends(service.require_chat("use", "audits"))]
ReadFicheChat = Annotated[Grant, Depends(service.require_chat("read", "fiches"))]
UseFicheChat = Annotated[Grant, Depends(service.require_chat("use", "fiches"))]
FicheIdPath = Annotated[str, Path(pattern=FICHE_ID_PATTERN, description="CRM fiche id")]

STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
STREAM_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {}}, "description": "The answer, as SSE frames"}
}


def _stream(payloads: AsyncIterator[str]) -> EventSourceResponse:
    async def events() -> AsyncIterator[ServerSentEvent]:
        async for data in payloads:
            yield ServerSentEvent(data=data)

    # `\n` line ends and `data:` frames only, like the original; no pings inside an answer.
    return EventSourceResponse(events(), headers=STREAM_HEADERS, sep="\n", ping=3600)


@router.get(
    "/audits/{audit_id}/chat/history", response_model=Envelope[ChatHistoryOut], summary="An audit's conversation"
)
async def audit_history(audit_id: EntityId, grant: ReadAuditChat, session: SessionDep) -> Envelope[ChatHistoryOut]:
    """Gets or creates the conversation about this audit; its last 50 messages, oldest first, with their
    citations, status, tokens and cost."""
    return ok(await service.history(session, await service.audit_subject(session, grant, audit_id)))


@router.post(
    "/audits/{audit_id}/chat",
    response_class=EventSourceResponse,
    responses=STREAM_RESPONSES,
    summary="Ask about an audit (streamed answer)",
)
async def audit_chat(
    *,
    audit_id: EntityId,
    body: ChatMessageIn,
    grant: UseAuditChat,
    session: SessionDep,
    settings: SettingsDep,
    model: ChatModelDep,
    sessions: ChatSessionsDep,
) -> EventSourceResponse:
    """Answers `message` about the audit as it stands (overrides and reruns applied) and its transcript, as
    server-sent events: `{"text"}` deltas, one `{"citations"}` frame (validated, located, stored), `[DONE]`."""
    subject = await service.audit_subject(session, grant, audit_id)
    prepared = await service.prepare(session, grant, subject, body.message, settings=settings, offline=model is None)
    return _stream(service.frames(prepared, model, sessions, settings))


@router.get(
    "/fiches/{fiche_id}/chat/history", response_model=Envelope[ChatHistoryOut], summary="A fiche's conversation"
)
async def fiche_history(fiche_id: FicheIdPath, grant: ReadFicheChat, session: SessionDep) -> Envelope[ChatHistoryOut]:
    """Gets or creates the fiche-level conversation (one per fiche, whatever the concurrency)."""
    return ok(await service.history(session, await service.fiche_subject(session, grant, fiche_id)))


@router.post(
    "/fiches/{fiche_id}/chat",
    response_class=EventSourceResponse,
    responses=STREAM_RESPONSES,
    summary="Ask about a fiche (streamed answer)",
)
async def fiche_chat(
    *,
    fiche_id: FicheIdPath,
    body: ChatMessageIn,
    grant: UseFicheChat,
    session: SessionDep,
    settings: SettingsDep,
    model: ChatModelDep,
    sessions: ChatSessionsDep,
) -> EventSourceResponse:
    """Answers `message` about the fiche, its latest audits and its transcript, as server-sent events
    (same frames as the audit chat); extractive, and labelled so, when no model is configured."""
    subject = await service.fiche_subject(session, grant, fiche_id)
    prepared = await service.prepare(session, grant, subject, body.message, settings=settings, offline=model is None)
    return _stream(service.frames(prepared, model, sessions, settings))
