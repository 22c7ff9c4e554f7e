"""One structured-output Chat Completions call, bounded: global cap, retries, timeouts, usage and cost.

API style: Chat Completions (`/chat/completions`) with `response_format=json_schema` (strict) and
function tools, not the Responses API the original used. It is the API every OpenAI-compatible
server implements (vLLM, Ollama, LiteLLM, llama.cpp...), so `OPENAI_BASE_URL` can point at any of
them; OpenAI supports both.

The body goes through the SDK's generic `post` (its documented way to send a request it does not
type), not `chat.completions.create`: `create` walks the whole body (messages, schema) through its
TypedDict transform on every call, 1.9 ms of CPU a call for a body already in the wire's shape, and
the audit run's CPU per call is what keeps the LLM cap full (decision 111). Transport, key, errors
and the parsed `ChatCompletion` are the SDK's as before; a test pins that what is sent is what
`create` would send (the same JSON, the same headers).

Retries are ours, not the SDK's (`max_retries=0`), so that they are not stacked and so that each
attempt holds a slot of the provider-wide Redis semaphore (`llm`) only while it is in flight:
back-off sleeps happen outside it. The wait before a retry is a decorrelated-jitter back-off, at
least the provider's `Retry-After` (`retry-after-ms` too); a `Retry-After` beyond `retry_after_max`
gives up at once rather than holding a step for minutes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import openai
from openai.types.chat import ChatCompletion, ChatCompletionMessage

from domain.audits.auditor import Usage
from domain.audits.schema import step_json_schema
from resources.http.retry import DecorrelatedJitter, parse_retry_after
from resources.llm.config import LlmConfig
from resources.llm.errors import LlmBadResponse, LlmError, LlmRequestError, LlmUnavailable
from resources.llm.pricing import PriceTable
from resources.redis import LeaseSemaphore, SemaphoreTimeout, SharedCooldown

SEMAPHORE_NAME = "llm"
RETRYABLE_STATUSES = frozenset({408, 409, 429})


def response_format() -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "audit_step", "strict": True, "schema": step_json_schema()}}


@dataclass(frozen=True)
class Completion:
    message: ChatCompletionMessage
    finish_reason: str
    usage: Usage


def _retry_after(headers: Any) -> float | None:
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    return parse_retry_after(headers.get("retry-after"))


def _error_text(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else None
        if isinstance(message, str):
            return message
    return exc.message


def classify(exc: openai.APIError, timeout: float) -> LlmError:
    """The SDK's exception as one of ours, with a message safe to store."""
    if isinstance(exc, openai.APITimeoutError):
        return LlmUnavailable(f"the model call timed out after {timeout:g} s")
    if isinstance(exc, openai.APIConnectionError):
        return LlmUnavailable("the model endpoint could not be reached")
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        text = f"the model endpoint answered HTTP {status}: {_error_text(exc)}"
        if status in RETRYABLE_STATUSES or status >= 500:
            return LlmUnavailable(text, status=status, retry_after=_retry_after(exc.response.headers))
        return LlmRequestError(text, status=status)
    return LlmBadResponse(f"unusable answer from the model endpoint ({type(exc).__name__})")


class ChatClient:
    """Structured step answers from one OpenAI-compatible endpoint; an async context manager."""

    def __init__(
        self,
        sdk: openai.AsyncOpenAI,
        semaphore: LeaseSemaphore,
        config: LlmConfig,
        prices: PriceTable,
        cooldown: SharedCooldown,
    ):
        self.config = config
        self._sdk = sdk
        self._semaphore = semaphore
        self._cooldown = cooldown
        self._prices = prices
        self._response_format = response_format()  # one copy per client: the request body is only serialised

    async def __aenter__(self) -> ChatClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._sdk.close()

    def request(
        self, messages: Sequence[dict[str, Any]], *, tools: list[dict[str, Any]] | None, tool_choice: str | None
    ) -> dict[str, Any]:
        """The request body (minus transport options): always the step schema as structured output."""
        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": list(messages),
            "response_format": self._response_format,
        }
        if self.config.reasoning_effort:
            body["reasoning_effort"] = self.config.reasoning_effort
        else:
            body["temperature"] = self.config.temperature
        if tools:
            body["tools"] = tools
            body["tool_choice"] = tool_choice or "auto"
        return body

    async def complete(
        self,
        messages: Sequence[dict[str, Any]],
        *,
        tools: list[dict[str, Any]] | None = None,
        tool_choice: str | None = None,
    ) -> Completion:
        """One answer, retrying transient failures; raises `LlmError` when it gives up.

        `SemaphoreUnavailable` (Redis down: the global cap cannot hold) propagates: it is no
        provider failure, and no step can proceed safely.
        """
        body = self.request(messages, tools=tools, tool_choice=tool_choice)
        delays = DecorrelatedJitter(self.config.backoff_base, self.config.backoff_max)
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._attempt(body)
            except LlmError as exc:
                retry_after = exc.retry_after or 0.0
                if not exc.retryable or attempt >= self.config.max_attempts:
                    raise
                if retry_after > self.config.retry_after_max:
                    raise LlmUnavailable(
                        f"{exc} (Retry-After {retry_after:g} s is too long)", status=exc.status
                    ) from None
                delay = max(delays.next_delay(), retry_after)
                if exc.status == 429 or exc.retry_after is not None:
                    # Throttled: every caller of the endpoint backs off, not only this one.
                    await self._cooldown.extend(delay, reason=f"HTTP {exc.status}")
                await asyncio.sleep(delay)
                continue
            return self._completion(response)

    async def _attempt(self, body: dict[str, Any]) -> ChatCompletion:
        try:
            async with self._semaphore.slot(wait_timeout=self.config.slot_wait):
                # A 429 elsewhere may have started a cooldown while this caller queued for the slot.
                await self._cooldown.wait()
                # The SDK's timeout applies per read; this bounds the call, as the slot's lease assumes.
                async with asyncio.timeout(self.config.request_timeout):
                    return await self._sdk.post(
                        "/chat/completions",
                        body=body,
                        cast_to=ChatCompletion,
                        options={"timeout": self.config.request_timeout},
                    )
        except TimeoutError:
            raise LlmUnavailable(f"the model call timed out after {self.config.request_timeout:g} s") from None
        except SemaphoreTimeout:
            raise LlmError(f"every model call slot stayed taken for {self.config.slot_wait:g} s") from None
        except openai.APIError as exc:
            raise classify(exc, self.config.request_timeout) from None

    def _completion(self, response: ChatCompletion) -> Completion:
        usage = self.usage(response)
        if not response.choices:
            raise LlmBadResponse("the model endpoint answered without any choice")
        choice = response.choices[0]
        return Completion(choice.message, choice.finish_reason or "", usage)

    def usage(self, response: ChatCompletion) -> Usage:
        reported = response.usage
        return Usage(calls=1) if reported is None else usage_of(reported, self._prices, self.config.model)


def usage_of(reported: Any, prices: PriceTable, model: str) -> Usage:
    """One call's `Usage` from the usage an OpenAI-compatible endpoint reported (cached tokens included)."""
    details = reported.prompt_tokens_details
    cached = (details.cached_tokens if details else None) or 0
    return Usage(
        input_tokens=reported.prompt_tokens,
        cached_input_tokens=cached,
        output_tokens=reported.completion_tokens,
        cost_usd=prices.cost(
            model,
            input_tokens=reported.prompt_tokens,
            cached_input_tokens=cached,
            output_tokens=reported.completion_tokens,
        ),
        calls=1,
    )
