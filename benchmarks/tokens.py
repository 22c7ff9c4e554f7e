"""Benchmark: tokens and money of 18-step audits, our call order against the original's, through a caching provider.

The same audits are sent twice, each time to a fresh OpenAI-compatible stand-in (`tests/fixtures/standins/llm.py`)
that models OpenAI's prompt caching as documented (`tests/fixtures/standins/prompt_cache.py`): a prefix of 1,024
tokens or more is cached in 128-token steps, and serves only requests that start after the request
that wrote it has been processed; the cached part is reported in `usage.prompt_tokens_details`.

* **ours**: the product's `OpenAiAuditor` (the real client, Redis semaphore, price table) in the
  order `AuditEngine` uses: system message and timeline first (the shared prefix), one step first,
  then the other 17 at once.
* **original** (reference §7.2 and §7.10): one prompt per step, system prompt, timeline, step part,
  then the analysis rules (`audit_cost.original_prompt`; the system prompt sent as the system message,
  the rest as the user message, the same text in the same order), every step fired at once.

Fiches come from the held-apart evaluation corpus (`benchmarks/evaluation/`, test half) for the
original's own 18-point scorecard, audited one after another in both runs. The stand-in answers
every step with the same schema-valid analysis whatever the layout, so agreement (kappa) is the same
in both runs by construction: the comparison is of what each order costs for the same answers.
Tokens are counted by the stand-in (4 characters each), the same rule for both.

Billed-equivalent input = uncached + cached x (cached price / input price) from the price table
(`--model`, gpt-5.2 by default). Output tokens are those of the same answers in both runs (the
original's `reasoningEffort=high` would add reasoning tokens to its side, not counted here). The
last line is `key=value`; `token_ratio` = original / ours billed-equivalent input (goal >= 3),
`ratio` = 3 / token_ratio (<= 1 meets it).

    .venv/bin/python benchmarks/tokens.py              # 20 fiches
    .venv/bin/python benchmarks/tokens.py --fiches 4   # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import platform
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import redis.asyncio as aioredis
from audit_cost import original_prompt
from audit_quality import SCORECARDS, load_scorecard, with_roles
from evaluation.corpus import build_corpus
from openai.types.chat import ChatCompletionSystemMessageParam, ChatCompletionUserMessageParam

from callaudit.embedded import EmbeddedRedis
from domain.audits.auditor import TranscriptMode
from domain.audits.schema import step_json_schema
from domain.audits.scorecard import ScorecardSpec
from domain.audits.timeline import Timeline
from resources.llm.config import LlmConfig
from resources.llm.pricing import DEFAULT_PRICES, Price, PriceTable
from resources.llm.resource import openai_auditor

ROOT = Path(__file__).resolve().parent.parent
GOAL = 3.0


@dataclass
class Tally:
    input_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    calls: int = 0

    def add(self, input_tokens: int, cached: int, output: int) -> None:
        self.input_tokens += input_tokens
        self.cached_tokens += cached
        self.output_tokens += output
        self.calls += 1

    def billed_input(self, price: Price) -> float:
        return self.input_tokens - self.cached_tokens + self.cached_tokens * price.cached_input / price.input

    def cost(self, price: Price) -> float:
        fresh = self.input_tokens - self.cached_tokens
        return (fresh * price.input + self.cached_tokens * price.cached_input + self.output_tokens * price.output) / 1e6


Work = list[tuple[ScorecardSpec, Timeline]]


async def ours(args: argparse.Namespace, standin: Any, redis: aioredis.Redis, work: Work) -> Tally:
    tally = Tally()
    config = LlmConfig(model=args.model, concurrency=args.cap, request_timeout=60)
    prices = PriceTable(DEFAULT_PRICES)
    auditor = openai_auditor(config, redis, api_key=standin.key, base_url=standin.base_url, prices=prices)
    try:
        for card, tl in work:

            async def step(position: int, card: ScorecardSpec = card, tl: Timeline = tl) -> None:
                analysis = await auditor.analyze_step(card, card.step(position), tl, mode=TranscriptMode.PROMPT)
                assert not analysis.failed, analysis.error
                usage = analysis.usage
                tally.add(usage.input_tokens, usage.cached_input_tokens, usage.output_tokens)

            await step(1)  # as `AuditEngine`: one step writes the shared prefix, then the others read it
            await asyncio.gather(*(step(s.position) for s in card.steps[1:]))
    finally:
        await auditor.aclose()
    return tally


async def original(args: argparse.Namespace, standin: Any, work: Work) -> Tally:
    tally = Tally()
    schema: Any = {
        "type": "json_schema",
        "json_schema": {"name": "audit_step", "strict": True, "schema": step_json_schema()},
    }
    async with openai.AsyncOpenAI(api_key=standin.key, base_url=standin.base_url, max_retries=0) as sdk:
        for card, tl in work:

            async def step(position: int, card: ScorecardSpec = card, tl: Timeline = tl) -> None:
                system, user = original_prompt(card, card.step(position), tl)
                response = await sdk.chat.completions.create(
                    model=args.model,
                    messages=[
                        ChatCompletionSystemMessageParam(role="system", content=system),
                        ChatCompletionUserMessageParam(role="user", content=user),
                    ],
                    response_format=schema,
                    temperature=0,
                )
                usage = response.usage
                assert usage is not None
                details = usage.prompt_tokens_details
                tally.add(usage.prompt_tokens, details.cached_tokens or 0 if details else 0, usage.completion_tokens)

            await asyncio.gather(*(step(s.position) for s in card.steps))  # §7.10: every step fanned out at once
    return tally


@contextlib.contextmanager
def stand_in(args: argparse.Namespace) -> Any:
    sys.path.insert(0, str(ROOT))  # `tests` is not an installed package
    from tests.fixtures.standins.llm import OpenAiStandIn, Reply, control_points, step_answer

    def answer(body: dict[str, Any]) -> Reply:
        return Reply(content=json.dumps(step_answer(control_points(body)), ensure_ascii=False), delay=args.latency)

    with OpenAiStandIn(model=args.model) as server:
        server.responder = answer
        yield server
        assert server.violations == [], server.violations


async def measure(args: argparse.Namespace, work: Work) -> dict[str, Tally]:
    with tempfile.TemporaryDirectory(prefix="bench-tokens-") as tmp:
        server = EmbeddedRedis(Path(tmp))
        server.start()
        try:
            url = server.url()
            assert url
            redis = aioredis.Redis.from_url(url)
            with stand_in(args) as fresh:
                ours_tally = await ours(args, fresh, redis, work)
            with stand_in(args) as fresh:
                original_tally = await original(args, fresh, work)
            await redis.aclose()
        finally:
            server.stop()
    return {"ours": ours_tally, "original": original_tally}


@dataclass(frozen=True)
class Comparison:
    """Both orders' tallies over the same audits, and what they are measured against."""

    tallies: dict[str, Tally]
    price: Price
    fiches: int
    steps: int
    minutes: float

    @property
    def token_ratio(self) -> float:
        return self.tallies["original"].billed_input(self.price) / self.tallies["ours"].billed_input(self.price)

    @property
    def cost_ratio(self) -> float:
        return self.tallies["original"].cost(self.price) / self.tallies["ours"].cost(self.price)


