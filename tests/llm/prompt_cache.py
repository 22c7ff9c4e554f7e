"""OpenAI's automatic prompt caching as documented, for the local stand-in and the benchmarks.

* A prompt's prefix is cached once it reaches 1,024 tokens, then in steps of 128 (1,024, 1,152, ...):
  a request is served the longest such prefix some earlier request wrote.
* A prefix is written by a request once that request has been processed, and serves only requests
  that start afterwards: requests in flight together share nothing.
* The cached part is reported in `usage.prompt_tokens_details.cached_tokens`.

Tokens are counted as 4 characters each (the stand-in does not tokenise). Prefixes are kept as
digests of every 128-token boundary, so a lookup costs one pass over the prompt, not one comparison
per earlier prompt.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

CHARS_PER_TOKEN = 4
CACHE_MIN_TOKENS = 1024
CACHE_STEP_TOKENS = 128


def prompt_tokens(prompt: str) -> int:
    return len(prompt) // CHARS_PER_TOKEN


def cacheable(shared_tokens: int) -> int:
    """What of a shared prefix the provider serves from its cache: 0 under 1,024, else 128-token steps."""
    return shared_tokens // CACHE_STEP_TOKENS * CACHE_STEP_TOKENS if shared_tokens >= CACHE_MIN_TOKENS else 0


def boundaries(prompt: str) -> list[tuple[int, bytes]]:
    """(tokens, digest of the prompt's first `tokens` tokens) at every cacheable boundary, shortest first."""
    step = CACHE_STEP_TOKENS * CHARS_PER_TOKEN
    digest = hashlib.blake2b(digest_size=16)
    out = []
    for end in range(step, len(prompt) + 1, step):
        digest.update(prompt[end - step : end].encode())
        tokens = end // CHARS_PER_TOKEN
        if tokens >= CACHE_MIN_TOKENS:
            out.append((tokens, digest.copy().digest()))
    return out


@dataclass
class PromptCache:
    """The prefixes written so far. `lookup` when a request starts, `write` once it has been processed."""

    _written: set[bytes] = field(default_factory=set)

    def lookup(self, prompt: str) -> int:
        cached = 0
        for tokens, key in boundaries(prompt):
            if key not in self._written:
                break
            cached = tokens
        return cached

    def write(self, prompt: str) -> None:
        self._written.update(key for _, key in boundaries(prompt))
