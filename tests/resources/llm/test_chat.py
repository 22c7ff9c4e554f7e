"""The chat model against the OpenAI-compatible stand-in over real HTTP, with the real Redis: it shares
the audits' 429 cool-down (decision 90), so a throttled endpoint slows every caller, not only one."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis

from callaudit.settings import load_settings
from domain.chat.answer import Finished, ModelEvent, TextDelta
from resources.llm.chat import OpenAiChatModel, build_chat_model
from resources.llm.client import SEMAPHORE_NAME
from resources.redis import SharedCooldown
from tests.fixtures.standins.llm import OpenAiStandIn, Reply

MODEL = "gpt-chat-test"
QUESTION = [{"role": "system", "content": "Tu réponds sur un audit."}, {"role": "user", "content": "Bonjour ?"}]
RETRY_AFTER = 1


def _model(server: OpenAiStandIn, client: aioredis.Redis) -> OpenAiChatModel:
    settings = load_settings(openai_api_key=server.key, openai_base_url=server.base_url, openai_model_chat=MODEL)
    return build_chat_model(settings, client)


async def _answer(model: OpenAiChatModel) -> str:
    events: list[ModelEvent] = [event async for event in model.stream(QUESTION, tools=[])]
    assert isinstance(events[-1], Finished)
    return "".join(event.text for event in events if isinstance(event, TextDelta))


async def test_a_429_before_the_stream_holds_back_every_caller_then_the_answer_comes(aredis: aioredis.Redis) -> None:
    with OpenAiStandIn(model=MODEL) as server:
        server.script.append(Reply(status=429, headers={"Retry-After": str(RETRY_AFTER)}))
        server.responder = lambda body: Reply(content="Oui.")
        throttled, other = _model(server, aredis), _model(server, aredis)  # two replicas, one Redis
        cooldown = SharedCooldown(aredis, SEMAPHORE_NAME)  # the audits' own (`resources.llm.resource`)
        try:
            first = asyncio.create_task(_answer(throttled))
            async with asyncio.timeout(10):  # until the throttled caller has told every caller to wait
                while not await cooldown.left():  # noqa: ASYNC110 - the cool-down lives in Redis
                    await asyncio.sleep(0.01)
            second = await _answer(other)  # asked while the endpoint said "wait"
            assert await first == "Oui."  # the throttled call, made again
        finally:
            await throttled.aclose()
            await other.aclose()
    assert second == "Oui."
    assert server.violations == []
    assert [seen.status for seen in server.seen] == [429, 200, 200]
    # nothing reached the endpoint before the Retry-After it gave had passed, from either caller
    assert min(seen.at for seen in server.seen[1:]) - server.seen[0].at >= RETRY_AFTER * 0.95


async def test_a_cool_down_an_audit_call_started_is_waited_out_before_the_chat_calls(aredis: aioredis.Redis) -> None:
    with OpenAiStandIn(model=MODEL) as server:
        model = _model(server, aredis)
        try:
            await SharedCooldown(aredis, SEMAPHORE_NAME).extend(RETRY_AFTER, reason="HTTP 429")
            started = time.monotonic()
            assert await _answer(model)
        finally:
            await model.aclose()
    [seen] = server.seen
    assert seen.at - started >= RETRY_AFTER * 0.95
