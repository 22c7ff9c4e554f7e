"""`OpenAiAuditor` end to end: the real SDK and client code against the local OpenAI stand-in, with
the real Redis semaphore."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx2
import openai
import pytest
import redis.asyncio as aioredis

from domain.audits.auditor import StepAnalysis, TranscriptMode
from domain.audits.prompts import STEP_SEPARATOR, prompt_messages, prompt_prefix_key, shared_prefix
from domain.audits.schema import PointStatus, fallback_step
from domain.audits.timeline import Timeline
from domain.audits.tools import FETCH_TOOL, SEARCH_TOOL, tool_definitions
from resources.llm.auditor import OpenAiAuditor
from resources.llm.client import SEMAPHORE_NAME, ChatClient
from resources.llm.config import LlmConfig
from resources.llm.pricing import Price, PriceTable
from resources.llm.resource import openai_auditor
from resources.redis import LeaseSemaphore, SharedCooldown
from tests.fixtures.factories.timelines import FOLLOW_UP, SALE_CALL, long_timeline, sample_scorecard, timeline
from tests.fixtures.standins.llm import OpenAiStandIn, Reply, control_points, step_answer
from tests.fixtures.standins.prompt_cache import CHARS_PER_TOKEN

MODEL = "gpt-test"
PRICE = Price(input=2.0, cached_input=0.5, output=8.0)
FAST = LlmConfig(model=MODEL, backoff_base=0.01, backoff_max=0.05, request_timeout=5.0)


@pytest.fixture
def standin() -> Iterator[OpenAiStandIn]:
    with OpenAiStandIn(model=MODEL) as server:
        yield server
        assert server.violations == []


@pytest.fixture
async def make_auditor(standin: OpenAiStandIn, aredis: aioredis.Redis) -> AsyncIterator[Any]:
    made: list[OpenAiAuditor] = []

    def make(config: LlmConfig = FAST, *, key: str | None = None) -> OpenAiAuditor:
        auditor = openai_auditor(
            config,
            aredis,
            api_key=key or standin.key,
            base_url=standin.base_url,
            prices=PriceTable({MODEL: PRICE}),
        )
        made.append(auditor)
        return auditor

    yield make
    for auditor in made:
        await auditor.aclose()


async def analyse(
    auditor: OpenAiAuditor, tl: Timeline, position: int = 1, mode: TranscriptMode = TranscriptMode.PROMPT
) -> StepAnalysis:
    card = sample_scorecard()
    return await auditor.analyze_step(card, card.step(position), tl, mode=mode)


def assert_failed_with_fallback(analysis: StepAnalysis, position: int = 1) -> None:
    assert analysis.failed
    assert analysis.error
    assert analysis.output == fallback_step(sample_scorecard().step(position).control_points, analysis.error)


async def test_prompt_mode_answers_the_step(standin: OpenAiStandIn, make_auditor: Any) -> None:
    auditor = make_auditor()
    analysis = await analyse(auditor, timeline(SALE_CALL), position=2)
    assert not analysis.failed
    assert analysis.transcript_mode is TranscriptMode.PROMPT
    assert [p.point for p in analysis.output.points_controle] == ["Appel enregistré", "Droit d'opposition"]
    (seen,) = standin.seen
    assert "tools" not in seen.body
    assert seen.body["temperature"] == 0
    assert analysis.usage.calls == 1
    assert analysis.usage.input_tokens == seen.prompt_tokens > 0
    assert analysis.usage.output_tokens > 0
    assert (auditor.name, auditor.model, auditor.shares_prompt_prefix) == ("openai", MODEL, True)


async def test_steps_share_their_prefix_and_later_ones_hit_the_cache(standin: OpenAiStandIn, make_auditor: Any) -> None:
    auditor, tl, card = make_auditor(), long_timeline(), sample_scorecard()
    first = await analyse(auditor, tl, 1)
    others = await asyncio.gather(*(analyse(auditor, tl, p) for p in (2, 3)))
    bodies = [seen.body for seen in standin.seen]
    assert len({b["messages"][0]["content"] for b in bodies}) == 1
    assert len({b["messages"][1]["content"].split(STEP_SEPARATOR)[0] + STEP_SEPARATOR for b in bodies}) == 1
    assert prompt_prefix_key(card, tl) == prompt_prefix_key(card, tl)
    prefix_tokens = len(shared_prefix(card, tl)) // CHARS_PER_TOKEN
    assert prefix_tokens > 2048
    assert first.usage.cached_input_tokens == 0
    for analysis in others:
        # Everything up to the step part was cached (minus the 128-token granularity).
        assert prefix_tokens - 128 <= analysis.usage.cached_input_tokens <= analysis.usage.input_tokens
    expected = sum(s.prompt_tokens for s in standin.seen[1:]) - sum(a.usage.cached_input_tokens for a in others)
    assert sum(a.usage.input_tokens - a.usage.cached_input_tokens for a in others) == expected


async def test_steps_fired_together_share_nothing_until_one_has_been_answered(
    standin: OpenAiStandIn, make_auditor: Any
) -> None:
    def slow(body: dict[str, Any]) -> Reply:
        return Reply(content=json.dumps(step_answer(control_points(body))), delay=0.2)

    standin.responder = slow
    auditor, tl = make_auditor(), long_timeline()
    together = await asyncio.gather(*(analyse(auditor, tl, p) for p in (1, 2, 3)))
    assert standin.peak == 3  # all three were in flight at once: none could read another's prefix
    assert [a.usage.cached_input_tokens for a in together] == [0, 0, 0]
    later = await analyse(auditor, tl, 2)
    assert later.usage.cached_input_tokens > 0


def tool_following_model(body: dict[str, Any]) -> Reply:
    """Plays the recommended strategy: search, read the best chunks with neighbours, cite one verbatim."""
    messages = body["messages"]
    last = json.loads(messages[-1]["content"]) if messages[-1]["role"] == "tool" else None
    if last is None:
        return Reply(
            tool_calls=[
                (SEARCH_TOOL, {"query": "ORIAS conseiller Net Courtage", "max_results": 3, "min_term_length": None})
            ]
        )
    if "matches" in last:
        refs = [{"recording_index": m["recording_index"], "chunk_index": m["chunk_index"]} for m in last["matches"][:2]]
        return Reply(tool_calls=[(FETCH_TOOL, {"chunks": refs, "include_neighbors": 1, "max_chars": None})])
    chunk = next(c for c in last["chunks"] if "ORIAS" in c["full_text"])
    citation = {
        "texte": chunk["full_text"],
        **{key: chunk[key] for key in ("minutage", "minutage_secondes", "speaker", "recording_index", "chunk_index")},
        **{key: chunk[key] for key in ("recording_date", "recording_time", "recording_url")},
    }
    return Reply(content=json.dumps(step_answer(control_points(body), citations=[citation])))


async def test_tools_mode_runs_real_tools_over_the_timeline(standin: OpenAiStandIn, make_auditor: Any) -> None:
    standin.responder = tool_following_model
    tl = timeline(SALE_CALL, FOLLOW_UP)
    analysis = await analyse(make_auditor(), tl, mode=TranscriptMode.TOOLS)
    assert not analysis.failed, analysis.error
    assert analysis.transcript_mode is TranscriptMode.TOOLS
    assert [s.body["tool_choice"] for s in standin.seen] == ["required", "auto", "auto"]
    assert all(SALE_CALL[0][1] not in json.dumps(m) for m in standin.seen[0].body["messages"])
    search_result = json.loads(standin.seen[1].body["messages"][-1]["content"])
    assert [(m["chunk_index"], m["score"]) for m in search_result["matches"]] == [(0, 3), (2, 1)]
    (citation,) = analysis.output.points_controle[0].citations
    assert citation.texte == SALE_CALL[2][1] == tl.chunk(0, 2).text  # type: ignore[union-attr]
    assert (citation.recording_index, citation.chunk_index, citation.minutage) == (0, 2, "00:09")
    assert analysis.output.points_controle[0].statut is PointStatus.PRESENT
    assert analysis.usage.calls == 3


async def test_the_tool_loop_is_bounded_and_the_last_call_must_answer(
    standin: OpenAiStandIn, make_auditor: Any
) -> None:
    def obsessive(body: dict[str, Any]) -> Reply:
        if body["tool_choice"] == "none":
            return Reply(content=json.dumps(step_answer(control_points(body))))
        return Reply(tool_calls=[(SEARCH_TOOL, {"query": "encore", "max_results": None, "min_term_length": None})])

    standin.responder = obsessive
    config = LlmConfig(model=MODEL, max_tool_steps=3, backoff_base=0.01, backoff_max=0.05)
    analysis = await analyse(make_auditor(config), timeline(SALE_CALL), mode=TranscriptMode.TOOLS)
    assert not analysis.failed
    assert [s.body["tool_choice"] for s in standin.seen] == ["required", "auto", "none"]


async def test_tools_mode_on_an_empty_timeline_falls_back_to_prompt_mode(
    standin: OpenAiStandIn, make_auditor: Any
) -> None:
    analysis = await analyse(make_auditor(), Timeline("1", ()), mode=TranscriptMode.TOOLS)
    assert analysis.transcript_mode is TranscriptMode.PROMPT
    assert "tools" not in standin.seen[0].body


async def test_invalid_json_gets_one_repair_request(standin: OpenAiStandIn, make_auditor: Any) -> None:
    standin.script.append(Reply(content='{"traite": tru'))
    analysis = await analyse(make_auditor(), timeline(SALE_CALL))
    assert not analysis.failed
    repair = standin.seen[1].body["messages"]
    assert [m["role"] for m in repair] == ["system", "user", "assistant", "user"]
    assert repair[2]["content"] == '{"traite": tru'
    assert "n'est pas un JSON valide" in repair[3]["content"]
    assert analysis.usage.calls == 2


async def test_invalid_twice_is_a_failed_analysis_with_the_fallback(standin: OpenAiStandIn, make_auditor: Any) -> None:
    standin.script.extend([Reply(content="not json"), Reply(content='{"traite": true}')])
    analysis = await analyse(make_auditor(), timeline(SALE_CALL))
    assert_failed_with_fallback(analysis)
    assert "schema" in (analysis.error or "")
    assert "repair" in (analysis.error or "")
    assert len(standin.seen) == 2
    assert analysis.usage.calls == 2  # the tokens spent are still reported


async def test_a_refusal_fails_the_step_with_its_text(standin: OpenAiStandIn, make_auditor: Any) -> None:
    standin.script.append(Reply(refusal="Je ne peux pas analyser cet appel."))
    analysis = await analyse(make_auditor(), timeline(SALE_CALL))
    assert_failed_with_fallback(analysis)
    assert "Je ne peux pas analyser cet appel." in (analysis.error or "")
    assert len(standin.seen) == 1


async def test_429_waits_at_least_retry_after(standin: OpenAiStandIn, make_auditor: Any) -> None:
    standin.script.append(Reply(status=429, headers={"Retry-After": "1"}))
    analysis = await analyse(make_auditor(), timeline(SALE_CALL))
    assert not analysis.failed
    throttled, retried = standin.seen
    assert throttled.status == 429
    assert retried.status == 200
    assert retried.at - throttled.at >= 1.0  # measured on the server's clock


async def test_a_5xx_is_retried(standin: OpenAiStandIn, make_auditor: Any) -> None:
    standin.script.append(Reply(status=500))
    analysis = await analyse(make_auditor(), timeline(SALE_CALL))
    assert not analysis.failed
    assert [s.status for s in standin.seen] == [500, 200]


async def test_persistent_5xx_fail_after_max_attempts(standin: OpenAiStandIn, make_auditor: Any) -> None:
    standin.script.extend([Reply(status=503)] * 3)
    analysis = await analyse(
        make_auditor(LlmConfig(model=MODEL, max_attempts=3, backoff_base=0.01, backoff_max=0.02)), timeline(SALE_CALL)
    )
    assert_failed_with_fallback(analysis)
    assert "HTTP 503" in (analysis.error or "")
    assert len(standin.seen) == 3


async def test_timeouts_fail_the_step(standin: OpenAiStandIn, make_auditor: Any) -> None:
    standin.script.extend([Reply(delay=1.5), Reply(delay=1.5)])
    config = LlmConfig(model=MODEL, request_timeout=0.3, max_attempts=2, backoff_base=0.01, backoff_max=0.02)
    analysis = await analyse(make_auditor(config), timeline(SALE_CALL))
    assert_failed_with_fallback(analysis)
    assert "timed out after 0.3 s" in (analysis.error or "")
    assert len(standin.seen) == 2


async def test_a_refused_key_is_not_retried_and_not_echoed(standin: OpenAiStandIn, make_auditor: Any) -> None:
    wrong = "sk-wrong-key-abcdefghijklmnop"
    analysis = await analyse(make_auditor(key=wrong), timeline(SALE_CALL))
    standin.violations.clear()  # the stand-in recorded the bad key on purpose
    assert_failed_with_fallback(analysis)
    assert "HTTP 401" in (analysis.error or "")
    assert wrong not in (analysis.error or "")
    assert len(standin.seen) == 1


async def test_cost_comes_from_the_price_table(standin: OpenAiStandIn, make_auditor: Any) -> None:
    auditor, tl = make_auditor(), long_timeline()
    analyses = [await analyse(auditor, tl, p) for p in (1, 2)]
    for analysis, seen in zip(analyses, standin.seen, strict=True):
        usage = analysis.usage
        assert usage.input_tokens == seen.prompt_tokens
        assert usage.cached_input_tokens == seen.cached_tokens
        fresh = usage.input_tokens - usage.cached_input_tokens
        expected = (fresh * 2.0 + usage.cached_input_tokens * 0.5 + usage.output_tokens * 8.0) / 1_000_000
        assert usage.cost_usd == pytest.approx(expected)
    assert analyses[1].usage.cost_usd < analyses[0].usage.cost_usd  # the cached prefix is cheaper


async def test_the_redis_cap_bounds_calls_in_flight_across_clients(standin: OpenAiStandIn, make_auditor: Any) -> None:
    def slow(body: dict[str, Any]) -> Reply:
        return Reply(content=json.dumps(step_answer(control_points(body))), delay=0.3)

    standin.responder = slow
    config = LlmConfig(model=MODEL, concurrency=2, backoff_base=0.01, backoff_max=0.05)
    # Two auditors (two HTTP clients, as two processes would have) share the cap through Redis.
    auditors = [make_auditor(config), make_auditor(config)]
    tl = timeline(SALE_CALL)
    results = await asyncio.gather(*(analyse(auditors[i % 2], tl, 1 + i % 3) for i in range(6)))
    assert not any(r.failed for r in results)
    assert len(standin.seen) == 6
    assert standin.peak == 2


async def test_the_key_never_reaches_the_logs(
    standin: OpenAiStandIn, make_auditor: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    standin.script.append(Reply(status=500))
    analysis = await analyse(make_auditor(), timeline(SALE_CALL))
    assert not analysis.failed
    assert caplog.records  # the SDK and the HTTP client did log the exchange
    assert standin.key not in caplog.text


async def test_the_request_sent_is_the_one_the_sdks_create_would_send(aredis: aioredis.Redis) -> None:
    """`ChatClient` posts its body through the SDK's generic `post` (decision 111): the bytes, path and
    headers on the wire must stay those of `chat.completions.create` with the same arguments, and the
    answer be parsed the same."""
    sent: list[httpx2.Request] = []
    answer = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": MODEL,
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "{}"}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }

    def reply(request: httpx2.Request) -> httpx2.Response:
        sent.append(request)
        return httpx2.Response(200, json=answer)

    sdk = openai.AsyncOpenAI(
        api_key="sk-wire", base_url="http://llm.test/v1", max_retries=0,
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(reply)),
    )  # fmt: skip
    semaphore = LeaseSemaphore(aredis, SEMAPHORE_NAME, 2)
    client = ChatClient(sdk, semaphore, FAST, PriceTable({MODEL: PRICE}), SharedCooldown(aredis, SEMAPHORE_NAME))
    card = sample_scorecard()
    messages = prompt_messages(card, card.step(1), timeline(SALE_CALL))
    async with client:
        for tools, choice in ((None, None), (tool_definitions(), "required")):
            completion = await client.complete(messages, tools=tools, tool_choice=choice)
            assert completion.message.content == "{}"
            assert completion.usage.input_tokens == 3
            body = client.request(messages, tools=tools, tool_choice=choice)
            await sdk.chat.completions.create(**body, timeout=FAST.request_timeout)
            ours, theirs = sent[-2:]
            assert (ours.method, ours.url) == (theirs.method, theirs.url)
            # The same JSON document (only the order of the top-level keys may differ).
            assert json.loads(ours.content) == json.loads(theirs.content)
            assert json.loads(ours.content)["response_format"]["json_schema"]["strict"] is True
            wire = ("authorization", "content-type", "accept", "x-stainless-read-timeout")
            assert [ours.headers.get(h) for h in wire] == [theirs.headers.get(h) for h in wire]
