"""Deployment-wide protection of the gateway, against a local HTTP server and a real Redis:
caps across processes, the shared cooldown after a 429, and failing closed without Redis."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from datetime import date
from multiprocessing.synchronize import Barrier

import httpx
import pytest

from callaudit.embedded import EmbeddedRedis
from callaudit.settings import load_settings
from resources.crm import CrmCapUnavailable, CrmClient, CrmConfig
from resources.redis import Holder, LeaseSemaphore, create_async_redis
from tests.fixtures.standins.crm import LocalGateway, details_body

SPAWN = multiprocessing.get_context("spawn")
DAY = date(2025, 9, 25)


# --- code run in spawned processes (module level so that `spawn` can import it) --------------------


def _crowd(redis_url: str, base_url: str, callers: int, barrier: Barrier) -> None:
    """`callers` concurrent fiche fetches and two sales searches, configured like the API is."""

    async def main() -> None:
        settings = load_settings(
            fiche_api_base_url=base_url,
            fiche_api_auth_token="t0ken",
            fiche_fetch_concurrency=3,
            fiche_sales_search_concurrency=1,
        )
        redis = create_async_redis(redis_url)
        async with CrmClient.from_settings(settings, redis) as crm:
            fetches = [crm.fiche_details(str(1000 + n)) for n in range(callers)]
            searches = [crm.search_sales(DAY, DAY, include_recordings=False) for _ in range(2)]
            await asyncio.gather(*fetches, *searches)
        await redis.aclose()

    barrier.wait(timeout=30)  # both processes are ready: start contending together
    asyncio.run(main())


# --- tests ------------------------------------------------------------------------------------------


def test_caps_hold_across_processes(redis_url, redis_client):
    with LocalGateway(latency=0.15) as gateway:
        barrier = SPAWN.Barrier(2)
        processes = [SPAWN.Process(target=_crowd, args=(redis_url, gateway.base_url, 6, barrier)) for _ in range(2)]
        for process in processes:
            process.start()
        for process in processes:
            process.join(timeout=60)
        assert [process.exitcode for process in processes] == [0, 0]

    statuses = [a.status for a in gateway.arrivals]
    assert statuses.count(200) == len(statuses) == 2 * (6 + 2)
    assert gateway.peak["details"] == 3  # FICHE_FETCH_CONCURRENCY, reached and never exceeded
    assert gateway.peak["search"] == 1  # FICHE_SALES_SEARCH_CONCURRENCY
    assert redis_client.zcard("sem:{crm_fiche_fetch}:holders") == 0  # every slot was given back
    assert redis_client.zcard("sem:{crm_search}:holders") == 0


async def test_one_429_slows_every_caller(redis_url, redis_client):
    config = CrmConfig(backoff_base=0.01, backoff_cap=0.05)
    with LocalGateway(throttle=1, retry_after="1") as gateway:
        first_redis, second_redis = create_async_redis(redis_url), create_async_redis(redis_url)
        first = CrmClient(gateway.base_url, first_redis, config=config)
        second = CrmClient(gateway.base_url, second_redis, config=config)
        throttled = asyncio.create_task(first.fiche_details("1"))
        for _ in range(1000):  # until the first caller got its 429 and recorded the cooldown
            if redis_client.exists("crm:cooldown"):
                break
            await asyncio.sleep(0.005)
        else:
            pytest.fail("no cooldown recorded after the 429")
        await second.fiche_details("2")
        await throttled
        for client in (first, second):
            await client.aclose()
        for redis in (first_redis, second_redis):
            await redis.aclose()

    [throttle, *later] = gateway.arrivals
    assert throttle.status == 429
    assert sorted(a.path for a in later) == ["/api/fiches/by-id/1", "/api/fiches/by-id/2"]
    # Neither the throttled caller nor the other one reached the gateway again before Retry-After passed.
    assert all(a.at - throttle.at >= 0.99 for a in later)
    assert first.metrics.throttled == 1
    assert second.metrics.cooldown_waits == 1
    assert second.metrics.throttled == 0


@pytest.fixture
def stopped_redis_url(tmp_path):
    server = EmbeddedRedis(tmp_path)
    server.start()
    url = server.url()
    server.stop()
    assert url is not None
    return url


@pytest.mark.parametrize("where", ["stopped", "missing-socket"])
async def test_fails_closed_without_redis(request, tmp_path, where):
    if where == "stopped":
        url = request.getfixturevalue("stopped_redis_url")
    else:
        url = f"unix://{tmp_path}/no-such-redis.sock"
    requests: list[httpx.Request] = []

    def gateway(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, json=details_body("1"))

    redis = create_async_redis(url)
    async with CrmClient("https://gw.example", redis, transport=httpx.MockTransport(gateway)) as crm:
        started = time.monotonic()
        with pytest.raises(CrmCapUnavailable, match="failing closed") as caught:
            await crm.fiche_details("1")
        with pytest.raises(CrmCapUnavailable):
            await crm.search_sales(DAY, DAY, include_recordings=True)
        assert time.monotonic() - started < 10
        assert requests == []  # the gateway saw nothing
        assert str(tmp_path) not in str(caught.value)
        assert await crm.health() is True  # the probe does not need Redis
    await redis.aclose()


async def test_a_slot_outlives_the_request_it_covers(redis_url, redis_client):
    """A holder that dies mid-request keeps its slot until the request must have ended (its timeout):
    the gateway may still be working on it, freeing the slot earlier would exceed the cap."""
    timeout = 200.0
    redis = create_async_redis(redis_url)
    config = CrmConfig(details_timeout=timeout, details_budget=2 * timeout)
    try:
        with LocalGateway(latency=0.5) as gateway:
            async with CrmClient(gateway.base_url, redis, config=config) as crm:
                call = asyncio.create_task(crm.fiche_details("1001"))
                semaphore = LeaseSemaphore(redis, "crm_fiche_fetch", 3)
                holders: list[Holder] = []
                while not holders and not call.done():
                    holders = await semaphore.holders()
                await call
    finally:
        await redis.aclose()
    assert holders
    assert min(h.expires_in for h in holders) >= timeout
