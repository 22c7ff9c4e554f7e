"""Benchmark: input tokens of one audit (18 steps) per prompt layout, counted with the model's tokenizer.

No model is called: the prompts are the ones `OpenAiAuditor` sends, built from simulator fiches
(the demo CRM's reference transcripts, chunked like stored transcripts) and counted with quicktok's
`o200k_base` (the GPT-4o / GPT-5 encoding, byte-identical to tiktoken), plus the usual 3 tokens per
chat message and 3 to prime the reply. The structured-output schema is counted once per call in
every layout, the tool definitions once per call in tools mode.

Layouts compared, per audit:

* **prompt, shared prefix** (what we send): system + timeline first, step part last. The provider
  can serve the shared prefix from its cache for every step after the first; OpenAI caches from
  1,024 tokens in 128-token steps, which is applied. `cacheable_share` = cacheable tokens / input
  tokens (18 steps: at most 17/18 of the prefix).
* **prompt, step first** (nothing shared): the same text with the step part leading, the layout a
  prompt that starts with the step gets: every step pays the whole timeline at full price.
* **prompt, original layout** (reference §7.2): system prompt, timeline, step part, then the
  analysis rules; only system prompt + timeline are shared (the original's per-step excerpts of
  product-verification steps are left out, which flatters it).
* **tools mode**: the deterministic tool loop of the recommended strategy, played through
  `domain.audits.tools`: search with the step's name, keywords and control points; fetch the 5
  best chunks with ±1 neighbour; answer. Later calls of a step repeat the earlier ones as prefix.

The scorecard is the demo scorecard extended to 18 steps (its steps again, renamed). The last
line is `key=value`; `ratio` = bound / measured cacheable share (<= 1 meets the bound).

    .venv/bin/python benchmarks/audit_cost.py               # 24 fiches (two sales days)
    .venv/bin/python benchmarks/audit_cost.py --fiches 6    # a quick look
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import quicktok
from simulated import demo_scorecard, timelines

from domain.audits.prompts import (
    STEP_SEPARATOR,
    prompt_messages,
    step_part,
    system_message,
    tools_messages,
)
from domain.audits.schema import step_json_schema
from domain.audits.scorecard import ScorecardSpec, StepSpec
from domain.audits.timeline import Timeline, render_timeline
from domain.audits.tools import FETCH_TOOL, SEARCH_TOOL, get_transcript_chunks, search_transcript, tool_definitions
from resources.llm.pricing import DEFAULT_PRICES

STEPS = 18
BOUND_CACHEABLE_SHARE = 0.8
MODEL = "gpt-5.2"
PER_MESSAGE, PRIMING = 3, 3
CACHE_MIN, CACHE_STEP = 1024, 128
FETCH_TOP = 5

_encoding = quicktok.get_encoding("o200k_base")


def count(text: str) -> int:
    return len(_encoding.encode_ordinary(text))


def chat_tokens(messages: list[dict[str, Any]]) -> int:
    total = PRIMING
    for message in messages:
        total += PER_MESSAGE + count(message.get("content") or "")
        for call in message.get("tool_calls") or []:
            total += count(call["function"]["name"]) + count(call["function"]["arguments"])
    return total


def cacheable(prefix_tokens: int) -> int:
    """What OpenAI's automatic prompt caching can serve of a shared prefix."""
    return prefix_tokens // CACHE_STEP * CACHE_STEP if prefix_tokens >= CACHE_MIN else 0


SCHEMA_TOKENS = count(json.dumps(step_json_schema(), ensure_ascii=False))
TOOLS_TOKENS = count(json.dumps(tool_definitions(), ensure_ascii=False))


def eighteen_steps(card: ScorecardSpec) -> ScorecardSpec:
    steps = list(card.steps)
    for extra in card.steps[: STEPS - len(steps)]:
        steps.append(dataclasses.replace(extra, name=f"{extra.name} (second contrôle)"))
    renumbered = tuple(dataclasses.replace(step, position=n) for n, step in enumerate(steps, start=1))
    return dataclasses.replace(card, steps=renumbered)


@dataclass
class Tally:
    input_tokens: int = 0
    cacheable_tokens: int = 0
    calls: int = 0

    def add(self, tokens: int, cacheable_tokens: int = 0) -> None:
        self.input_tokens += tokens
        self.cacheable_tokens += cacheable_tokens
        self.calls += 1

    @property
    def fresh_tokens(self) -> int:
        return self.input_tokens - self.cacheable_tokens

    @property
    def share(self) -> float:
        return self.cacheable_tokens / self.input_tokens if self.input_tokens else 0.0

    def cost(self) -> float:
        price = DEFAULT_PRICES[MODEL]
        return (self.fresh_tokens * price.input + self.cacheable_tokens * price.cached_input) / 1_000_000


def prompt_shared(card: ScorecardSpec, tl: Timeline, tally: Tally) -> None:
    prefix = PER_MESSAGE + count(system_message(card, tools=False)) + count(render_timeline(tl) + STEP_SEPARATOR)
    for index, step in enumerate(card.steps):
        tokens = chat_tokens(prompt_messages(card, step, tl)) + SCHEMA_TOKENS
        tally.add(tokens, cacheable(prefix) if index else 0)


def prompt_step_first(card: ScorecardSpec, tl: Timeline, tally: Tally) -> None:
    for step in card.steps:
        text = f"{step_part(card, step)}\n\n{system_message(card, tools=False)}\n\n{render_timeline(tl)}"
        tally.add(chat_tokens([{"role": "user", "content": text}]) + SCHEMA_TOKENS)


