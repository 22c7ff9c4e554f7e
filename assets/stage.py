"""How an asset or op runs a stage service: one helper for the three stages."""

from collections.abc import Awaitable, Callable
from typing import TypeVar

import dagster as dg
from redis.asyncio import Redis as AsyncRedis

from resources.redis.resource import RedisResource

T = TypeVar("T")


def run_stage(
    redis: RedisResource,
    work: Callable[[AsyncRedis], Awaitable[T]],
    *,
    fatal: tuple[type[Exception], ...] = (),
) -> T:
    """Run `work` in a fresh event loop with its own Redis client (assets and ops are synchronous,
    their I/O is not). What no fiche could survive (`fatal`: credentials refused, the global caps
    unavailable) fails the step with its message alone, as a `dg.Failure`; one fiche's failure is
    the service's to record and never reaches here."""
    try:
        return redis.run(work)
    except fatal as exc:
        raise dg.Failure(description=str(exc)) from None
