"""`benchmarks/audit_quality.py` measures the OpenAI-compatible path on the same harness as the
heuristic one: the real client against the local stand-in (any vLLM / Ollama / LiteLLM server in use),
timelines with inferred roles in the prompts, every answer gated and scored against the labels."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from resources.llm.config import LlmConfig
from resources.llm.pricing import PriceTable
from resources.llm.resource import openai_auditor
from tests.fixtures.standins.llm import OpenAiStandIn, prompt_text

BENCHMARKS = str(Path(__file__).resolve().parents[3] / "benchmarks")
if BENCHMARKS not in sys.path:
    sys.path.insert(0, BENCHMARKS)

MODEL = "gpt-test"


@pytest.fixture
def standin() -> Iterator[OpenAiStandIn]:
    with OpenAiStandIn(model=MODEL) as server:
        yield server
        assert server.violations == []


async def test_the_llm_path_is_measured_on_the_labelled_corpus(standin: OpenAiStandIn, aredis: aioredis.Redis) -> None:
    from audit_quality import SCORECARDS, load_scorecard, render, run_harness
    from evaluation.corpus import build_corpus

    scorecard = load_scorecard(SCORECARDS["demo"])
    fiches = build_corpus("demo", "dev", 1)
    config = LlmConfig(model=MODEL, backoff_base=0.01, backoff_max=0.05, request_timeout=5.0)
    auditor = openai_auditor(config, aredis, api_key=standin.key, base_url=standin.base_url, prices=PriceTable({}))
    try:
        report = await run_harness(auditor, scorecard, "demo", "dev", fiches, concurrency=2)
    finally:
        await auditor.aclose()
    assert len(standin.seen) == len(scorecard.steps)  # one request per step
    prompts = [prompt_text(seen.body["messages"]) for seen in standin.seen]
    assert all("(conseiller)" in p and "(client)" in p for p in prompts), "roles inferred, then sent"
    assert report.fiches == 1
    assert report.pooled.total == sum(len(s.control_points) for s in scorecard.steps)
    assert report.parse_cpu == 0.0
    lines = render(report, scorecard, per_point=False)
    assert lines[0] == f"== demo / dev half: openai ({MODEL}), 1 fiches =="
    assert not any("parse" in line for line in lines), "an LLM auditor parses nothing: no parse figure"
