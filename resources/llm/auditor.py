"""`OpenAiAuditor`: one scorecard step analysed by an OpenAI-compatible model (reference §7.2).

Prompt mode sends the timeline in the prompt, laid out so all steps of an audit share their prefix
(`domain.audits.prompts`). Tools mode runs a bounded tool loop: the first call must call a tool,
intermediate ones may, the last may not; tools run locally over the timeline. Tools mode on an
empty timeline falls back to prompt mode, and the analysis records the mode actually used.

The answer is validated against `StepOutput`; an invalid one gets one repair request. Whatever
fails (provider errors after retries, refusal, invalid answer twice) gives a `failed` analysis with
the schema-valid fallback and a sanitised error; the tokens spent are still reported.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from domain.audits.auditor import StepAnalysis, TranscriptMode, Usage
from domain.audits.prompts import PROMPT_VERSION, prompt_messages, repair_message, tools_messages
from domain.audits.schema import StepOutput, fallback_step
from domain.audits.scorecard import ScorecardSpec, StepSpec
from domain.audits.timeline import Timeline
from domain.audits.tools import ToolLimits, run_tool, tool_definitions
from resources.llm.client import ChatClient, Completion
from resources.llm.errors import LlmBadResponse, LlmError, LlmRefusal


class _Tally:
    """Usage of the calls made so far for one step, kept when a later call fails."""

    def __init__(self) -> None:
        self.usage = Usage()

    def add(self, completion: Completion) -> Completion:
        self.usage = self.usage + completion.usage
        return completion


def _validation_summary(exc: ValidationError) -> str:
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": str(exc)}
    where = ".".join(str(part) for part in first["loc"]) or "racine"
    return f"{exc.error_count()} erreur(s), ex. {where}: {first['msg']}"


def _parse(completion: Completion) -> StepOutput:
    message = completion.message
    if message.refusal:
        raise LlmRefusal(f"the model refused: {message.refusal}")
    if not message.content:
        raise LlmBadResponse(
            "empty answer" + (" (output cut at the token limit)" if completion.finish_reason == "length" else "")
        )
    try:
        return StepOutput.model_validate_json(message.content)
    except ValidationError as exc:
        raise LlmBadResponse(f"answer does not match the step schema: {_validation_summary(exc)}") from None


def _assistant_turn(completion: Completion) -> dict[str, Any]:
    """The model's tool-calling turn as it must be replayed in the next request."""
    message = completion.message
    return {
        "role": "assistant",
        "content": message.content,
        "tool_calls": [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.function.name, "arguments": call.function.arguments},
            }
            for call in message.tool_calls or []
            if call.type == "function"
        ],
    }


class OpenAiAuditor:
    """The `Auditor` of an OpenAI-compatible endpoint; close it (`aclose` / `async with`) when done."""

    name = "openai"
    prompt_version = PROMPT_VERSION
    #: Prompt mode (the default) shares the system + timeline prefix across the steps of an audit.
    shares_prompt_prefix = True

    def __init__(self, client: ChatClient, *, tool_limits: ToolLimits | None = None) -> None:
        self.model: str | None = client.config.model
        self._client = client
        self._tool_limits = tool_limits or ToolLimits()

    async def __aenter__(self) -> OpenAiAuditor:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def analyze_step(
        self, scorecard: ScorecardSpec, step: StepSpec, timeline: Timeline, *, mode: TranscriptMode
    ) -> StepAnalysis:
        effective = (
            TranscriptMode.TOOLS if mode is TranscriptMode.TOOLS and not timeline.is_empty else TranscriptMode.PROMPT
        )
        tally = _Tally()
        try:
            if effective is TranscriptMode.TOOLS:
                output = await self._tools_mode(scorecard, step, timeline, tally)
            else:
                output = await self._answer(prompt_messages(scorecard, step, timeline), tally)
        except LlmError as exc:
            error = str(exc)
            return StepAnalysis(
                fallback_step(step.control_points, error), tally.usage, effective, failed=True, error=error
            )
        return StepAnalysis(output, tally.usage, effective)

    async def _answer(
        self,
        messages: list[dict[str, Any]],
        tally: _Tally,
        *,
        tools: list[dict[str, Any]] | None = None,
        first: Completion | None = None,
    ) -> StepOutput:
        """Parse the final answer (`first`, or a new call), with one repair request if it is invalid."""
        completion = first or tally.add(await self._client.complete(messages, tools=tools, tool_choice="none"))
        try:
            return _parse(completion)
        except LlmRefusal:
            raise
        except LlmBadResponse as exc:
            invalid = {"role": "assistant", "content": completion.message.content or ""}
            retry = [*messages, invalid, repair_message(str(exc))]
            repaired = tally.add(await self._client.complete(retry, tools=tools, tool_choice="none"))
            try:
                return _parse(repaired)
            except LlmBadResponse as again:
                raise LlmBadResponse(f"{again} (after one repair request)") from None

    async def _tools_mode(
        self, scorecard: ScorecardSpec, step: StepSpec, timeline: Timeline, tally: _Tally
    ) -> StepOutput:
        messages = tools_messages(scorecard, step)
        tools = tool_definitions()
        last = self._client.config.max_tool_steps - 1
        for index in range(last):
            choice = "required" if index == 0 else "auto"
            completion = tally.add(await self._client.complete(messages, tools=tools, tool_choice=choice))
            calls = [call for call in completion.message.tool_calls or [] if call.type == "function"]
            if not calls:
                return await self._answer(messages, tally, tools=tools, first=completion)
            messages.append(_assistant_turn(completion))
            for call in calls:
                result = run_tool(timeline, call.function.name, call.function.arguments, limits=self._tool_limits)
                messages.append(
                    {"role": "tool", "tool_call_id": call.id, "content": json.dumps(result, ensure_ascii=False)}
                )
        # The tool budget is spent: the last call may not call tools, only answer.
        return await self._answer(messages, tally, tools=tools)
