"""Redis as a Dagster resource: clients, the event publisher and global lease semaphores."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import dagster as dg
import redis
import redis.asyncio as aioredis

from resources.redis.client import create_async_redis, create_sync_redis
from resources.redis.semaphore import LeaseSemaphore
from resources.redis.streams import EventPublisher, SyncEventPublisher

T = TypeVar("T")


class RedisResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Redis for assets, sensors and resources that cap calls to outside systems."""

    url: str
    event_stream_maxlen: int = 1000
    event_stream_ttl_seconds: int = 86_400

    def sync_client(self) -> redis.Redis:
        return create_sync_redis(self.url)

    def async_client(self) -> aioredis.Redis:
        """A new asyncio client; create it inside the event loop that will use it."""
        return create_async_redis(self.url)

    def run(self, work: Callable[[aioredis.Redis], Awaitable[T]]) -> T:
        """Run `work` in a fresh event loop with its own asyncio client, closed after: assets and ops
        are synchronous, their I/O is not."""

        async def main() -> T:
            client = self.async_client()
            try:
                return await work(client)
            finally:
                await client.aclose()

        return asyncio.run(main())

    def publisher(self, client: redis.Redis) -> SyncEventPublisher:
        return SyncEventPublisher(client, maxlen=self.event_stream_maxlen, ttl_seconds=self.event_stream_ttl_seconds)

    def async_publisher(self, client: aioredis.Redis) -> EventPublisher:
        return EventPublisher(client, maxlen=self.event_stream_maxlen, ttl_seconds=self.event_stream_ttl_seconds)

    def semaphore(self, client: aioredis.Redis, name: str, limit: int, lease_seconds: float = 30.0) -> LeaseSemaphore:
        return LeaseSemaphore(client, name, limit, lease_seconds=lease_seconds)
