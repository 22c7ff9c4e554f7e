"""Login throttling: per account and per address, 429 + Retry-After, no enumeration, recovery."""

from __future__ import annotations

import asyncio

import httpx
import redis

from api.auth.ratelimit import ADDRESS_FACTOR, LoginLimiter
from tests.fixtures.world import PASSWORD, World

LOGIN = "/api/auth/login"


async def _attempt(client: httpx.AsyncClient, email: str, password: str = "wrong password") -> httpx.Response:
    return await client.post(LOGIN, json={"email": email, "password": password})


async def test_account_limit_triggers_and_recovers(
    client: httpx.AsyncClient, world: World, redis_client: redis.Redis
) -> None:
    email = world.emails["viewer"]
    limit = world.settings.auth_login_max_attempts
    for _ in range(limit):
        assert (await _attempt(client, email)).status_code == 401
    blocked = await _attempt(client, email, PASSWORD)  # even the right password waits
    assert blocked.status_code == 429
    assert blocked.json() == {
        "success": False,
        "error": "Too many login attempts; try again later",
        "code": "RATE_LIMITED",
    }
    retry_after = int(blocked.headers["Retry-After"])
    assert 0 < retry_after <= world.settings.auth_login_window_seconds
    # other accounts from the same address are not locked out by this account's counter
    assert (await _attempt(client, world.emails["operator"], PASSWORD)).status_code == 200
    # the window ends (simulated by expiring the key): the account recovers
    redis_client.pexpire(LoginLimiter.account_key(email, "127.0.0.1"), 1)
    await asyncio.sleep(0.01)
    assert (await _attempt(client, email, PASSWORD)).status_code == 200


async def test_window_expiry_recovers_on_its_own(app_factory: object, world: World) -> None:
    short = await app_factory(auth_login_window_seconds=1, auth_login_max_attempts=2)  # type: ignore[operator]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=short), base_url="http://test") as client:
        email = world.emails["viewer"]
        for _ in range(2):
            assert (await _attempt(client, email)).status_code == 401
        blocked = await _attempt(client, email, PASSWORD)
        assert blocked.status_code == 429
        assert blocked.headers["Retry-After"] == "1"
        await asyncio.sleep(1.1)
        assert (await _attempt(client, email, PASSWORD)).status_code == 200


async def test_unknown_accounts_are_throttled_identically(client: httpx.AsyncClient, world: World) -> None:
    """No enumeration: an unknown e-mail goes through the same 401s, then the same 429."""
    limit = world.settings.auth_login_max_attempts
    known = [await _attempt(client, world.emails["self_user"]) for _ in range(limit + 1)]
    unknown = [await _attempt(client, "ghost@example.test") for _ in range(limit + 1)]
    assert [r.status_code for r in known] == [r.status_code for r in unknown] == [401] * limit + [429]
    assert [r.json() for r in known] == [r.json() for r in unknown]


async def test_success_resets_the_account_counter(client: httpx.AsyncClient, world: World) -> None:
    email = world.emails["viewer"]
    limit = world.settings.auth_login_max_attempts
    for _ in range(limit - 1):
        assert (await _attempt(client, email)).status_code == 401
    assert (await _attempt(client, email, PASSWORD)).status_code == 200
    for _ in range(limit - 1):
        assert (await _attempt(client, email)).status_code == 401
    assert (await _attempt(client, email, PASSWORD)).status_code == 200


async def test_address_limit_covers_many_accounts(
    client: httpx.AsyncClient, world: World, redis_client: redis.Redis
) -> None:
    limit = world.settings.auth_login_max_attempts * ADDRESS_FACTOR
    # pre-load the address counter (as if many different accounts had been tried from here)
    redis_client.set(LoginLimiter.address_key("127.0.0.1"), limit, ex=60)
    blocked = await _attempt(client, world.emails["admin"], PASSWORD)
    assert blocked.status_code == 429
    assert 0 < int(blocked.headers["Retry-After"]) <= 60


async def test_counters_hold_no_email_address(
    client: httpx.AsyncClient, world: World, redis_client: redis.Redis
) -> None:
    await _attempt(client, world.emails["viewer"])
    keys = redis_client.keys("*")
    assert keys
    assert all("@" not in key and "example" not in key for key in keys)
    assert all(0 < redis_client.ttl(key) <= world.settings.auth_login_window_seconds for key in keys)


async def test_guessing_from_one_address_does_not_lock_the_account_elsewhere(app: object, world: World) -> None:
    """Drill 9: five wrong passwords locked any known account (the admin's too) for everyone."""
    email = world.emails["admin"]
    limit = world.settings.auth_login_max_attempts

    def client_at(address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 40000))  # type: ignore[arg-type]
        return httpx.AsyncClient(transport=transport, base_url="http://test")

    async with client_at("203.0.113.9") as attacker, client_at("198.51.100.20") as owner:
        for _ in range(limit):
            assert (await _attempt(attacker, email)).status_code == 401
        assert (await _attempt(attacker, email, PASSWORD)).status_code == 429  # the guesser is stopped
        assert (await _attempt(owner, email, PASSWORD)).status_code == 200  # the owner is not
