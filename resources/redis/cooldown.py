"""A shared cooldown: when an upstream says "wait" (429, or 503 with `Retry-After`), every caller waits.

The pause lives in Redis as `<name>:cooldown` with a TTL, so one throttled caller slows every process
instead of each discovering the limit separately. The key's remaining TTL *is* the cooldown, read
with `PTTL` on the Redis server: no client clocks. It fails closed: when Redis is unreachable it
raises `RedisUnavailable` and the caller sends nothing.
"""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis as AsyncRedis

from resources.http.retry import spread
from resources.redis.errors import RedisUnavailable, unavailable_as

# Extends the cooldown to ARGV[1] ms unless a longer one is already running; returns the cooldown
# now in force (ms). PTTL is -2 for a missing key and -1 for one without TTL (never written here).
_EXTEND_COOLDOWN = """
local wanted = tonumber(ARGV[1])
local left = redis.call('PTTL', KEYS[1])
if left < wanted then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', wanted)
  return wanted
end
return left
"""


class SharedCooldown:
    """The cooldown of one upstream (`name`: `crm`, `llm`, `stt`) for one Redis client."""

    def __init__(self, redis: AsyncRedis, name: str) -> None:
        self.name = name
        self.key = f"{name}:cooldown"
        self._redis = redis
        self._extend = redis.register_script(_EXTEND_COOLDOWN)

    async def left(self) -> float:
        """Seconds until callers may talk to the upstream again (0 when not cooling down)."""
        with unavailable_as(RedisUnavailable, f"{self.name} cooldown unknown"):
            left = int(await self._redis.pttl(self.key))
        return max(0, left) / 1000

    async def extend(self, seconds: float, reason: str) -> float:
        """Make every caller wait at least `seconds` from now; returns the cooldown in force."""
        wanted = max(1, round(seconds * 1000))
        with unavailable_as(RedisUnavailable, f"{self.name} cooldown not recorded"):
            in_force = int(await self._extend(keys=[self.key], args=[wanted, reason]))
        return in_force / 1000

    async def wait(self) -> float:
        """Sleep until no cooldown is in force (spread, so the waiters do not all fire at once);
        returns the seconds slept."""
        slept = 0.0
        while (left := await self.left()) > 0:
            pause = spread(left)
            await asyncio.sleep(pause)
            slept += pause
        return slept
