"""The chat model: streamed Chat Completions from an OpenAI-compatible endpoint (`domain.chat.answer.ChatModel`).

Same endpoint, key, price table, provider-wide Redis semaphore and shared 429 cool-down (`llm`,
decision 90) as audits (`resources.llm.client`): a chat answer holds one slot while it streams, waits
out a cool-down another caller started, and a 429 (or `Retry-After`) it gets before its stream opened
makes every caller of the endpoint wait, then is retried (up to ATTEMPTS calls, while the wait is no
longer than a person waits for a slot). Text deltas are handed on
as they arrive; tool calls are assembled from their fragments and handed on only once the stream
has ended, complete; usage comes with the last chunk (`stream_options.include_usage`). No retry
once the stream has opened (text may have reached the user); the SDK error is classified like audit
calls (a message safe to show), except a connection lost once the stream had started: that is an
interrupted answer, not an unreachable endpoint. Closing the iterator early (the client left) closes
the HTTP response, which stops the generation at the provider.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import openai
from redis.asyncio import Redis as AsyncRedis

from domain.audits.auditor import Usage
from domain.chat.answer import Finished, ModelEvent, TextDelta, ToolCall
from resources.http.keys import normalise_key
from resources.llm.client import SEMAPHORE_NAME, classify, usage_of
from resources.llm.errors import LlmError, LlmUnavailable
from resources.llm.pricing import PriceTable
from resources.llm.resource import KEYLESS_PLACEHOLDER
from resources.redis import LeaseSemaphore, SemaphoreTimeout, SharedCooldown, lease_covering

if TYPE_CHECKING:
    import httpx2  # the HTTP client of the openai SDK (not httpx)

    from callaudit.settings import Settings


#: Calls one answer's model request may take when throttled before its stream opened.
ATTEMPTS = 3


@dataclass(frozen=True)
class ChatConfig:
    model: str = "gpt-5.2"
    temperature: float = 0.0
    max_tokens: int = 3000  # per model call
    request_timeout: float = 300.0
    concurrency: int = 8
    slot_wait: float = 60.0  # a person is waiting: give up sooner than an audit step
    max_steps: int = 8  # model calls of one answer (transcript tools, then the answer)
    context_budget: int = 60_000  # tokens of any one request


def chat_config(settings: Settings) -> ChatConfig:
    return ChatConfig(
        model=settings.openai_model_chat,
        temperature=settings.openai_temperature_chat,
        max_tokens=settings.openai_max_tokens_chat,
        request_timeout=settings.llm_request_timeout_seconds,
        concurrency=settings.llm_max_concurrency,
        max_steps=settings.audit_tools_max_steps,
        context_budget=settings.chat_context_token_budget,
    )


def interrupted(exc: openai.APIConnectionError, timeout: float) -> str:
    """Why an answer stream that had started stopped (its connection broke, or it went silent)."""
    if isinstance(exc, openai.APITimeoutError):
        return f"the model's answer stream was interrupted: nothing received for {timeout:g} s"
    return "the model's answer stream was interrupted: the connection was lost"


def chat_llm_configured(settings: Settings) -> bool:
    """A model answers when a key or an endpoint is set; otherwise chat answers extractively."""
    key = normalise_key(settings.openai_api_key.get_secret_value() if settings.openai_api_key else None)
    return bool(key or settings.openai_base_url)


@dataclass
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: str = ""


class OpenAiChatModel:
    def __init__(
        self,
        sdk: openai.AsyncOpenAI,
        semaphore: LeaseSemaphore,
        config: ChatConfig,
        prices: PriceTable,
        cooldown: SharedCooldown,
    ):
        self.config = config
        self._sdk = sdk
        self._semaphore = semaphore
        self._prices = prices
        self._cooldown = cooldown

    @property
    def model(self) -> str:
        return self.config.model

    async def aclose(self) -> None:
        await self._sdk.close()

    def request(self, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": list(messages),
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": self.config.temperature,
            "max_completion_tokens": self.config.max_tokens,
        }
        if tools:
            body["tools"] = list(tools)
            body["tool_choice"] = "auto"
        return body

    async def stream(
        self, messages: Sequence[dict[str, Any]], *, tools: Sequence[dict[str, Any]]
    ) -> AsyncIterator[ModelEvent]:
        body = self.request(messages, tools)
        calls: dict[int, _PartialCall] = {}
        usage, finish = Usage(calls=1), ""
        opened = False
        try:
            async with self._semaphore.slot(wait_timeout=self.config.slot_wait):
                stream = await self._open(body)
                opened = True
                async with stream:
                    async for chunk in stream:
                        if chunk.usage is not None:
                            usage = self._usage(chunk.usage)
                        for choice in chunk.choices:
                            delta = choice.delta
                            if delta.content:
                                yield TextDelta(delta.content)
                            for fragment in delta.tool_calls or []:
                                call = calls.setdefault(fragment.index, _PartialCall())
                                call.id = fragment.id or call.id
                                if fragment.function is not None:
                                    call.name = fragment.function.name or call.name
                                    call.arguments += fragment.function.arguments or ""
                            finish = choice.finish_reason or finish
        except SemaphoreTimeout:
            raise LlmError(f"every model call slot stayed taken for {self.config.slot_wait:g} s") from None
        except openai.APIConnectionError as exc:
            if opened:  # the endpoint was reached and answering: not "could not be reached"
                raise LlmUnavailable(interrupted(exc, self.config.request_timeout)) from None
            raise classify(exc, self.config.request_timeout) from None
        except openai.APIError as exc:
            raise classify(exc, self.config.request_timeout) from None
        for _, call in sorted(calls.items()):
            yield ToolCall(call.id, call.name, call.arguments)
        yield Finished(usage, finish)

    async def _open(self, body: dict[str, Any]) -> openai.AsyncStream[Any]:
        """The answer's stream, once no cool-down is in force; a throttled call (nothing shown yet)
        starts the shared cool-down for every caller and is made again after it."""
        attempt = 0
        while True:
            attempt += 1
            await self._cooldown.wait()
            try:
                stream: openai.AsyncStream[Any] = await self._sdk.chat.completions.create(
                    **body, timeout=self.config.request_timeout
                )
                return stream
            except openai.APIStatusError as exc:
                error = classify(exc, self.config.request_timeout)
                if error.status != 429 and error.retry_after is None:
                    raise
                wait = error.retry_after if error.retry_after is not None else 1.0
                await self._cooldown.extend(wait, reason=f"HTTP {error.status}")
                if attempt >= ATTEMPTS or wait > self.config.slot_wait:
                    raise

    def _usage(self, reported: Any) -> Usage:
        return usage_of(reported, self._prices, self.config.model)


def build_chat_model(
    settings: Settings, redis: AsyncRedis, *, http_client: httpx2.AsyncClient | None = None
) -> OpenAiChatModel:
    """The chat model of the settings (`chat_llm_configured` must hold); close it with `aclose`."""
    config = chat_config(settings)
    sdk = openai.AsyncOpenAI(
        api_key=normalise_key(settings.openai_api_key.get_secret_value() if settings.openai_api_key else None)
        or KEYLESS_PLACEHOLDER,
        base_url=settings.openai_base_url or None,
        timeout=config.request_timeout,
        max_retries=0,  # text may already be on screen: no silent second answer
        http_client=http_client,
    )
    semaphore = LeaseSemaphore(
        redis, SEMAPHORE_NAME, config.concurrency, lease_seconds=lease_covering(config.request_timeout)
    )
    prices = PriceTable.from_setting(settings.llm_prices)
    return OpenAiChatModel(sdk, semaphore, config, prices, SharedCooldown(redis, SEMAPHORE_NAME))
