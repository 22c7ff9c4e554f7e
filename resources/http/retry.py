"""Timing pieces of the retry loop: the call's deadline, jittered back-off and `Retry-After`.

Decorrelated jitter (AWS Architecture Blog, "Exponential Backoff and Jitter") keeps each delay at
least `base` while spreading callers that failed together, so a gateway that is struggling under load
does not get all its callers back at the same instant.
"""

from __future__ import annotations

import asyncio
import math
import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# Jitter spreads retries; it needs no cryptographic quality, only independence from app seeding.
_jitter = random.SystemRandom()


class Deadline:
    """The end of a call's budget, on the event loop's clock (the one `asyncio.timeout_at` uses)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = asyncio.get_running_loop().time() + seconds

    def remaining(self) -> float:
        return max(0.0, self.at - asyncio.get_running_loop().time())


class DecorrelatedJitter:
    """Delays `min(cap, uniform(base, 3 x previous))`: about x2 per retry on average, never below `base`."""

    def __init__(self, base: float, cap: float) -> None:
        self._base = base
        self._cap = cap
        self._previous = base

    def next_delay(self) -> float:
        self._previous = min(self._cap, _jitter.uniform(self._base, self._previous * 3))
        return self._previous


def spread(seconds: float) -> float:
    """`seconds` plus up to 10 % (at most 1 s), so waiters released by one deadline do not all fire at once."""
    return seconds + _jitter.uniform(0, min(1.0, seconds / 10))


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds or an HTTP date (RFC 9110 10.2.3).

    None when absent or unreadable; a date in the past gives 0.
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:  # RFC 9110 dates are GMT
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)
