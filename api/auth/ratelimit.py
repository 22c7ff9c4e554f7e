"""Login throttling in Redis: failed attempts counted per account *from one address*, and per address.

Fixed windows of `AUTH_LOGIN_WINDOW_SECONDS`: an account allows `AUTH_LOGIN_MAX_ATTEMPTS` failures from
one address, an address ten times as many over all accounts (a call centre shares one address). The
account counter is keyed by address too, so guessing someone's password from one place cannot lock
them out everywhere (a lock anyone could trigger for any known account, the admin's included, is a
denial of service). Over a limit, every attempt answers 429 with `Retry-After` until the window ends,
whether or not the account exists (no enumeration). A successful login clears that counter. Keys hold
hashes, never an e-mail address. The address is the peer's, or the one a trusted proxy forwarded
(`FORWARDED_ALLOW_IPS`, empty by default: nobody may claim another address).

Redis down means logins fail closed (503): an unthrottled login endpoint is worse than a refused one.
"""

from __future__ import annotations

import hashlib
import logging

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from api.errors import RateLimited, ServiceUnavailable
from callaudit.settings import Settings

log = logging.getLogger("callaudit.auth")

ADDRESS_FACTOR = 10
KEY_PREFIX = "ratelimit:login"


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class LoginLimiter:
    def __init__(self, redis: aioredis.Redis, settings: Settings) -> None:
        self.redis = redis
        self.window = settings.auth_login_window_seconds
        self.account_limit = settings.auth_login_max_attempts
        self.address_limit = settings.auth_login_max_attempts * ADDRESS_FACTOR

    @staticmethod
    def account_key(email: str, address: str) -> str:
        return f"{KEY_PREFIX}:account:{_digest(email.lower() + chr(0) + address)}"

    @staticmethod
    def address_key(address: str) -> str:
        return f"{KEY_PREFIX}:address:{_digest(address)}"

    async def check(self, email: str, address: str) -> None:
        """Raise `RateLimited` when either counter is at its limit."""
        keys = (
            (self.account_key(email, address), self.account_limit),
            (self.address_key(address), self.address_limit),
        )
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for key, _ in keys:
                    pipe.get(key)
                    pipe.ttl(key)
                values = await pipe.execute()
        except RedisError as exc:
            log.error("login rate limiter unavailable (%s)", type(exc).__name__)
            raise ServiceUnavailable("Login is temporarily unavailable") from None
        for index, (_key, limit) in enumerate(keys):
            count, ttl = values[2 * index], values[2 * index + 1]
            if count is not None and int(count) >= limit:
                retry_after = int(ttl) if ttl and int(ttl) > 0 else self.window
                raise RateLimited(retry_after, "Too many login attempts; try again later")

    async def record_failure(self, email: str, address: str) -> None:
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                for key in (self.account_key(email, address), self.address_key(address)):
                    # SET NX EX then INCR: the window starts at the first failure (INCR keeps the TTL).
                    pipe.set(key, 0, ex=self.window, nx=True)
                    pipe.incr(key)
                await pipe.execute()
        except RedisError as exc:
            log.error("login rate limiter unavailable (%s)", type(exc).__name__)
            raise ServiceUnavailable("Login is temporarily unavailable") from None

    async def reset_account(self, email: str, address: str) -> None:
        try:
            await self.redis.delete(self.account_key(email, address))
        except RedisError as exc:
            log.warning("could not reset the login counter (%s)", type(exc).__name__)
