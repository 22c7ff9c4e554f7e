"""The CRM gateway as a Dagster resource: configuration only; clients are made inside the asset's loop.

An asset does `async with crm.client(redis) as client:` with an asyncio Redis client from
`RedisResource.async_client()`, and puts `client.metrics.as_metadata()` in its MaterializeResult.
The caps are Redis semaphores shared with the API, so the limits here must match the API's
`FICHE_*_CONCURRENCY` settings (both default to the original's 1 search and 3 fetches).
"""

from __future__ import annotations

import dagster as dg
import httpx
from pydantic import Field
from redis.asyncio import Redis as AsyncRedis

from resources.crm.client import CrmClient
from resources.crm.config import CrmConfig

_DEFAULTS = CrmConfig()


class CrmResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The CRM gateway; give `auth_token` as `dg.EnvVar("FICHE_API_AUTH_TOKEN")` so it is never stored."""

    base_url: str
    auth_token: str | None = None
    search_concurrency: int = Field(default=_DEFAULTS.search_concurrency, ge=1)
    fetch_concurrency: int = Field(default=_DEFAULTS.fetch_concurrency, ge=1)
    directory_concurrency: int = Field(default=_DEFAULTS.directory_concurrency, ge=1)
    search_timeout_seconds: float = Field(default=_DEFAULTS.search_timeout, gt=0)
    search_budget_seconds: float = Field(default=_DEFAULTS.search_budget, gt=0)
    details_timeout_seconds: float = Field(default=_DEFAULTS.details_timeout, gt=0)
    details_budget_seconds: float = Field(default=_DEFAULTS.details_budget, gt=0)
    max_attempts: int = Field(default=_DEFAULTS.max_attempts, ge=1)
    not_found_attempts: int = Field(default=_DEFAULTS.not_found_attempts, ge=1)
    backoff_base_seconds: float = Field(default=_DEFAULTS.backoff_base, gt=0)
    backoff_cap_seconds: float = Field(default=_DEFAULTS.backoff_cap, gt=0)

    def config(self) -> CrmConfig:
        return CrmConfig(
            search_concurrency=self.search_concurrency,
            fetch_concurrency=self.fetch_concurrency,
            directory_concurrency=self.directory_concurrency,
            search_timeout=self.search_timeout_seconds,
            search_budget=self.search_budget_seconds,
            details_timeout=self.details_timeout_seconds,
            details_budget=self.details_budget_seconds,
            max_attempts=self.max_attempts,
            not_found_attempts=self.not_found_attempts,
            backoff_base=self.backoff_base_seconds,
            backoff_cap=self.backoff_cap_seconds,
        )

    def client(self, redis: AsyncRedis, *, transport: httpx.AsyncBaseTransport | None = None) -> CrmClient:
        """A new client (an async context manager); create it inside the event loop that uses it."""
        return CrmClient(self.base_url, redis, auth_token=self.auth_token, config=self.config(), transport=transport)
