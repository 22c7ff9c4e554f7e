"""The Redis package's pure helpers: URL handling, names, stream ids, payload encoding, back-off."""

from __future__ import annotations

import asyncio
import time

import pytest
from pydantic import SecretStr

from resources.redis import create_async_redis, create_sync_redis, encode_payload, parse_stream_id, stream_key
from resources.redis._support import Backoff


@pytest.mark.parametrize("url", ["http://user:hunter2@cache:6379/0", "hunter2", "redis+sentinel://:hunter2@h/0"])
def test_unsupported_urls_are_rejected_without_echoing_them(url):
    with pytest.raises(ValueError, match="unsupported Redis URL scheme") as caught:
        create_sync_redis(url)
    assert "hunter2" not in str(caught.value)


async def test_clients_get_short_timeouts_and_text_responses():
    client = create_async_redis(SecretStr("redis://:pw@127.0.0.1:6390/2"), socket_timeout=12)
    options = client.connection_pool.connection_kwargs
    assert options["decode_responses"] is True
    assert options["socket_timeout"] == 12
    assert options["socket_connect_timeout"] == 2
    assert options["health_check_interval"] == 30
    assert options["db"] == 2
    await client.aclose()


async def test_more_concurrent_commands_than_connections_wait_for_one_instead_of_failing(redis_url):
    """redis-py's default pool raises `MaxConnectionsError` past its cap; a run's hundreds of claims
    taken at once must queue for a connection instead."""
    client = create_async_redis(redis_url, max_connections=4)
    try:
        await asyncio.gather(*(client.set(f"test:pool:{n}", n) for n in range(200)))
        assert await client.mget([f"test:pool:{n}" for n in range(200)]) == [str(n) for n in range(200)]
        assert client.connection_pool.max_connections == 4
    finally:
        await client.delete(*(f"test:pool:{n}" for n in range(200)))
        await client.aclose()


def test_sync_client_from_unix_socket_url():
    client = create_sync_redis("unix:///run/redis/redis.sock?db=3")
    assert client.connection_pool.connection_kwargs["path"] == "/run/redis/redis.sock"
    assert client.connection_pool.connection_kwargs["db"] == 3
    client.close()


@pytest.mark.parametrize(
    ("value", "parsed"), [("1-0", (1, 0)), ("1732540000000-15", (1732540000000, 15)), ("7", (7, 0))]
)
def test_parse_stream_id(value, parsed):
    assert parse_stream_id(value) == parsed


@pytest.mark.parametrize("value", ["", "-", "1-", "a-1", "1-2-3", " 1-0", "$", "+", "1" * 21])
def test_parse_stream_id_rejects_other_text(value):
    with pytest.raises(ValueError, match="invalid stream id"):
        parse_stream_id(value)


def test_stream_key():
    assert stream_key("run:0b6c-4f.x_y") == "sse:run:0b6c-4f.x_y"


def test_encode_payload_is_compact_and_keeps_unicode():
    assert encode_payload({"a": [1, 2], "t": "été"}) == '{"a":[1,2],"t":"été"}'


def test_backoff_never_sleeps_past_the_deadline():
    backoff = Backoff(0.2, initial=0.05, cap=0.1)
    started = time.monotonic()
    delays = []
    while (delay := backoff.next_delay()) is not None:
        assert delay <= 0.1
        delays.append(delay)
        time.sleep(delay)
    assert 0.2 <= time.monotonic() - started < 0.35
    assert len(delays) >= 2


def test_zero_wait_means_a_single_attempt():
    assert Backoff(0).next_delay() is None
