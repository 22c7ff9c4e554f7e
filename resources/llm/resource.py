"""The audit model as a Dagster resource, and `build_auditor` for code outside Dagster (API, CLI).

Which auditor: `AUDIT_AUDITOR` when set; otherwise `openai` as soon as `OPENAI_API_KEY` **or**
`OPENAI_BASE_URL` is set (a local server such as vLLM or Ollama needs no key; a placeholder is
then sent), else the deterministic `heuristic` auditor. The key is given to Dagster as
`dg.EnvVar` so it is never stored in run config; it is normalised and never logged.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Literal

import dagster as dg
from pydantic import Field
from redis.asyncio import Redis as AsyncRedis

from domain.audits.auditor import Auditor
from resources.http.keys import normalise_key
from resources.llm.config import LlmConfig, llm_config
from resources.llm.pricing import PriceTable
from resources.redis import LeaseSemaphore, SharedCooldown, lease_covering

if TYPE_CHECKING:
    from callaudit.settings import Settings
    from resources.llm.auditor import OpenAiAuditor

AuditorKind = Literal["openai", "heuristic"]
KEYLESS_PLACEHOLDER = "no-key"  # the SDK insists on a key; keyless servers ignore it
_DEFAULTS = LlmConfig()


def auditor_kind(settings: Settings) -> AuditorKind:
    if settings.audit_auditor is not None:
        return settings.audit_auditor
    key = normalise_key(settings.openai_api_key.get_secret_value() if settings.openai_api_key else None)
    return "openai" if key or settings.openai_base_url else "heuristic"


def openai_auditor(
    config: LlmConfig, redis: AsyncRedis, *, api_key: str | None, base_url: str | None, prices: PriceTable
) -> OpenAiAuditor:
    """An auditor with its own HTTP client; create it inside the event loop that uses it, close it after."""
    # The SDK is imported here, not at the top: every run process loads the whole code location, and
    # the runs that never call the model (sync, transcription) would pay its import (decision 94).
    import openai

    from resources.llm.auditor import OpenAiAuditor
    from resources.llm.client import SEMAPHORE_NAME, ChatClient

    sdk = openai.AsyncOpenAI(
        api_key=normalise_key(api_key) or KEYLESS_PLACEHOLDER,
        base_url=base_url or None,
        timeout=config.request_timeout,
        max_retries=0,  # ChatClient retries, holding the global slot only while a call is in flight
    )
    lease = lease_covering(config.request_timeout)
    semaphore = LeaseSemaphore(redis, SEMAPHORE_NAME, config.concurrency, lease_seconds=lease)
    return OpenAiAuditor(ChatClient(sdk, semaphore, config, prices, SharedCooldown(redis, SEMAPHORE_NAME)))


def _heuristic() -> Auditor:
    from domain.audits.heuristic import HeuristicAuditor

    return HeuristicAuditor()


def build_auditor(settings: Settings, redis: AsyncRedis) -> Auditor:
    """The configured auditor (see the module docstring); an `OpenAiAuditor` should be closed (`aclose`)."""
    if auditor_kind(settings) == "heuristic":
        return _heuristic()
    return openai_auditor(
        llm_config(settings),
        redis,
        api_key=settings.openai_api_key.get_secret_value() if settings.openai_api_key else None,
        base_url=settings.openai_base_url,
        prices=PriceTable.from_setting(settings.llm_prices),
    )


class LlmResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The audit model and its bounds; `auditor(redis)` inside the asset's loop gives the `Auditor`.

    Tests of assets replace it with a subclass whose `auditor` returns a fake.
    """

    kind: AuditorKind = "heuristic"
    api_key: str | None = None
    base_url: str | None = None
    model: str = _DEFAULTS.model
    temperature: float = Field(default=_DEFAULTS.temperature, ge=0, le=2)
    reasoning_effort: str | None = None
    request_timeout_seconds: float = Field(default=_DEFAULTS.request_timeout, gt=0)
    max_attempts: int = Field(default=_DEFAULTS.max_attempts, ge=1)
    concurrency: int = Field(default=_DEFAULTS.concurrency, ge=1)
    max_tool_steps: int = Field(default=_DEFAULTS.max_tool_steps, ge=2)
    prices_json: str | None = None  # LLM_PRICES, as JSON

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> LlmResource:
        config = llm_config(settings)
        values: dict[str, object] = {
            "kind": auditor_kind(settings),
            "api_key": dg.EnvVar("OPENAI_API_KEY") if settings.openai_api_key else None,
            "base_url": settings.openai_base_url,
            "model": config.model,
            "temperature": config.temperature,
            "reasoning_effort": config.reasoning_effort,
            "request_timeout_seconds": config.request_timeout,
            "max_attempts": config.max_attempts,
            "concurrency": config.concurrency,
            "max_tool_steps": config.max_tool_steps,
            "prices_json": json.dumps(settings.llm_prices) if settings.llm_prices else None,
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    def config(self) -> LlmConfig:
        return LlmConfig(
            model=self.model,
            temperature=self.temperature,
            reasoning_effort=self.reasoning_effort,
            request_timeout=self.request_timeout_seconds,
            max_attempts=self.max_attempts,
            concurrency=self.concurrency,
            max_tool_steps=self.max_tool_steps,
        )

    @asynccontextmanager
    async def auditor(self, redis: AsyncRedis) -> AsyncIterator[Auditor]:
        """`async with llm.auditor(redis) as auditor:` inside the asset's event loop; closes its HTTP client."""
        if self.kind == "heuristic":
            yield _heuristic()
            return
        prices = PriceTable.from_setting(json.loads(self.prices_json) if self.prices_json else None)
        async with openai_auditor(
            self.config(), redis, api_key=self.api_key, base_url=self.base_url, prices=prices
        ) as auditor:
            yield auditor
