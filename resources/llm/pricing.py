"""What model calls cost: USD per million tokens, for fresh input, cached input and output.

The defaults are list prices of a few OpenAI models when this was written; they change, so any
deployment that reports costs should set its own table with `LLM_PRICES` (JSON, same shape as
`DEFAULT_PRICES`). A model missing from the table costs 0 (self-hosted servers usually do).
Dated snapshots (`gpt-4o-2024-08-06`) use the price of their longest listed prefix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PER_MILLION = 1_000_000


@dataclass(frozen=True)
class Price:
    input: float
    cached_input: float
    output: float


DEFAULT_PRICES: dict[str, Price] = {
    "gpt-5.2": Price(1.75, 0.175, 14.0),
    "gpt-5.1": Price(1.25, 0.125, 10.0),
    "gpt-5": Price(1.25, 0.125, 10.0),
    "gpt-5-mini": Price(0.25, 0.025, 2.0),
    "gpt-4.1": Price(2.0, 0.5, 8.0),
    "gpt-4.1-mini": Price(0.4, 0.1, 1.6),
    "gpt-4o": Price(2.5, 1.25, 10.0),
    "gpt-4o-mini": Price(0.15, 0.075, 0.6),
}


class PriceTable:
    def __init__(self, prices: Mapping[str, Price]) -> None:
        self._prices = dict(prices)

    @classmethod
    def from_setting(cls, raw: Mapping[str, Mapping[Any, float]] | None) -> PriceTable:
        """`LLM_PRICES` entries override (or add to) the defaults; an omitted field defaults to the input price
        (cached input) or 0 (input, output)."""
        prices = dict(DEFAULT_PRICES)
        for model, entry in (raw or {}).items():
            fresh = float(entry.get("input", 0.0))
            prices[model] = Price(fresh, float(entry.get("cached_input", fresh)), float(entry.get("output", 0.0)))
        return cls(prices)

    def price(self, model: str) -> Price | None:
        if model in self._prices:
            return self._prices[model]
        prefixes = [name for name in self._prices if model.startswith(name + "-")]
        return self._prices[max(prefixes, key=len)] if prefixes else None

    def cost(self, model: str, *, input_tokens: int, cached_input_tokens: int, output_tokens: int) -> float:
        """USD of one call; `input_tokens` includes the cached ones, as providers report it."""
        price = self.price(model)
        if price is None:
            return 0.0
        cached = min(cached_input_tokens, input_tokens)
        return (
            (input_tokens - cached) * price.input + cached * price.cached_input + output_tokens * price.output
        ) / PER_MILLION
