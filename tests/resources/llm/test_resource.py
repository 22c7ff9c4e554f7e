"""Choosing the auditor from settings, and the Dagster resource driving the real client."""

from __future__ import annotations

import asyncio
from pathlib import Path

import dagster as dg
import pytest
import redis.asyncio as aioredis

from callaudit.settings import Settings, load_settings
from domain.audits.auditor import TranscriptMode
from domain.audits.heuristic import HeuristicAuditor
from resources.llm.auditor import OpenAiAuditor
from resources.llm.config import llm_config
from resources.llm.resource import KEYLESS_PLACEHOLDER, LlmResource, auditor_kind, build_auditor
from tests.fixtures.factories.timelines import SALE_CALL, sample_scorecard, timeline
from tests.fixtures.standins.llm import OpenAiStandIn, Reply

LLM_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AUDIT_AUDITOR", "LLM_PRICES", "OPENAI_REASONING_EFFORT_AUDIT")


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the developer
    for name in LLM_ENV:
        monkeypatch.delenv(name, raising=False)


def settings(**values: object) -> Settings:
    return load_settings(**values)


@pytest.mark.usefixtures("settings_env")
@pytest.mark.parametrize(
    ("values", "kind"),
    [
        ({}, "heuristic"),
        ({"openai_api_key": "sk-abc"}, "openai"),
        ({"openai_api_key": " '' "}, "heuristic"),  # a pasted empty key is no key
        ({"openai_base_url": "http://127.0.0.1:8000/v1"}, "openai"),  # keyless local server
        ({"openai_api_key": "sk-abc", "audit_auditor": "heuristic"}, "heuristic"),
    ],
)
def test_auditor_kind(values: dict[str, object], kind: str) -> None:
    assert auditor_kind(settings(**values)) == kind


@pytest.mark.usefixtures("settings_env")
async def test_build_auditor(aredis: aioredis.Redis) -> None:
    assert isinstance(build_auditor(settings(), aredis), HeuristicAuditor)
    configured = settings(openai_api_key="sk-abc", openai_model_audit="gpt-4o", llm_max_concurrency=3)
    auditor = build_auditor(configured, aredis)
    assert isinstance(auditor, OpenAiAuditor)
    assert auditor.model == "gpt-4o"
    await auditor.aclose()


@pytest.mark.usefixtures("settings_env")
def test_resource_from_settings_keeps_the_key_out_of_run_config() -> None:
    configured = settings(
        openai_api_key="sk-secret-value",
        openai_reasoning_effort_audit="low",
        audit_tools_max_steps=5,
        llm_prices={"gpt-5.2": {"input": 1.0}},
    )
    resource = LlmResource.from_settings(configured)
    assert resource.kind == "openai"
    assert isinstance(resource.api_key, dg.EnvVar)
    assert "sk-secret-value" not in repr(resource)
    assert resource.config() == llm_config(configured)
    assert resource.config().max_tool_steps == 5


async def test_the_resource_drives_the_real_client(aredis: aioredis.Redis) -> None:
    with OpenAiStandIn(model="m1") as server:
        resource = LlmResource(
            kind="openai", api_key=server.key, base_url=server.base_url, model="m1", reasoning_effort="low"
        )
        async with resource.auditor(aredis) as auditor:
            card = sample_scorecard()
            analysis = await auditor.analyze_step(card, card.steps[0], timeline(SALE_CALL), mode=TranscriptMode.PROMPT)
        assert server.violations == []
    assert not analysis.failed
    (seen,) = server.seen
    assert seen.body["reasoning_effort"] == "low"
    assert "temperature" not in seen.body


async def test_a_keyless_local_server_gets_a_placeholder_key(aredis: aioredis.Redis) -> None:
    with OpenAiStandIn(model="local", key=KEYLESS_PLACEHOLDER) as server:
        resource = LlmResource(kind="openai", base_url=server.base_url, model="local")
        async with resource.auditor(aredis) as auditor:
            card = sample_scorecard()
            analysis = await auditor.analyze_step(card, card.steps[0], timeline(SALE_CALL), mode=TranscriptMode.PROMPT)
        assert server.violations == []
    assert not analysis.failed


async def test_the_heuristic_resource_needs_no_endpoint(aredis: aioredis.Redis) -> None:
    async with LlmResource(kind="heuristic").auditor(aredis) as auditor:
        assert isinstance(auditor, HeuristicAuditor)


@pytest.mark.usefixtures("settings_env")
def test_dagster_resolves_the_key_at_run_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")
    seen: dict[str, object] = {}

    @dg.asset
    def probe(llm: LlmResource) -> None:
        seen.update(kind=llm.kind, key=llm.api_key, model=llm.config().model)

    resource = LlmResource.from_settings(settings(openai_model_audit="gpt-4o"))
    assert dg.materialize([probe], resources={"llm": resource}).success
    assert seen == {"kind": "openai", "key": "sk-from-the-environment", "model": "gpt-4o"}


async def test_a_429_makes_every_auditor_wait(aredis: aioredis.Redis) -> None:
    """Shared back-off: another auditor (another process) does not call before the Retry-After is over."""
    with OpenAiStandIn(model="m1") as server:
        server.script.append(Reply(status=429, headers={"Retry-After": "1"}))
        resource = LlmResource(kind="openai", api_key=server.key, base_url=server.base_url, model="m1")
        card = sample_scorecard()
        async with resource.auditor(aredis) as first, resource.auditor(aredis) as second:
            throttled = asyncio.create_task(
                first.analyze_step(card, card.steps[0], timeline(SALE_CALL), mode=TranscriptMode.PROMPT)
            )
            for _ in range(50):  # until the first auditor has stored the cooldown (none without sharing)
                if await aredis.exists("llm:cooldown"):
                    break
                await asyncio.sleep(0.01)
            await second.analyze_step(card, card.steps[0], timeline(SALE_CALL), mode=TranscriptMode.PROMPT)
            await throttled
        told, *after = server.seen
    assert [seen.status for seen in after] == [200, 200]
    assert all(seen.at - told.at >= 1 for seen in after), [seen.at - told.at for seen in after]
