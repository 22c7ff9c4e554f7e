"""Deployment-wide protection of the CRM gateway, held in Redis: concurrency caps and a shared cooldown.

* **Caps.** Each HTTP request (each attempt, not each call) runs inside a slot of a `LeaseSemaphore`
  named after its endpoint family, so the limit holds across every Dagster run, API replica and
  process that shares this Redis. Dagster pools with the same names (`crm_search`,
  `crm_fiche_fetch`) only keep runs from starting just to wait here; they cannot cap HTTP calls.
  Users and groups get a small cap of their own (`crm_directory`): they are rare admin calls and
  should not queue behind a two-minute sales search.
* **Cooldown.** When the gateway answers 429 (or 503 with `Retry-After`) the caller extends the
  shared cooldown `crm:cooldown` (`resources.redis.cooldown`); every caller waits it out before its
  next request.

Both fail closed: when Redis is unreachable they raise `RedisUnavailable` (the semaphore its
subclass `SemaphoreUnavailable`) and the client sends nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

from redis.asyncio import Redis as AsyncRedis

from resources.redis import Lease, LeaseSemaphore, lease_covering
from resources.redis.cooldown import SharedCooldown

Family = Literal["search", "details", "directory"]

SEMAPHORE_NAMES: dict[Family, str] = {
    "search": "crm_search",
    "details": "crm_fiche_fetch",
    "directory": "crm_directory",
}


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
        self._semaphores = {
            family: LeaseSemaphore(
                redis, SEMAPHORE_NAMES[family], limit, lease_seconds=lease_covering(timeouts[family])
            )
            for family, limit in limits.items()
        }
        self.cooldown = SharedCooldown(redis, "crm")

    @asynccontextmanager
    async def slot(self, family: Family, wait_timeout: float) -> AsyncIterator[Lease]:
        """One slot of the family's cap; `SemaphoreTimeout` when none frees up within `wait_timeout`."""
        async with self._semaphores[family].slot(wait_timeout=wait_timeout) as lease:
            yield lease