def compare(fiches: int, *, model: str = "gpt-5.2", latency: float = 1.0, cap: int = 20) -> Comparison:
    """The same 18-step audits of `fiches` test-half fiches, in our order and in the original's."""
    card = load_scorecard(SCORECARDS["nca18"])
    work = [(card, with_roles(fiche)) for fiche in build_corpus("nca18", "test", fiches)]
    minutes = sum(r.duration_seconds or 0.0 for _, tl in work for r in tl.recordings) / 60
    args = argparse.Namespace(model=model, latency=latency, cap=cap)
    tallies = asyncio.run(measure(args, work))
    return Comparison(tallies, DEFAULT_PRICES[model], len(work), len(card.steps), minutes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fiches", type=int, default=20)
    parser.add_argument("--model", default="gpt-5.2", help="a model of the price table")
    parser.add_argument("--latency", type=float, default=1.0, help="seconds per model call (as in day.py)")
    parser.add_argument("--cap", type=int, default=20, help="our model calls in flight at once")
    args = parser.parse_args()
    comparison = compare(args.fiches, model=args.model, latency=args.latency, cap=args.cap)
    tallies, price, n, minutes = comparison.tallies, comparison.price, comparison.fiches, comparison.minutes

    print(f"tokens — {platform.machine()} {platform.python_version()}; {n} fiches of the evaluation corpus "
          f"(nca18, test half), {comparison.steps} steps, {minutes / n:.1f} audited minutes per fiche")  # fmt: skip
    print(f"prices of {args.model}: input {price.input}, cached input {price.cached_input}, output {price.output} "
          f"USD per 1M tokens (cached ratio {price.cached_input / price.input:.3f})")  # fmt: skip
    print("order       calls  input/audit  cached  billed-eq input/audit  output/audit  USD/audit  USD/audited min")
    for name, tally in tallies.items():
        print(
            f"{name:<10} {tally.calls:>6} {tally.input_tokens / n:>12,.0f} "
            f"{tally.cached_tokens / tally.input_tokens:>7.1%} "
            f"{tally.billed_input(price) / n:>22,.0f} {tally.output_tokens / n:>13,.0f} {tally.cost(price) / n:>10.4f} "
            f"{tally.cost(price) / minutes:>16.5f}"
        )
    ours_t, original_t = tallies["ours"], tallies["original"]
    token_ratio, cost_ratio = comparison.token_ratio, comparison.cost_ratio
    print(f"original / ours: billed-equivalent input {token_ratio:.2f}x, cost {cost_ratio:.2f}x (goal >= {GOAL:g}x)")
    print(
        f"fiches={n} steps={comparison.steps} ours_input={ours_t.input_tokens} ours_cached={ours_t.cached_tokens} "
        f"original_input={original_t.input_tokens} original_cached={original_t.cached_tokens} "
        f"ours_billed={ours_t.billed_input(price):.0f} original_billed={original_t.billed_input(price):.0f} "
        f"output={ours_t.output_tokens} ours_usd_per_audit={ours_t.cost(price) / n:.4f} "
        f"original_usd_per_audit={original_t.cost(price) / n:.4f} ours_usd_per_min={ours_t.cost(price) / minutes:.5f} "
        f"original_usd_per_min={original_t.cost(price) / minutes:.5f} token_ratio={token_ratio:.2f} "
        f"cost_ratio={cost_ratio:.2f} bound_token_ratio={GOAL:g} ratio={GOAL / token_ratio:.3f}"
    )


if __name__ == "__main__":
    main()
