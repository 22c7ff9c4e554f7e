"""The stand-in's model of OpenAI prompt caching (`tests.fixtures.standins.prompt_cache`)."""

from __future__ import annotations

from tests.fixtures.standins.prompt_cache import CHARS_PER_TOKEN, PromptCache, cacheable


def text(tokens: int, fill: str = "a") -> str:
    return fill * (tokens * CHARS_PER_TOKEN)


def test_nothing_is_cached_under_1024_tokens_then_in_128_token_steps() -> None:
    assert [cacheable(n) for n in (0, 1023, 1024, 1151, 1152, 5000)] == [0, 0, 1024, 1024, 1152, 4992]


def test_a_prefix_serves_only_requests_that_start_after_its_writer_was_processed() -> None:
    cache, prompt = PromptCache(), text(3000) + "step 1"
    assert cache.lookup(prompt) == 0  # first request
    assert cache.lookup(text(3000) + "step 2") == 0  # started while the first was in flight
    cache.write(prompt)
    assert cache.lookup(text(3000) + "step 3") == 2944


def test_the_longest_shared_prefix_counts_and_a_different_start_shares_nothing() -> None:
    cache = PromptCache()
    cache.write(text(1100) + text(900, "b"))
    cache.write(text(1500) + text(100, "c"))
    assert cache.lookup(text(1500) + text(500, "d")) == 1408
    assert cache.lookup(text(1100) + text(800, "b") + "x") == 1792
    assert cache.lookup("z" + text(3000)) == 0


def test_a_prompt_under_the_minimum_writes_nothing() -> None:
    cache, short = PromptCache(), text(1000)
    cache.write(short)
    assert cache.lookup(short + text(500)) == 0
