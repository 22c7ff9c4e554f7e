"""Redis clients built from a URL, with timeouts that let callers fail fast instead of hanging.

redis-py's defaults suit a long-lived cache client (5 s timeouts, ten retries with back-off), but the
semaphore and locks here must *fail closed* quickly when Redis is gone, so every client gets short
timeouts and a couple of quick retries: an outage becomes an error within a few seconds, and a
blip (a dropped idle connection) is retried transparently.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import redis
import redis.asyncio
from pydantic import SecretStr
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry

SCHEMES = ("redis", "rediss", "unix")
DEFAULT_SOCKET_TIMEOUT = 5.0
DEFAULT_CONNECT_TIMEOUT = 2.0
# Pings an idle pooled connection before reuse: a connection dropped by a proxy or a restarted
# server is then replaced instead of failing the first command after the idle period.
HEALTH_CHECK_INTERVAL = 30
# An asyncio client's connections: past the cap a command waits for a free one, up to
# POOL_WAIT_SECONDS, instead of failing. redis-py's own pool raises at once past 100, which ended
# whole transcription runs when a day's recordings took their claims together (benchmarks/day.py).
DEFAULT_MAX_CONNECTIONS = 200
POOL_WAIT_SECONDS = 20.0
_RETRIES = 2
_BACKOFF_BASE = 0.05
_BACKOFF_CAP = 0.5


def _options(url: str | SecretStr, socket_timeout: float, max_connections: int | None) -> tuple[str, dict[str, Any]]:
    """The plain URL and the client options shared by the sync and async builders."""
    plain = url.get_secret_value() if isinstance(url, SecretStr) else url
    scheme = urlsplit(plain).scheme
    if scheme not in SCHEMES:
        # Never echo the URL: it usually carries the password.
        raise ValueError(f"unsupported Redis URL scheme {scheme!r}; expected one of {', '.join(SCHEMES)}")
    return plain, {
        "decode_responses": True,
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": min(DEFAULT_CONNECT_TIMEOUT, socket_timeout),
        "health_check_interval": HEALTH_CHECK_INTERVAL,
        "max_connections": max_connections,
    }


def create_async_redis(
    url: str | SecretStr,
    *,
    socket_timeout: float = DEFAULT_SOCKET_TIMEOUT,
    max_connections: int | None = None,
) -> redis.asyncio.Redis:
    """An asyncio client for `redis://`, `rediss://` or `unix://` URLs, returning `str` values.

    Give blocking reads (`XREAD BLOCK`) their own client whose `socket_timeout` exceeds the block
    time, otherwise the read times out before the server answers.
    """
    plain, options = _options(url, socket_timeout, max_connections or DEFAULT_MAX_CONNECTIONS)
    backoff = ExponentialWithJitterBackoff(cap=_BACKOFF_CAP, base=_BACKOFF_BASE)
    # With a pool of its own, the client uses the pool's retry policy, so it is given there.
    pool = redis.asyncio.BlockingConnectionPool.from_url(
        plain, timeout=POOL_WAIT_SECONDS, retry=AsyncRetry(backoff, _RETRIES), **options
    )
    return redis.asyncio.Redis.from_pool(pool)


def create_sync_redis(
    url: str | SecretStr,
    *,
    socket_timeout: float = DEFAULT_SOCKET_TIMEOUT,
    max_connections: int | None = None,
) -> redis.Redis:
    """The synchronous twin of `create_async_redis`, for Dagster ops and sensors."""
    plain, options = _options(url, socket_timeout, max_connections)
    backoff = ExponentialWithJitterBackoff(cap=_BACKOFF_CAP, base=_BACKOFF_BASE)
    return redis.Redis.from_url(plain, retry=Retry(backoff, _RETRIES), **options)
