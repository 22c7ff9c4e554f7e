"""When to try again: a fixed schedule with jitter, `Retry-After` honoured within it (pure)."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence

#: Delays (seconds) after attempt 1, 2, ...: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (about 27 h in all).
DEFAULT_SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 36000)
JITTER = 0.2  # each delay is drawn in [delay * 0.8, delay * 1.2], so failed receivers are not hit in step


def next_attempt(
    now: dt.datetime,
    attempts_in_round: int,
    schedule: Sequence[int],
    *,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> dt.datetime | None:
    """When to retry after the `attempts_in_round`-th failed attempt; `None` once the schedule is spent."""
    index = attempts_in_round - 1
    if index < 0 or index >= len(schedule):
        return None
    delay = float(schedule[index])
    if retry_after is not None and retry_after > delay:
        delay = min(retry_after, float(max(schedule)))
    spread = (rng or random).uniform(1 - JITTER, 1 + JITTER)
    return now + dt.timedelta(seconds=delay * spread)


def parse_retry_after(value: str | None, now: dt.datetime) -> float | None:
    """Seconds from a `Retry-After` header (delta seconds or an HTTP date); `None` if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - now).total_seconds())
