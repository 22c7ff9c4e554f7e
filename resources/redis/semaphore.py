"""A global counting semaphore across processes and hosts, built from leases in Redis.

Used to cap concurrent calls to fragile upstreams ("at most 3 CRM fiche fetches at a time") from
work started by the API and by Dagster alike. Design (see the platform reference, section 3.3):

* Holders live in a sorted set scored by their lease **deadline**, computed from the Redis server's
  clock (`TIME` inside Lua), so clock skew between client hosts cannot stretch or shorten a lease.
* Acquire reaps expired leases first, so a crashed holder's slot comes back once its lease ends.
* Each grant takes a number from a monotonic fencing counter; a resource that must reject stale
  holders compares it (e.g. `UPDATE ... WHERE fence < :token`).
* A heartbeat renews the lease every third of its length; if renewal fails or comes too late the
  lease is flagged as lost and the holder should stop before its next side effect.
* **Fail closed**: if Redis cannot be reached, no slot is granted (`SemaphoreUnavailable`). Treating
  "Redis down" as "go ahead" would let every worker hammer the upstream the cap protects.

Waiters poll; the semaphore is not FIFO-fair between processes. Within one process (one event loop),
callers beyond `limit` queue in order on a local semaphore and do not poll: this process can never
hold more than `limit` slots anyway, and a day's audit run, 100 steps waiting for 20 slots, spent a
tenth of its CPU polling (decision 94). The limit and lease length are given by each caller, so every
user of one semaphore name should pass the same values.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import secrets
import socket
import weakref
from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, cast

from redis.asyncio import Redis as AsyncRedis

from resources.redis._support import Backoff, check_name
from resources.redis.errors import REDIS_DOWN, SemaphoreTimeout, SemaphoreUnavailable, unavailable_as

log = logging.getLogger(__name__)

# Shared head of the scripts. KEYS[1] = holders (zset holder -> lease deadline in ms),
# KEYS[2] = fences (hash holder -> fencing token). `keep` makes both keys expire a second after the
# last lease, so an abandoned semaphore leaves nothing behind.
_PRELUDE = """
local holders, fences = KEYS[1], KEYS[2]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function keep()
  local last = redis.call('ZRANGE', holders, -1, -1, 'WITHSCORES')
  if last[2] then
    local at = tonumber(last[2]) + 1000
    redis.call('PEXPIREAT', holders, at)
    redis.call('PEXPIREAT', fences, at)
  end
end
"""

# KEYS[3] = fencing counter (never expires); ARGV = limit, lease_ms, holder. Returns {granted, token}.
# A holder already present gets its own token back: redis-py retries a call whose reply was lost,
# and the retry must neither take a second slot nor report a different token.
_ACQUIRE = (
    _PRELUDE
    + """
local limit, lease_ms, holder = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local expired = redis.call('ZRANGEBYSCORE', holders, '-inf', now)
if #expired > 0 then
  redis.call('ZREM', holders, unpack(expired))
  redis.call('HDEL', fences, unpack(expired))
end
local token = redis.call('HGET', fences, holder)
if token and redis.call('ZSCORE', holders, holder) then return {1, tonumber(token)} end
if redis.call('ZCARD', holders) >= limit then return {0, 0} end
token = redis.call('INCR', KEYS[3])
redis.call('ZADD', holders, now + lease_ms, holder)
redis.call('HSET', fences, holder, token)
keep()
return {1, token}
"""
)

# ARGV = lease_ms, holder. Returns 1 when renewed, 0 when the lease had already ended (it is then
# removed: after its deadline the slot may have been given to someone else).
_RENEW = (
    _PRELUDE
    + """
local lease_ms, holder = tonumber(ARGV[1]), ARGV[2]
local deadline = redis.call('ZSCORE', holders, holder)
if not deadline or tonumber(deadline) <= now then
  redis.call('ZREM', holders, holder)
  redis.call('HDEL', fences, holder)
  return 0
