"""Deployment-wide protection of the CRM gateway, held in Redis: concurrency caps and a shared cooldown.

* **Caps.** Each HTTP request (each attempt, not each call) runs inside a slot of a `LeaseSemaphore`
  named after its endpoint family, so the limit holds across every Dagster run, API replica and
  process that shares this Redis. Dagster pools with the same names (`crm_search`,
  `crm_fiche_fetch`) only keep runs from starting just to wait here; they cannot cap HTTP calls.
  Users and groups get a small cap of their own (`crm_directory`): they are rare admin calls and
  should not queue behind a two-minute sales search.
* **Cooldown.** When the gateway answers 429 (or 503 with `Retry-After`) the caller stores a
  cooldown in `crm:cooldown` with a TTL; every caller waits for the key to expire before its next
  request, so one throttled caller slows everyone instead of each discovering the limit separately.
  The key's remaining TTL *is* the cooldown, read with `PTTL` on the Redis server: no client clocks.

Both fail closed: when Redis is unreachable they raise `RedisUnavailable` (the semaphore its
subclass `SemaphoreUnavailable`) and the client sends nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

from redis.asyncio import Redis as AsyncRedis

from resources.redis import Lease, LeaseSemaphore, RedisUnavailable, lease_covering
from resources.redis.errors import unavailable_as

Family = Literal["search", "details", "directory"]

SEMAPHORE_NAMES: dict[Family, str] = {
    "search": "crm_search",
    "details": "crm_fiche_fetch",
    "directory": "crm_directory",
}
COOLDOWN_KEY = "crm:cooldown"

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


class CrmCaps:
    """The semaphores and the cooldown for one Redis client; cheap, one per `CrmClient`."""

    def __init__(
        self,
        redis: AsyncRedis,
        limits: dict[Family, int],
        *,
        timeouts: dict[Family, float],
    ) -> None:
        """`timeouts` bound one request of each family: a slot outlives the request it covers."""
        self._redis = redis
        self._semaphores = {
            family: LeaseSemaphore(
                redis, SEMAPHORE_NAMES[family], limit, lease_seconds=lease_covering(timeouts[family])
            )
            for family, limit in limits.items()
        }
        self._extend = redis.register_script(_EXTEND_COOLDOWN)

    @asynccontextmanager
    async def slot(self, family: Family, wait_timeout: float) -> AsyncIterator[Lease]:
        """One slot of the family's cap; `SemaphoreTimeout` when none frees up within `wait_timeout`."""
        async with self._semaphores[family].slot(wait_timeout=wait_timeout) as lease:
            yield lease

    async def cooldown_left(self) -> float:
        """Seconds until callers may talk to the gateway again (0 when not cooling down)."""
        with unavailable_as(RedisUnavailable, "CRM cooldown unknown"):
            left = int(await self._redis.pttl(COOLDOWN_KEY))
        return max(0, left) / 1000

    async def cool_down(self, seconds: float, reason: str) -> float:
        """Make every caller wait at least `seconds` from now; returns the cooldown in force."""
        wanted = max(1, round(seconds * 1000))
        with unavailable_as(RedisUnavailable, "CRM cooldown not recorded"):
            in_force = int(await self._extend(keys=[COOLDOWN_KEY], args=[wanted, reason]))
        return in_force / 1000
