"""Redis clients and the coordination primitives built on them: locks, lease semaphores, event streams.

Redis holds only ephemeral coordination state here; anything that must be correct or durable lives
in Postgres.
"""

from resources.redis.client import create_async_redis, create_sync_redis
from resources.redis.cooldown import SharedCooldown
from resources.redis.errors import (
    LockNotAcquired,
    RateLimiterUnavailable,
    RateLimitTimeout,
    RedisUnavailable,
    SemaphoreTimeout,
    SemaphoreUnavailable,
)
from resources.redis.locks import RedisLock, SyncRedisLock
from resources.redis.ratelimit import RateLimiter
from resources.redis.semaphore import Holder, Lease, LeaseSemaphore, lease_covering
from resources.redis.streams import (
    LIVE,
    EventPublisher,
    StreamEvent,
    SyncEventPublisher,
    encode_payload,
    parse_stream_id,
    stream_key,
)

__all__ = [
    "LIVE",
    "EventPublisher",
    "Holder",
    "Lease",
    "LeaseSemaphore",
    "LockNotAcquired",
    "RateLimitTimeout",
    "RateLimiter",
    "RateLimiterUnavailable",
    "RedisLock",
    "RedisUnavailable",
    "SemaphoreTimeout",
    "SemaphoreUnavailable",
    "SharedCooldown",
    "StreamEvent",
    "SyncEventPublisher",
    "SyncRedisLock",
    "create_async_redis",
    "create_sync_redis",
    "encode_payload",
    "lease_covering",
    "parse_stream_id",
    "stream_key",
]
