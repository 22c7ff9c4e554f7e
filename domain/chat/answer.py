"""One chat answer from a model, streamed: text deltas out, citations gathered, tools run, budget kept.

The model is a port (`ChatModel`): `resources.llm.chat` implements it over an OpenAI-compatible
streaming endpoint, tests with a stand-in. Each request of the loop is checked against the budget
before it is sent; transcript tool results are cut to the room left (`fit_tool_result`), and the
last request allowed offers only the citation tool, so the loop always ends with an answer.

Text deltas pass through `MarkerFilter`, so what reaches the client never holds a marker or a
piece of one; citations (tool calls, complete only once the stream ends; inline markers too) are
validated against the timeline at the end, for the one citations frame and the stored message.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from domain.audits.auditor import Usage
from domain.audits.timeline import Timeline
from domain.audits.tools import run_tool
from domain.chat.citations import CITE_TOOL, CitationClaim, cite_tool_definition, parse_claims, parse_marker, validate
from domain.chat.context import FOLLOW_UP_RESERVE, ContextPlan, TranscriptMode, fit_tool_result, request_tokens
from domain.chat.framing import MarkerFilter

CITED_NOTE = '{"ok": true, "note": "Citations reçues."}'
WRITE_NOW = "Citations reçues. Rédige maintenant la réponse (texte seul, sans marqueur)."


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class Finished:
    usage: Usage
    finish_reason: str = "stop"


ModelEvent = TextDelta | ToolCall | Finished


class ChatModel(Protocol):
    """A streaming chat model; closing the iterator early must stop the call."""

    @property
    def model(self) -> str: ...

    def stream(
        self, messages: Sequence[dict[str, Any]], *, tools: Sequence[dict[str, Any]]
    ) -> AsyncIterator[ModelEvent]: ...


class BudgetExceeded(RuntimeError):
    """A request would not fit the context budget even reduced to the citation tool (never expected)."""


@dataclass
class Answer:
    """What the loop produced, complete once `answer` is exhausted."""

    text: str = ""
    citations: list[dict[str, Any]] = field(default_factory=list)
    rejected: int = 0
    usage: Usage = field(default_factory=Usage)
    mode: TranscriptMode = "prompt"
    context_tokens: int = 0  # the largest request sent


@dataclass
class _Gathered:
    """Citation claims of the whole answer and the text shown so far."""

    claims: list[CitationClaim] = field(default_factory=list)
    unusable: int = 0
    shown: list[str] = field(default_factory=list)

    def add(self, found: tuple[list[CitationClaim], int]) -> None:
        self.claims += found[0]
        self.unusable += found[1]

    @property
    def has_text(self) -> bool:
        return bool("".join(self.shown).strip())


def _tools_for(
    messages: Sequence[dict[str, Any]], offered: list[dict[str, Any]], last: bool, budget: int
) -> tuple[list[dict[str, Any]], int]:
    """The tools of the next request and its size: only the citation tool on the last one, or when
    the transcript tools would not fit; `BudgetExceeded` when even that does not fit."""
    cite_only = [cite_tool_definition()]
    tools = cite_only if last else offered
    tokens = request_tokens(messages, tools)
    if tokens > budget and tools is not cite_only:
        tools, tokens = cite_only, request_tokens(messages, cite_only)
    if tokens > budget:
        raise BudgetExceeded(f"the next request needs {tokens} tokens, over the budget of {budget}")
    return tools, tokens


def _tool_answers(
    messages: list[dict[str, Any]],
    calls: Sequence[ToolCall],
    timeline: Timeline,
    plan: ContextPlan,
    *,
    budget: int,
    write_now: bool,
) -> None:
    for call in calls:
        if call.name == CITE_TOOL:
            messages.append(_tool_message(call, WRITE_NOW if write_now else CITED_NOTE))
            continue
        # Room for this result: what the next request may hold, minus the answers still due after it.
        room = budget - request_tokens(messages, plan.tools) - FOLLOW_UP_RESERVE
        messages.append(_tool_message(call, fit_tool_result(run_tool(timeline, call.name, call.arguments), room)))


async def answer(
    model: ChatModel,
    plan: ContextPlan,
    timeline: Timeline,
    *,
    budget: int,
    max_steps: int,
    min_quote_chars: int,
    result: Answer,
) -> AsyncIterator[str]:
    """Yields the text to show, as it comes; fills `result` (text, citations, usage...) along the way."""
    messages = list(plan.messages)
    result.mode = plan.mode
    gathered = _Gathered()
    markers = MarkerFilter()
    for step in range(max_steps):
        last = step == max_steps - 1
        tools, tokens = _tools_for(messages, plan.tools, last, budget)
        result.context_tokens = max(result.context_tokens, tokens)
        calls: list[ToolCall] = []
        raw_text: list[str] = []
        async for event in model.stream(messages, tools=tools):
            if isinstance(event, TextDelta):
                raw_text.append(event.text)
                if visible := markers.feed(event.text):
                    gathered.shown.append(visible)
                    yield visible
            elif isinstance(event, ToolCall):
                calls.append(event)
            else:
                result.usage = result.usage + event.usage
        if tail := markers.flush():
            gathered.shown.append(tail)
            yield tail
        for raw in markers.markers:
            gathered.add(parse_marker(raw))
        markers.markers.clear()
        for call in calls:
            if call.name == CITE_TOOL:
                gathered.add(parse_claims(call.arguments))
        reading = [c for c in calls if c.name != CITE_TOOL]
        if last or not calls or (not reading and gathered.has_text):
            break
        messages.append(_assistant_turn("".join(raw_text), calls))
        write_now = not reading and not gathered.has_text
        _tool_answers(messages, calls, timeline, plan, budget=budget, write_now=write_now)
    validated = validate(gathered.claims, timeline, min_quote_chars=min_quote_chars)
    result.text = "".join(gathered.shown).strip()
    result.citations = validated.citations
    result.rejected = validated.rejected + gathered.unusable


def _assistant_turn(content: str, calls: Sequence[ToolCall]) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": content or None,
        "tool_calls": [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}} for c in calls
        ],
    }


def _tool_message(call: ToolCall, content: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call.id, "content": content}
