"""Shared fixtures: real embedded PostgreSQL and Redis for the whole session, isolated per test.

Set CALLAUDIT_TEST_DATABASE_URL / CALLAUDIT_TEST_REDIS_URL to run against servers of your own; by
default each test session starts its own embedded servers in a temporary directory.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis
from alembic import command
from hypothesis import HealthCheck, settings
from sqlalchemy import Engine, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

from callaudit.embedded import EmbeddedPostgres, EmbeddedRedis
from callaudit.migrate import alembic_config
from resources.database import create_api_engine, create_sync_engine
from resources.redis import create_async_redis

pytest_plugins = [
    "tests.fixtures.audit_day",
    "tests.fixtures.crm_simulator",
    "tests.fixtures.outbox",
]

# Generation speed and per-example deadlines measure the machine, not the code: on CI's 2 shared
# cores a property test must not fail because a neighbour process took the CPU.
settings.register_profile("callaudit", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("callaudit")


@pytest.fixture(scope="session")
def services_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("services")


@pytest.fixture(scope="session")
def embedded_postgres(services_home: Path) -> Iterator[EmbeddedPostgres | None]:
    if os.environ.get("CALLAUDIT_TEST_DATABASE_URL"):
        yield None
        return
    server = EmbeddedPostgres(services_home)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def database_url(embedded_postgres: EmbeddedPostgres | None) -> str:
    """A migrated, empty application database for the session."""
    url = os.environ.get("CALLAUDIT_TEST_DATABASE_URL") or (embedded_postgres and embedded_postgres.url())
    assert url, "no test database"
    command.upgrade(alembic_config(url), "head")
    return url


@pytest.fixture(scope="session")
def sync_engine(database_url: str) -> Iterator[Engine]:
    engine = create_sync_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def db_session(sync_engine: Engine) -> Iterator[Session]:
    """A session inside a transaction rolled back after the test; commits become savepoints."""
    with sync_engine.connect() as connection:
        transaction = connection.begin()
        session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
        try:
            yield session
        finally:
            session.close()
            transaction.rollback()


@pytest.fixture
async def async_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_api_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def async_db_session(async_engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """The async twin of `db_session`, for API tests: everything rolls back after the test."""
    async with async_engine.connect() as connection:
        transaction = await connection.begin()
        session = AsyncSession(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
        try:
            yield session
        finally:
            await session.close()
            await transaction.rollback()


@pytest.fixture(scope="session")
def embedded_redis(services_home: Path) -> Iterator[EmbeddedRedis | None]:
    if os.environ.get("CALLAUDIT_TEST_REDIS_URL"):
        yield None
        return
    server = EmbeddedRedis(services_home)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_url(embedded_redis: EmbeddedRedis | None) -> str:
    url = os.environ.get("CALLAUDIT_TEST_REDIS_URL") or (embedded_redis and embedded_redis.url())
    assert url, "no test redis"
    return url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A client on a clean database; flushed after the test so tests never see each other's keys."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
async def aredis(redis_url: str, redis_client: redis.Redis) -> AsyncIterator[aioredis.Redis]:
    """The async twin of `redis_client` (same flushed database), built like the product builds it."""
    client = create_async_redis(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def clean_tables(sync_engine: Engine) -> Iterator[None]:
    """For tests whose code commits through its own engine: truncate app tables afterwards."""
    yield
    from domain.models import Base

    names = ", ".join(f'"{t.schema}"."{t.name}"' if t.schema else f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with sync_engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
