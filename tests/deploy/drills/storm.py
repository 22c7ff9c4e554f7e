"""An upstream's storm for the drills: per request a 429 with `Retry-After`, a hang past the client's
timeout, or the normal answer; and what the upstream saw of its callers' back-off.

Used by the speech-to-text stand-in (`benchmarks/transcribe.py --storm`) and the LLM stand-in's
responder in `tests/deploy/drills/test_day_storm.py`. Both serve from one event loop, so the counters need
no lock. A request that hangs counts as in flight until its client has gone, as the demo CRM
simulator counts it: the peak the upstream reports includes them.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Literal

Fault = Literal["rate_limited", "timeout", "ok"]


@dataclass
class Storm:
    rate_limit_rate: float = 0.0
    timeout_rate: float = 0.0
    retry_after: int = 1
    grace: float = 0.5
    """Seconds after a 429 during which arrivals are excused: requests already on their way."""
    seed: int = 0
    rate_limited: int = 0
    timed_out: int = 0
    in_cooldown: int = 0
    """Arrivals inside a `Retry-After` window, more than `grace` after the 429 that opened it."""
    _rng: random.Random = field(init=False, repr=False)
    _opened: float = field(default=float("-inf"), init=False, repr=False)
    _quiet_until: float = field(default=float("-inf"), init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def draw(self) -> Fault:
        """The fate of the request arriving now."""
        now = time.monotonic()
        if self._opened + self.grace < now < self._quiet_until:
            self.in_cooldown += 1
        roll = self._rng.random()
        if roll < self.rate_limit_rate:
            self.rate_limited += 1
            if now >= self._quiet_until:  # a 429 inside an open window does not excuse more arrivals
                self._opened = now
            self._quiet_until = max(self._quiet_until, now + self.retry_after)
            return "rate_limited"
        if roll < self.rate_limit_rate + self.timeout_rate:
            self.timed_out += 1
            return "timeout"
        return "ok"

    def stats(self) -> dict[str, int]:
        return {"rate_limited": self.rate_limited, "timed_out": self.timed_out, "in_cooldown": self.in_cooldown}
