"""Typed errors for the Redis coordination primitives, and the translation of outages into them.

Callers map these to behaviour (skip, retry later, HTTP 503) without knowing redis-py's exception
tree, and the messages never contain the Redis URL: redis-py's own messages name the host or socket
path, and a URL may carry a password, so the original error is only kept as `__cause__`.

The two that rules and services meet are the domain's own: an outage is an `UnavailableError`, a lock
held elsewhere a `LockHeld`, so they catch those and never name this connector.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis.exceptions

from domain.errors import LockHeld, UnavailableError

# What "Redis is not reachable" looks like from redis-py: refused/reset connections, timeouts, and
# raw socket errors (the builtin TimeoutError is an OSError).
REDIS_DOWN: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    OSError,
)


class RedisUnavailable(UnavailableError, RuntimeError):
    """Redis could not be reached; the caller must act as if it was refused (fail closed)."""


class SemaphoreUnavailable(RedisUnavailable):
    """A semaphore slot could not be requested because Redis is unreachable: no slot was granted."""


class RateLimiterUnavailable(RedisUnavailable):
    """A rate limiter could not admit because Redis is unreachable: the request must not be made."""


class SemaphoreTimeout(Exception):
    """Every slot stayed taken until the caller's wait deadline.

    Deliberately not a `TimeoutError`: that is an `OSError`, which code around Redis calls treats
    as "Redis is down".
    """


class RateLimitTimeout(Exception):
    """The rate limiter could not admit before the caller's wait deadline (not a `TimeoutError`, as above)."""


class LockNotAcquired(LockHeld):
    """The lock is held by someone else (until the wait deadline, when the caller was willing to wait)."""


@contextmanager
def unavailable_as(error: type[RedisUnavailable], what: str) -> Iterator[None]:
    """Re-raise a Redis outage inside the block as `error`, with a message naming Redis and `what`."""
    try:
        yield
    except REDIS_DOWN as exc:
        raise error(f"Redis is unreachable ({type(exc).__name__}); {what}") from exc
