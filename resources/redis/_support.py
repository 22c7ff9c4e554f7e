"""Pieces shared by the locks, the semaphore, the rate limiter and the streams: names, back-off, jitter."""

from __future__ import annotations

import random
import re
import time

# Names end up inside Redis keys (and, for the semaphore, inside a `{hash tag}`) and event types in
# SSE `event:` lines: a closed alphabet keeps braces, spaces and newlines out of both.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9:_.\-]{0,199}")

# Jitter only spreads retries; it needs no cryptographic quality, but SystemRandom keeps it
# independent of any seeding done by the application.
_jitter = random.SystemRandom()


def jitter(upper: float) -> float:
    """A random delay in [0, upper) seconds."""
    return _jitter.uniform(0, upper)


def check_name(kind: str, value: str) -> str:
    """`value` if it is a valid name: letters, digits and `:_-.`, at most 200 characters."""
    if not _NAME.fullmatch(value):
        raise ValueError(f"invalid {kind} {value!r}: use letters, digits and ':_-.' (at most 200 characters)")
    return value


class Backoff:
    """Sleep durations for polling until a deadline: exponential, with jitter, never past the deadline.

    Shared by the sync and async pollers so that both wait the same way; jitter keeps many waiters
    that started together from retrying in lock-step.
    """

    def __init__(self, wait_timeout: float, *, initial: float = 0.01, cap: float = 0.5) -> None:
        if wait_timeout < 0:
            raise ValueError("wait_timeout must be >= 0")
        self._deadline = time.monotonic() + wait_timeout
        self._delay = initial
        self._cap = cap

    def next_delay(self) -> float | None:
        """How long to sleep before the next attempt, or None when the deadline has passed."""
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            return None
        delay = self._delay / 2 + _jitter.uniform(0, self._delay / 2)
        self._delay = min(self._cap, self._delay * 2)
        return min(delay, remaining)
