"""Bounds and sampling of audit model calls, as one value built from settings or a resource."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from callaudit.settings import Settings


@dataclass(frozen=True)
class LlmConfig:
    """`temperature` is not sent when `reasoning_effort` is set: reasoning models accept only their default."""

    model: str = "gpt-5.2"
    temperature: float = 0.0
    reasoning_effort: str | None = None
    request_timeout: float = 300.0  # one HTTP call, seconds
    max_attempts: int = 4  # per call, on 408 / 409 / 429 / 5xx / timeouts / connection errors
    backoff_base: float = 1.0
    backoff_max: float = 30.0
    retry_after_max: float = 120.0  # a longer Retry-After gives up at once instead of holding the step
    concurrency: int = 8  # model calls in flight across every process (Redis semaphore `llm`)
    slot_wait: float = 600.0  # how long a call waits for a slot before the step fails
    max_tool_steps: int = 8  # model calls of one tools-mode step, the final answer included

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.concurrency < 1 or self.max_tool_steps < 2:
            raise ValueError("max_attempts and concurrency must be >= 1, max_tool_steps >= 2")


def llm_config(settings: Settings) -> LlmConfig:
    return LlmConfig(
        model=settings.openai_model_audit,
        temperature=settings.openai_temperature_audit,
        reasoning_effort=settings.openai_reasoning_effort_audit,
        request_timeout=settings.llm_request_timeout_seconds,
        max_attempts=settings.llm_max_attempts,
        concurrency=settings.llm_max_concurrency,
        max_tool_steps=settings.audit_tools_max_steps,
    )