def original_prompt(card: ScorecardSpec, step: StepSpec, tl: Timeline) -> tuple[str, str]:
    """The original's single prompt (reference §7.2) as (its system prompt, the rest): system prompt,
    timeline, step part, then the analysis rules; joined by a blank line."""
    rules = system_message(card, tools=False).removeprefix(card.system_prompt.strip())
    return card.system_prompt.strip(), f"{render_timeline(tl)}\n\n{step_part(card, step)}{rules}"


def prompt_original(card: ScorecardSpec, tl: Timeline, tally: Tally) -> None:
    head = f"{card.system_prompt.strip()}\n\n{render_timeline(tl)}\n\n"
    prefix = PRIMING + PER_MESSAGE + count(head)
    for index, step in enumerate(card.steps):
        text = "\n\n".join(original_prompt(card, step, tl))
        tally.add(chat_tokens([{"role": "user", "content": text}]) + SCHEMA_TOKENS, cacheable(prefix) if index else 0)


def _tool_turn(name: str, arguments: dict[str, Any], result: dict[str, Any], call_id: str) -> list[dict[str, Any]]:
    call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}
    return [
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call_id, "content": json.dumps(result, ensure_ascii=False)},
    ]


def tools_mode(card: ScorecardSpec, tl: Timeline, tally: Tally) -> None:
    for step in card.steps:
        messages = tools_messages(card, step)
        previous = 0
        query = " ".join([step.name, *step.keywords, *step.control_points])
        search_args = {"query": query, "max_results": None, "min_term_length": None}
        found = search_transcript(tl, query)
        refs = [{"recording_index": m["recording_index"], "chunk_index": m["chunk_index"]} for m in found["matches"]]
        fetch_args = {"chunks": refs[:FETCH_TOP], "include_neighbors": 1, "max_chars": None}
        fetched = get_transcript_chunks(tl, refs[:FETCH_TOP], 1)
        turns = [
            [],
            _tool_turn(SEARCH_TOOL, search_args, found, "call_1"),
            _tool_turn(FETCH_TOOL, fetch_args, fetched, "call_2"),
        ]
        for turn in turns:
            messages += turn
            tokens = chat_tokens(messages) + SCHEMA_TOKENS + TOOLS_TOKENS
            tally.add(tokens, cacheable(previous))
            previous = tokens - PRIMING  # the next call repeats this one as its prefix


@dataclass
class Results:
    fiches: int = 0
    chunks: int = 0
    timeline_tokens: int = 0
    tallies: dict[str, Tally] = field(default_factory=dict)


def run(fiches: int) -> Results:
    card = eighteen_steps(demo_scorecard())
    results = Results(tallies={name: Tally() for name in ("shared", "step_first", "original", "tools")})
    for timeline in timelines(fiches):
        results.fiches += 1
        results.chunks += timeline.total_chunks
        results.timeline_tokens += count(render_timeline(timeline))
        prompt_shared(card, timeline, results.tallies["shared"])
        prompt_step_first(card, timeline, results.tallies["step_first"])
        prompt_original(card, timeline, results.tallies["original"])
        tools_mode(card, timeline, results.tallies["tools"])
    return results


def report(results: Results, seconds: float) -> list[str]:
    n = results.fiches
    shared, first, original, tools = (results.tallies[k] for k in ("shared", "step_first", "original", "tools"))
    ratio = BOUND_CACHEABLE_SHARE / shared.share if shared.share else float("inf")
    rows = [
        ("prompt, shared prefix (ours)", shared),
        ("prompt, step first (nothing shared)", first),
        ("prompt, original layout (§7.2)", original),
        ("tools mode (search, fetch, answer)", tools),
    ]
    lines = [
        f"audit_cost — {date.today().isoformat()} — {platform.machine()} {platform.python_version()}",
        f"{n} simulator fiches, {STEPS}-step scorecard, tokenizer o200k_base, prices of {MODEL}",
        f"average timeline: {results.chunks / n:.0f} chunks, {results.timeline_tokens / n:.0f} tokens",
        f"per call: structured-output schema {SCHEMA_TOKENS} tokens, tool definitions {TOOLS_TOKENS} tokens",
        "",
        f"{'layout':38} {'calls':>6} {'input tokens':>13} {'cacheable':>10} {'USD input':>10}",
        "  (per audit; USD with cacheable tokens at the cached-input price)",
    ]
    for label, tally in rows:
        per_audit = f"{tally.calls / n:6.0f} {tally.input_tokens / n:13,.0f}"
        lines.append(f"{label:38} {per_audit} {tally.share:10.1%} {tally.cost() / n:10.4f}")
    lines += [
        "",
        f"input paid at full price vs step first: shared prefix {shared.fresh_tokens / first.input_tokens:.1%},"
        f" tools mode {tools.fresh_tokens / first.input_tokens:.1%}",
        f"elapsed {seconds:.1f} s",
        "",
        f"fiches={n} steps={STEPS} prompt_shared_tokens={shared.input_tokens // n} "
        f"prompt_unshared_tokens={first.input_tokens // n} original_tokens={original.input_tokens // n} "
        f"tools_tokens={tools.input_tokens // n} cacheable_share={shared.share:.3f} "
        f"original_cacheable_share={original.share:.3f} tools_cacheable_share={tools.share:.3f} "
        f"bound_cacheable_share={BOUND_CACHEABLE_SHARE} ratio={ratio:.3f}",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--fiches", type=int, default=24)
    args = parser.parse_args()
    started = time.monotonic()
    results = run(args.fiches)
    print("\n".join(report(results, time.monotonic() - started)))


if __name__ == "__main__":
    main()
