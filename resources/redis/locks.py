"""Short mutual-exclusion locks on a single Redis key, with an owner token and a mandatory timeout.

These locks are for **efficiency**, not correctness: they stop two workers from doing the same job
at the same time, but a holder that pauses (GC, a stalled VM, a slow network) past its timeout can
still believe it holds a lock that has expired and been taken by someone else, and a Redis failover
can lose a lock outright (Kleppmann, "How to do distributed locking"). Anything that must never
happen twice (creating an audit for a call, charging a quota) is enforced in Postgres with a unique
constraint, a row/advisory lock, or a fencing token checked in SQL.

Every lock expires: there is no "forever" timeout, so a crashed holder never wedges the system.
Release and extend are compare-and-act Lua scripts on the owner's random token, so a holder whose
lock expired cannot delete or prolong the next owner's lock.

Use one lock object per acquisition (the token belongs to the object); do not share one object
between tasks.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import time
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Self

from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from resources.redis._support import Backoff, check_name
from resources.redis.errors import LockNotAcquired, RedisUnavailable, unavailable_as

log = logging.getLogger(__name__)

# Acquire is a script rather than a bare SET NX so that it is safe to retry: when redis-py retries
# after a lost reply, the second attempt finds our own token and succeeds instead of failing.
_ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


def _millis(seconds: float) -> int:
    if not seconds > 0:
        raise ValueError("a lock timeout must be a positive number of seconds")
    return math.ceil(seconds * 1000)


class _LockBase:
    """State and messages shared by the async and sync locks; subclasses only do the I/O."""

    def __init__(self, name: str, *, timeout: float, wait_timeout: float) -> None:
        self.name = check_name("lock name", name)
        self.key = f"lock:{name}"
        self.timeout_ms = _millis(timeout)
        if wait_timeout < 0:
            raise ValueError("wait_timeout must be >= 0")
        self.wait_timeout = wait_timeout
        self.token = secrets.token_hex(16)

    def _acquire_args(self) -> list[str | int]:
        return [self.token, self.timeout_ms]

    def _extend_args(self, seconds: float | None) -> list[str | int]:
        return [self.token, self.timeout_ms if seconds is None else _millis(seconds)]

    def _unavailable(self, action: str) -> AbstractContextManager[None]:
        return unavailable_as(RedisUnavailable, f"cannot {action} lock {self.name!r}")

    def _not_acquired(self) -> LockNotAcquired:
        waited = f" within {self.wait_timeout:g} s" if self.wait_timeout else ""
        return LockNotAcquired(f"lock {self.name!r} is held by another owner{waited}")

    def _log_release(self, released: bool | None) -> None:
        """Releasing on exit never raises (that would hide the block's own error): it logs instead."""
        if released is None:
            log.warning("could not release lock %r (Redis unreachable); it expires by itself", self.name)
        elif not released:
            log.warning("lock %r had expired before release: the work outlived its timeout", self.name)


class RedisLock(_LockBase):
    """An asyncio lock: `async with RedisLock(redis, "fiche:123", timeout=30):`.

    `wait_timeout=0` tries once; a positive value polls (with back-off) until then. Raises
    `LockNotAcquired` when the lock stays taken, `RedisUnavailable` when Redis cannot be reached.
    """

    def __init__(self, redis: AsyncRedis, name: str, *, timeout: float, wait_timeout: float = 0.0) -> None:
        super().__init__(name, timeout=timeout, wait_timeout=wait_timeout)
        self._acquire_script = redis.register_script(_ACQUIRE)
        self._release_script = redis.register_script(_RELEASE)
        self._extend_script = redis.register_script(_EXTEND)

    async def acquire(self) -> None:
        backoff = Backoff(self.wait_timeout)
        while True:
            with self._unavailable("acquire"):
                if await self._acquire_script(keys=[self.key], args=self._acquire_args()):
                    return
            delay = backoff.next_delay()
            if delay is None:
                raise self._not_acquired()
            await asyncio.sleep(delay)

    async def release(self) -> bool:
        """Delete the lock if this object still owns it; False when it had expired or changed hands."""
        with self._unavailable("release"):
            return bool(await self._release_script(keys=[self.key], args=[self.token]))

    async def extend(self, seconds: float | None = None) -> bool:
        """Reset the remaining time to `seconds` (default: the lock's timeout) if still owned."""
        with self._unavailable("extend"):
            return bool(await self._extend_script(keys=[self.key], args=self._extend_args(seconds)))

    async def __aenter__(self) -> Self:
        await self.acquire()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            released: bool | None = await self.release()
        except RedisUnavailable:
            released = None
        self._log_release(released)


class SyncRedisLock(_LockBase):
    """The synchronous twin of `RedisLock`, for Dagster ops and sensors: `with SyncRedisLock(...):`."""

    def __init__(self, redis: Redis, name: str, *, timeout: float, wait_timeout: float = 0.0) -> None:
        super().__init__(name, timeout=timeout, wait_timeout=wait_timeout)
        self._acquire_script = redis.register_script(_ACQUIRE)
        self._release_script = redis.register_script(_RELEASE)
        self._extend_script = redis.register_script(_EXTEND)

    def acquire(self) -> None:
        backoff = Backoff(self.wait_timeout)
        while True:
            with self._unavailable("acquire"):
                if self._acquire_script(keys=[self.key], args=self._acquire_args()):
                    return
            delay = backoff.next_delay()
            if delay is None:
                raise self._not_acquired()
            time.sleep(delay)

    def release(self) -> bool:
        """Delete the lock if this object still owns it; False when it had expired or changed hands."""
        with self._unavailable("release"):
            return bool(self._release_script(keys=[self.key], args=[self.token]))

    def extend(self, seconds: float | None = None) -> bool:
        """Reset the remaining time to `seconds` (default: the lock's timeout) if still owned."""
        with self._unavailable("extend"):
            return bool(self._extend_script(keys=[self.key], args=self._extend_args(seconds)))

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            released: bool | None = self.release()
        except RedisUnavailable:
            released = None
        self._log_release(released)