end
redis.call('ZADD', holders, 'XX', now + lease_ms, holder)
keep()
return 1
"""
)

_RELEASE = """
redis.call('HDEL', KEYS[2], ARGV[1])
return redis.call('ZREM', KEYS[1], ARGV[1])
"""


def lease_covering(call_timeout: float) -> float:
    """A lease that cannot end before a call started under it, bounded by `call_timeout`, has ended.

    The holder renews every third of the lease, so at any instant (the call's start included) at
    least two thirds of it remain: 1.5 x the call's bound, plus a second for the renewal's own
    round trip, keeps a dead holder's slot taken until its call is over.
    """
    return 1.5 * call_timeout + 1.0


@dataclass(frozen=True)
class Lease:
    """A granted slot. Check `lost` before each external side effect: once set, stop working."""

    semaphore: str
    holder_id: str
    fence: int
    lost: asyncio.Event = field(default_factory=asyncio.Event, compare=False, repr=False)


@dataclass(frozen=True)
class Holder:
    """A current holder as seen by Redis, for observability."""

    holder_id: str
    expires_in: float  # seconds until its lease ends unless renewed


class LeaseSemaphore:
    """At most `limit` concurrent holders of `name` across every process sharing this Redis.

    `async with sem.slot(wait_timeout=10) as lease:` waits for a slot (raising `SemaphoreTimeout`
    after `wait_timeout` seconds, `SemaphoreUnavailable` if Redis is unreachable), keeps it alive
    while the block runs, and always gives it back. `lease_seconds` is how long a crashed
    holder keeps its slot: for a slot covering an upstream call, `lease_covering(call timeout)`,
    so the slot of a holder that died mid-call stays taken until that call must have ended (the
    upstream may still be working on it; freeing the slot earlier lets the cap be exceeded).
    """

    def __init__(
        self,
        redis: AsyncRedis,
        name: str,
        limit: int,
        *,
        lease_seconds: float = 30.0,
        max_poll_interval: float = 0.5,
    ) -> None:
        if limit < 1:
            raise ValueError("a semaphore limit must be >= 1")
        if not lease_seconds > 0:
            raise ValueError("lease_seconds must be positive")
        self.name = check_name("semaphore name", name)
        self.limit = limit
        self.lease_seconds = lease_seconds
        self.max_poll_interval = max_poll_interval
        self._redis = redis
        self._lease_ms = math.ceil(lease_seconds * 1000)
        # The hash tag keeps all keys of one semaphore in the same Redis Cluster slot, as Lua requires.
        self.holders_key = f"sem:{{{name}}}:holders"
        self.fences_key = f"sem:{{{name}}}:fences"
        self.fence_key = f"sem:{{{name}}}:fence"
        self._local: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )
        self._acquire = redis.register_script(_ACQUIRE)
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    def _unavailable(self, action: str) -> AbstractContextManager[None]:
        return unavailable_as(SemaphoreUnavailable, f"semaphore {self.name!r} fails closed: {action}")

    @asynccontextmanager
    async def slot(self, wait_timeout: float = 30.0) -> AsyncIterator[Lease]:
        """Hold one slot for the duration of the block; see the class docstring."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_timeout
        local = self._local.setdefault(loop, asyncio.Semaphore(self.limit))
        if local.locked():  # `limit` callers of this process hold or poll for a slot: wait in line
            try:
                async with asyncio.timeout_at(deadline):
                    await local.acquire()
            except TimeoutError:
                raise self._timeout(wait_timeout) from None
        else:
            await local.acquire()
        try:
            lease, valid_until = await self._wait_for_slot(max(0.0, deadline - loop.time()), wait_timeout)
            heartbeat = loop.create_task(self._keep_alive(lease, valid_until), name=f"semaphore {self.name} heartbeat")
            try:
                yield lease
            finally:
                heartbeat.cancel()
                await self._give_back(lease)
                await asyncio.wait([heartbeat])
        finally:
            local.release()

    def _timeout(self, wait_timeout: float) -> SemaphoreTimeout:
        return SemaphoreTimeout(f"semaphore {self.name!r}: all {self.limit} slots stayed taken for {wait_timeout:g} s")

    async def _wait_for_slot(self, remaining: float, wait_timeout: float) -> tuple[Lease, float]:
        """Poll for `remaining` s until granted; returns the lease and a conservative local (loop clock)
        end of its validity."""
        loop = asyncio.get_running_loop()
        holder_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(6)}"
        backoff = Backoff(remaining, cap=self.max_poll_interval)
        while True:
            # The server computes the deadline after this instant, so it cannot end before sent + lease.
            sent = loop.time()
            with self._unavailable("no slot granted"):
                granted, fence = await self._acquire(
                    keys=[self.holders_key, self.fences_key, self.fence_key],
                    args=[self.limit, self._lease_ms, holder_id],
                )
            if granted:
                return Lease(self.name, holder_id, int(fence)), sent + self.lease_seconds
            delay = backoff.next_delay()
            if delay is None:
                raise self._timeout(wait_timeout)
            await asyncio.sleep(delay)

    async def _keep_alive(self, lease: Lease, valid_until: float) -> None:
        """Renew every lease/3; flag the lease lost when renewal is refused or cannot happen in time.

        A failed renewal (Redis blip) is retried on the next beat while the lease may still be
        valid; a renewal still pending when the lease would end counts as a failure.
        """
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            sent = loop.time()
            try:
                async with asyncio.timeout_at(valid_until):
                    renewed = bool(
                        await self._renew(
                            keys=[self.holders_key, self.fences_key], args=[self._lease_ms, lease.holder_id]
                        )
                    )
            except REDIS_DOWN as exc:  # includes the TimeoutError of timeout_at
                if loop.time() < valid_until:
                    log.warning("semaphore %r: lease renewal failed (%s); retrying", self.name, type(exc).__name__)
                    continue
                renewed = False
            if not renewed:
                log.warning("semaphore %r: lease %s lost (fence %d)", self.name, lease.holder_id, lease.fence)
                lease.lost.set()
                return
            valid_until = sent + self.lease_seconds

    async def _give_back(self, lease: Lease) -> None:
        """Release the slot; never raises, so the block's own outcome is what the caller sees."""
        try:
            await self._release(keys=[self.holders_key, self.fences_key], args=[lease.holder_id])
        except REDIS_DOWN as exc:
            log.warning(
                "semaphore %r: could not release lease %s (%s); it ends within %g s",
                self.name,
                lease.holder_id,
                type(exc).__name__,
                self.lease_seconds,
            )

    async def holders(self) -> list[Holder]:
        """Holders whose lease has not ended, by the Redis server's clock."""
        with self._unavailable("cannot list holders"):
            seconds, micros = await self._redis.time()
            now_ms = seconds * 1000 + micros // 1000
            entries = await self._redis.zrangebyscore(self.holders_key, f"({now_ms}", "+inf", withscores=True)
        return [Holder(str(member), (float(score) - now_ms) / 1000) for member, score in cast(Iterable[Any], entries)]

    async def count(self) -> int:
        """How many slots are taken right now."""
        return len(await self.holders())
