"""A request rate shared by every process: at most `limit` admissions per sliding `window`.

Used where an upstream bills or throttles by request rate ("10 ElevenLabs requests a minute across
the cluster"), on top of the lease semaphore that caps requests in flight. Design:

* A sliding-window log: one sorted set of admissions scored by the **Redis server's** clock (`TIME`
  inside Lua), so client hosts' clocks do not matter. Unlike a fixed-window counter, no burst of
  twice the limit can straddle a window boundary.
* A refused caller is told how long until the oldest admission leaves the window, sleeps that long
  (plus a little jitter, so waiters do not all ask at the same instant) and asks again.
* **Fail closed**, like the semaphore: Redis unreachable means not admitted (`RateLimiterUnavailable`).

Waiters are not FIFO-fair. Every user of one limiter name should pass the same limit and window.
"""

from __future__ import annotations

import asyncio
import math
import os
import secrets
import socket

from redis.asyncio import Redis as AsyncRedis

from resources.redis._support import check_name, jitter
from resources.redis.errors import RateLimiterUnavailable, RateLimitTimeout, unavailable_as

# KEYS[1] = admissions (zset member -> admission time in ms); ARGV = limit, window_ms, member.
# Returns 0 when admitted, else the milliseconds until a place frees up. A member already admitted
# is admitted again without a second place: redis-py retries a call whose reply was lost.
_ADMIT = """
local key, limit, window_ms, member = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window_ms)
if redis.call('ZSCORE', key, member) then return 0 end
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, now, member)
  redis.call('PEXPIRE', key, window_ms + 1000)
  return 0
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window_ms - now)
"""

_MAX_JITTER_SECONDS = 0.05


class RateLimiter:
    """At most `limit` admissions of `name` per `window_seconds`, across every process sharing Redis.

    `await limiter.admit(wait_timeout=30)` returns once admitted (the caller then makes its request),
    raising `RateLimitTimeout` when admission would come after `wait_timeout` seconds and
    `RateLimiterUnavailable` when Redis cannot be reached.
    """

    def __init__(self, redis: AsyncRedis, name: str, limit: int, *, window_seconds: float = 60.0) -> None:
        if limit < 1:
            raise ValueError("a rate limit must be >= 1")
        if not window_seconds > 0:
            raise ValueError("window_seconds must be positive")
        self.name = check_name("rate limiter name", name)
        self.limit = limit
        self.window_seconds = window_seconds
        self.key = f"rate:{{{name}}}:admissions"
        self._window_ms = math.ceil(window_seconds * 1000)
        self._admit = redis.register_script(_ADMIT)

    async def admit(self, wait_timeout: float) -> float:
        """Wait for a place in the window; returns the seconds waited."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        member = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(6)}"
        while True:
            with unavailable_as(RateLimiterUnavailable, f"rate limiter {self.name!r} fails closed: not admitted"):
                wait_ms = int(await self._admit(keys=[self.key], args=[self.limit, self._window_ms, member]))
            if wait_ms == 0:
                return loop.time() - started
            delay = wait_ms / 1000 + jitter(_MAX_JITTER_SECONDS)
            if loop.time() + delay - started > wait_timeout:
                raise RateLimitTimeout(
                    f"rate limiter {self.name!r}: no place among {self.limit} per {self.window_seconds:g} s "
                    f"within {wait_timeout:g} s"
                )
            await asyncio.sleep(delay)
