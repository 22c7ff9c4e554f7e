"""`/api/realtime`: follow topics as server-sent events, and mint stream tokens for browsers.

Everything that can refuse a stream happens before its first byte: authentication (header, or a
stream token in the query for EventSource), `realtime` read, each topic's scope, the cursor's
syntax, the replica's stream cap and Redis being reachable. Then the response streams without a
database session. No route publishes: events come from the stages only (the original's open
test-publish route let anyone spoof any channel).
"""

from __future__ import annotations

import weakref
from typing import Annotated
from urllib.parse import urlencode

import redis.asyncio as aioredis
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, Field
from sse_starlette import EventSourceResponse

from api.auth.dependencies import KeyringDep, OptionalPrincipal, bearer_scheme, require
from api.auth.principal import Grant, Principal
from api.auth.service import load_session_principal, load_user_principal
from api.deps import SessionDep, SettingsDep, StateDep
from api.errors import BadRequest, ErrorBody, Forbidden, NotAuthenticated, ServiceUnavailable
from api.realtime.access import authorize_topic
from api.realtime.hub import BLOCK_MS, StreamHub
from api.realtime.response import SendWatchdog, WatchedEventSourceResponse
from api.realtime.stream import BadCursor, events, parse_last_event_id, plan_stream
from api.realtime.tokens import InvalidStreamToken, StreamGrant, issue_stream_token, verify_stream_token
from api.schemas import Envelope, ok
from callaudit.httpserver import DIRECT_BODY
from domain.events import InvalidTopic, Topic, parse_topic

router = APIRouter(prefix="/realtime", tags=["realtime"])

MAX_TOPICS = 10
SEND_TIMEOUT_SECONDS = 30


def _topics(topic: list[str]) -> list[Topic]:
    try:
        parsed = [parse_topic(t) for t in topic]
    except InvalidTopic as exc:
        raise BadRequest(str(exc), field="topic") from None
    return list({str(t): t for t in parsed}.values())  # a topic named twice is followed once


TopicsQuery = Annotated[
    list[str],
    Query(
        min_length=1,
        max_length=MAX_TOPICS,
        description="Topics to follow: `audit:<id>`, `fiche:<id>`, `job:<id>`, `user:<id>` (repeat for several)",
    ),
]
TokenQuery = Annotated[
    str | None,
    Query(max_length=2048, description="Stream token from `POST /api/realtime/stream-tokens` (for EventSource)"),
]


async def stream_principal(
    principal: OptionalPrincipal, session: SessionDep, keyring: KeyringDep, topic: TopicsQuery, token: TokenQuery = None
) -> Principal | None:
    """The caller from the headers, or from a stream token naming exactly the requested topic."""
    if token is None:
        return principal
    try:
        grant = verify_stream_token(keyring, token)
    except InvalidStreamToken:
        raise NotAuthenticated("Invalid or expired stream token") from None
    if [str(t) for t in _topics(topic)] != [grant.topic]:
        raise Forbidden("A stream token is valid for its one topic only")
    if grant.session_id is None:
        alive, user = True, await load_user_principal(session, grant.user_id)
    else:  # the login session and the user in one statement, as for an access token (decision 101)
        ends, user = await load_session_principal(session, grant.user_id, grant.session_id)
        alive = ends is not None
    if not alive or user is None:
        raise NotAuthenticated("Invalid or expired stream token")
    return user


class require_stream(require):
    """`require("realtime", "auth")` with the stream token as a second way to authenticate."""

    async def __call__(self, principal: Annotated[Principal | None, Depends(stream_principal)]) -> Principal:  # type: ignore[override]
        return (await super().__call__(principal)).principal


def stream_hub(state: StateDep) -> StreamHub:
    """The replica's hub, built on first use with its own client for the blocking reads."""
    hub = state.sse_hub
    if hub is None:
        pool = state.redis.connection_pool
        blocking = aioredis.Redis(
            connection_pool=aioredis.ConnectionPool(
                connection_class=pool.connection_class,
                **{**pool.connection_kwargs, "socket_timeout": BLOCK_MS / 1000 + 5},
            )
        )
        hub = state.sse_hub = StreamHub(blocking, max_streams=state.settings.realtime_max_streams)
        state.cleanups.append(hub.close)
    return hub


