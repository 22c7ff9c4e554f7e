"""The price table: built-in defaults, `LLM_PRICES` overrides, snapshots, unknown models."""

from __future__ import annotations

import pytest

from resources.llm.pricing import DEFAULT_PRICES, Price, PriceTable


def test_cost_splits_fresh_and_cached_input() -> None:
    table = PriceTable({"m": Price(input=2.0, cached_input=0.5, output=8.0)})
    cost = table.cost("m", input_tokens=1_000_000, cached_input_tokens=600_000, output_tokens=10_000)
    assert cost == pytest.approx(0.4 * 2.0 + 0.6 * 0.5 + 0.01 * 8.0)


def test_dated_snapshots_use_their_longest_listed_prefix_and_unknown_models_are_free() -> None:
    table = PriceTable.from_setting(None)
    assert table.price("gpt-4o-mini-2024-07-18") == DEFAULT_PRICES["gpt-4o-mini"]
    assert table.price("gpt-4o-2024-08-06") == DEFAULT_PRICES["gpt-4o"]
    assert table.price("llama-3.1-70b") is None
    assert table.cost("llama-3.1-70b", input_tokens=10**6, cached_input_tokens=0, output_tokens=10**6) == 0.0


def test_the_setting_overrides_and_extends_the_defaults() -> None:
    table = PriceTable.from_setting({"gpt-4o": {"input": 1.0, "output": 3.0}, "local": {"input": 0.1}})
    assert table.price("gpt-4o") == Price(1.0, 1.0, 3.0)  # cached input defaults to the input price
    assert table.price("local") == Price(0.1, 0.1, 0.0)
    assert table.price("gpt-5.2") == DEFAULT_PRICES["gpt-5.2"]


def test_cached_tokens_never_exceed_input_tokens() -> None:
    table = PriceTable({"m": Price(1.0, 0.0, 0.0)})
    assert table.cost("m", input_tokens=100, cached_input_tokens=500, output_tokens=0) == 0.0