def send_watchdog(state: StateDep) -> SendWatchdog:
    """The replica's bound on sends to clients that stopped reading (see `api.realtime.response`)."""
    watchdog = state.sse_send_watchdog
    if watchdog is None:
        watchdog = state.sse_send_watchdog = SendWatchdog(SEND_TIMEOUT_SECONDS)
        state.cleanups.append(watchdog.close)
    return watchdog


@router.get(
    "/stream",
    response_class=EventSourceResponse,
    summary="Follow topics as server-sent events (resumable with Last-Event-ID)",
    openapi_extra={"x-looks-up": "topic"},
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "The event stream"},
        404: {"model": ErrorBody, "description": "A topic is missing or outside the caller's scope (no stream)"},
    },
)
async def stream(  # noqa: PLR0917 - FastAPI dependencies
    request: Request,
    topic: TopicsQuery,
    principal: Annotated[Principal, Depends(require_stream("realtime", "auth"))],
    session: SessionDep,
    settings: SettingsDep,
    state: StateDep,
    hub: Annotated[StreamHub, Depends(stream_hub)],
    watchdog: Annotated[SendWatchdog, Depends(send_watchdog)],
    last_event_id: Annotated[
        str | None,
        Header(max_length=1024, description="Resume after this event id (sent by EventSource on reconnect)"),
    ] = None,
    replay: Annotated[bool, Query(description="Without Last-Event-ID: send the retained events first")] = True,
) -> EventSourceResponse:
    """Events of §11.4 (`domain.events`); `reset` when the cursor is older than what is retained
    (refetch the REST state); comment heartbeats; the stream ends after `REALTIME_STREAM_MAX_SECONDS`
    or when Redis drops, with a `retry:` hint, and the client resumes with `Last-Event-ID`."""
    topics = _topics(topic)
    for followed in topics:
        await authorize_topic(session, principal, followed)
    try:
        cursors = parse_last_event_id(last_event_id, len(topics))
    except BadCursor as exc:
        raise BadRequest(str(exc), field="Last-Event-ID") from None
    plan = await plan_stream(state.redis, [str(t) for t in topics], cursors, replay=replay)
    slot = hub.reserve()
    if slot is None:
        raise ServiceUnavailable("Too many open streams on this server; retry shortly")

    writer = request.scope.get("extensions", {}).get(DIRECT_BODY)  # served by `callaudit api`
    stream_body = events(hub, state.redis, plan, settings.realtime_stream_max_seconds, slot, writer)
    # A client gone before the stream started never runs the generator's `finally`: the slot is
    # also given back when the generator is collected.
    weakref.finalize(stream_body, slot.release)
    return WatchedEventSourceResponse(
        stream_body,
        watchdog=watchdog,
        ping=settings.realtime_heartbeat_seconds,
        headers={"Cache-Control": "no-store"},
    )


class StreamTokenIn(BaseModel):
    topic: str = Field(max_length=140, description="The one topic the token opens, e.g. `audit:12`")


class StreamTokenOut(BaseModel):
    token: str = Field(description="Stream token; opens this topic's stream only, for `expires_in` seconds")
    topic: str = Field(description="The topic the token opens")
    expires_in: int = Field(description="Seconds the token may be used to open the stream")
    url: str = Field(description="Path and query for `new EventSource(url)`")


@router.post("/stream-tokens", response_model=Envelope[StreamTokenOut], summary="Mint a stream token for EventSource")
async def mint_stream_token(  # noqa: PLR0917 - FastAPI dependencies
    body: StreamTokenIn,
    grant: Annotated[Grant, Depends(require("realtime", "auth"))],
    session: SessionDep,
    settings: SettingsDep,
    keyring: KeyringDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Envelope[StreamTokenOut]:
    """For a user session only; the topic is authorized now and again when the stream opens."""
    try:
        topic = parse_topic(body.topic)
    except InvalidTopic as exc:
        raise BadRequest(str(exc), field="topic") from None
    principal = grant.principal
    if not principal.is_user or principal.user_id is None or bearer is None:
        raise Forbidden("This endpoint requires a user session")
    await authorize_topic(session, principal, topic)
    session_id = keyring.verify_access_token(bearer.credentials).get("sid")
    ttl = settings.realtime_stream_token_ttl_seconds
    token = issue_stream_token(keyring, StreamGrant(principal.user_id, session_id, str(topic)), ttl)
    return ok(
        StreamTokenOut(
            token=token,
            topic=str(topic),
            expires_in=ttl,
            url=f"/api/realtime/stream?{urlencode({'topic': str(topic), 'token': token})}",
        )
    )
